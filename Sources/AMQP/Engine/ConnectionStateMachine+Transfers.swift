import NIOCore

/// Transfers: queued sends split at the peer's max-frame-size, deliveries joined from their frames, dispositions.
extension ConnectionStateMachine {

    /// Queues a message on a sending link; it goes out as credit and the session window allow.
    package mutating func send(_ token: RequestToken, link id: LinkID, payload: ByteBuffer, messageFormat: UInt32, settled: Bool) -> [EngineAction] {
        guard var session = sessions[id.channel], var link = session.links[id.handle], link.role == .sender, link.phase == .attached else {
            return [.sendFailed(token, AMQPError(code: .linkDetached, message: "the link is not attached"))]
        }
        if let limit = link.peerMaxMessageSize, limit > 0, UInt64(payload.readableBytes) > limit {
            return [.sendFailed(token, AMQPError(code: .notAccepted, message: "the message is \(payload.readableBytes) bytes; link \(link.name) takes at most \(limit)", condition: "amqp:link:message-size-exceeded"))]
        }
        let presettled = link.senderSettleMode == .settled || (link.senderSettleMode == .mixed && settled)
        link.pendingSends.append(.init(token: token, payload: payload, messageFormat: messageFormat, settled: presettled))
        session.links[id.handle] = link
        sessions[id.channel] = session
        return pump(channel: id.channel, handle: id.handle)
    }

    /// Writes as many queued transfer frames of one link as credit and the session window allow.
    mutating func pump(channel: UInt16, handle: UInt32) -> [EngineAction] {
        guard var session = sessions[channel], var link = session.links[handle], link.phase == .attached else { return [] }
        var actions: [EngineAction] = []
        let frameLimit = Int(outgoingMaxFrameSize)
        while link.hasPendingSends, session.remoteIncomingWindow > 0 {
            var pending = link.pendingSends[link.pendingHead]
            var transfer: AMQPTransfer
            if pending.deliveryID == nil {
                guard link.linkCredit > 0 else { break }
                link.linkCredit -= 1
                link.deliveryCount &+= 1
                let deliveryID = session.nextDeliveryID
                session.nextDeliveryID &+= 1
                pending.deliveryID = deliveryID
                let tag = withUnsafeBytes(of: link.nextTag.bigEndian) { Array($0) }
                link.nextTag &+= 1
                transfer = AMQPTransfer(
                    handle: handle, deliveryID: deliveryID, deliveryTag: tag, messageFormat: pending.messageFormat,
                    settled: pending.settled, more: false)
            } else {
                transfer = AMQPTransfer(handle: handle, deliveryID: nil, deliveryTag: nil, messageFormat: nil, settled: nil, more: false)
            }
            let overhead = 8 + AMQPPerformative.transfer(transfer).described.encodedSize + 1
            let room = max(frameLimit - overhead, 1)
            let remaining = pending.payload.readableBytes
            let chunkSize = min(room, remaining)
            let chunk = pending.payload.readSlice(length: chunkSize)!
            let isLast = pending.payload.readableBytes == 0
            transfer.more = !isLast
            session.remoteIncomingWindow -= 1
            session.nextOutgoingID &+= 1
            actions.append(.writeFrame(AMQPFrame(channel: channel, body: .amqp(.transfer(transfer), payload: chunk))))
            if isLast {
                link.popPendingSend()
                if pending.settled {
                    actions.append(.sendSettled(pending.token, nil))
                } else {
                    link.unsettled[pending.deliveryID!] = pending.token
                }
            } else {
                link.pendingSends[link.pendingHead] = pending
            }
        }
        session.links[handle] = link
        sessions[channel] = session
        if !actions.isEmpty { actions.append(.flush) }
        return actions
    }

    mutating func transferReceived(_ transfer: AMQPTransfer, payload: ByteBuffer?, channel: UInt16) -> [EngineAction] {
        guard var session = sessions[channel] else { return [] }
        guard let handle = session.remoteHandles[transfer.handle], var link = session.links[handle], link.role == .receiver else {
            return protocolError("transfer on handle \(transfer.handle), which is not an attached receiving link")
        }
        session.nextIncomingID &+= 1
        var actions: [EngineAction] = []
        if session.incomingWindow > 0 { session.incomingWindow -= 1 }
        if session.incomingWindow <= session.configuredIncomingWindow / 2 {
            session.incomingWindow = session.configuredIncomingWindow
            actions += [.writeFrame(sessionFlowFrame(session: session))]
        }
        let id = LinkID(channel: channel, handle: handle)
        if transfer.aborted {
            link.partial = nil
            session.links[handle] = link
            sessions[channel] = session
            return actions.isEmpty ? [] : actions + [.flush]
        }
        var partial: LinkState.PartialDelivery
        if let existing = link.partial {
            if let deliveryID = transfer.deliveryID, deliveryID != existing.deliveryID {
                sessions[channel] = session
                return protocolError("transfer continues delivery \(existing.deliveryID) with delivery id \(deliveryID)")
            }
            partial = existing
        } else {
            guard let deliveryID = transfer.deliveryID else {
                sessions[channel] = session
                return protocolError("the first transfer of a delivery on link \(link.name) has no delivery id")
            }
            if link.linkCredit > 0 { link.linkCredit -= 1 }
            link.deliveryCount &+= 1
            partial = .init(
                deliveryID: deliveryID, deliveryTag: transfer.deliveryTag ?? [], messageFormat: transfer.messageFormat ?? 0,
                settled: transfer.settled ?? false, payload: ByteBuffer())
        }
        if partial.discarding {
            // The rest of a delivery already rejected for its size.
            link.partial = transfer.more ? partial : nil
            session.links[handle] = link
            sessions[channel] = session
            return actions.isEmpty ? [] : actions + [.flush]
        }
        if var payload {
            if let limit = link.localMaxMessageSize, limit > 0,
                UInt64(partial.payload.readableBytes + payload.readableBytes) > limit
            {
                // Rejected and settled, as Event Hubs does: the link stays up for the next message.
                partial.discarding = true
                partial.payload = ByteBuffer()
                link.partial = transfer.more ? partial : nil
                session.links[handle] = link
                sessions[channel] = session
                let condition = AMQPErrorCondition(
                    condition: "amqp:link:message-size-exceeded",
                    description: "The received message (delivery-id:\(partial.deliveryID)) exceeds the limit (\(limit) bytes) currently allowed on the link.",
                    info: nil)
                let rejection = AMQPDisposition(
                    role: .receiver, first: partial.deliveryID, last: nil, settled: true, state: .rejected(condition), batchable: false)
                return actions + [.writeFrame(AMQPFrame(channel: channel, body: .amqp(.disposition(rejection), payload: nil))), .flush]
            }
            if partial.payload.readableBytes == 0 && !transfer.more {
                partial.payload = payload
            } else {
                partial.payload.writeBuffer(&payload)
            }
        }
        if transfer.settled == true { partial.settled = true }
        if transfer.more {
            link.partial = partial
        } else {
            link.partial = nil
            actions.append(.delivered(id, AMQPDelivery(
                deliveryID: partial.deliveryID, deliveryTag: partial.deliveryTag, messageFormat: partial.messageFormat,
                settled: partial.settled || link.senderSettleMode == .settled, payload: partial.payload)))
        }
        session.links[handle] = link
        sessions[channel] = session
        if actions.contains(where: { if case .writeFrame = $0 { return true } else { return false } }) {
            actions.append(.flush)
        }
        return actions
    }

    /// Settles (or just updates) a delivery this side received.
    package mutating func dispose(_ id: LinkID, deliveryID: UInt32, state: AMQPDeliveryState?, settled: Bool) -> [EngineAction] {
        guard sessions[id.channel]?.links[id.handle] != nil else { return [] }
        let disposition = AMQPDisposition(role: .receiver, first: deliveryID, last: nil, settled: settled, state: state, batchable: false)
        return [.writeFrame(AMQPFrame(channel: id.channel, body: .amqp(.disposition(disposition), payload: nil))), .flush]
    }

    mutating func dispositionReceived(_ disposition: AMQPDisposition, channel: UInt16) -> [EngineAction] {
        guard var session = sessions[channel] else { return [] }
        // The peer as receiver settles what this side sent; dispositions from a sender concern our receivers,
        // whose deliveries this side already settles itself.
        guard disposition.role == .receiver else { return [] }
        let last = disposition.last ?? disposition.first
        guard last &- disposition.first < 1_000_000 else { return protocolError("disposition range \(disposition.first)...\(last) is implausibly large") }
        var actions: [EngineAction] = []
        var needsSettle = false
        for handle in session.links.keys.sorted() {
            guard var link = session.links[handle], link.role == .sender, !link.unsettled.isEmpty else { continue }
            var id = disposition.first
            while true {
                if let token = link.unsettled[id] {
                    let terminal: Bool
                    switch disposition.state {
                    case .accepted?, .rejected?, .released?, .modified?: terminal = true
                    default: terminal = disposition.settled
                    }
                    if terminal {
                        link.unsettled.removeValue(forKey: id)
                        actions.append(.sendSettled(token, disposition.state))
                        if !disposition.settled { needsSettle = true }
                    }
                }
                if id == last { break }
                id &+= 1
            }
            session.links[handle] = link
        }
        sessions[channel] = session
        if needsSettle {
            let settle = AMQPDisposition(role: .sender, first: disposition.first, last: disposition.last, settled: true, state: disposition.state, batchable: false)
            actions += [.writeFrame(AMQPFrame(channel: channel, body: .amqp(.disposition(settle), payload: nil))), .flush]
        }
        return actions
    }
}
