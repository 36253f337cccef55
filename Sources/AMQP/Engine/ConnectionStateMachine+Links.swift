import NIOCore

/// Links: attach from either side, refusals, detach.
extension ConnectionStateMachine {

    /// Attaches a link this side starts. `template` holds everything but the handle; a receiver grants
    /// `initialCredit` once the peer answers.
    package mutating func attach(_ token: RequestToken, channel: UInt16, template: AMQPAttach, initialCredit: UInt32) -> [EngineAction] {
        guard phase == .opened, var session = sessions[channel], session.phase == .mapped else {
            return [.linkAttachFailed(token, AMQPError(code: .sessionEnded, message: "the session of link \(template.name) is not open"))]
        }
        guard session.localHandle(named: template.name, role: template.role) == nil else {
            return [.linkAttachFailed(token, AMQPError(code: .protocolViolation, message: "a link named \(template.name) is already attached on this session"))]
        }
        let handle = session.allocateHandle()
        var attach = template
        attach.handle = handle
        if attach.role == .sender, attach.initialDeliveryCount == nil { attach.initialDeliveryCount = 0 }
        var link = LinkState(
            name: attach.name, role: attach.role, localHandle: handle, phase: .attachSent(token),
            senderSettleMode: attach.sndSettleMode, receiverSettleMode: attach.rcvSettleMode)
        link.initialCredit = initialCredit
        link.localMaxMessageSize = attach.maxMessageSize
        session.links[handle] = link
        sessions[channel] = session
        return [.writeFrame(AMQPFrame(channel: channel, body: .amqp(.attach(attach), payload: nil))), .flush]
    }

    /// Answers a link the peer attached first (see ``EngineAction/incomingAttach(_:_:)``).
    package mutating func acceptIncomingAttach(_ id: LinkID, reply template: AMQPAttach, initialCredit: UInt32) -> [EngineAction] {
        guard var session = sessions[id.channel], var link = session.links[id.handle], link.phase == .incoming else { return [] }
        var attach = template
        attach.handle = id.handle
        attach.name = link.name
        attach.role = link.role
        if link.role == .sender, attach.initialDeliveryCount == nil { attach.initialDeliveryCount = 0 }
        link.phase = .attached
        link.senderSettleMode = attach.sndSettleMode
        link.receiverSettleMode = attach.rcvSettleMode
        link.localMaxMessageSize = attach.maxMessageSize
        link.initialCredit = initialCredit
        var actions: [EngineAction] = [.writeFrame(AMQPFrame(channel: id.channel, body: .amqp(.attach(attach), payload: nil)))]
        if link.role == .receiver, initialCredit > 0 {
            link.linkCredit = initialCredit
            session.links[id.handle] = link
            actions.append(.writeFrame(linkFlowFrame(session: session, link: link)))
        } else {
            session.links[id.handle] = link
        }
        sessions[id.channel] = session
        actions.append(.flush)
        return actions
    }

    /// Refuses a link the peer attached first: an attach without terminus, then a detach naming why.
    package mutating func rejectIncomingAttach(_ id: LinkID, error: AMQPErrorCondition) -> [EngineAction] {
        guard var session = sessions[id.channel], let link = session.links[id.handle], link.phase == .incoming else { return [] }
        let attach = AMQPAttach(name: link.name, handle: id.handle, role: link.role, source: nil, target: nil)
        session.links.removeValue(forKey: id.handle)
        if let remote = link.remoteHandle { session.remoteHandles.removeValue(forKey: remote) }
        sessions[id.channel] = session
        return [
            .writeFrame(AMQPFrame(channel: id.channel, body: .amqp(.attach(attach), payload: nil))),
            .writeFrame(AMQPFrame(channel: id.channel, body: .amqp(.detach(AMQPDetach(handle: id.handle, closed: true, error: error)), payload: nil))),
            .flush,
        ]
    }

    mutating func attachReceived(_ attach: AMQPAttach, channel: UInt16) -> [EngineAction] {
        guard var session = sessions[channel] else { return [] }
        guard session.remoteHandles[attach.handle] == nil else {
            return protocolError("attach of \(attach.name) reuses handle \(attach.handle), which is in use")
        }
        let ourRole: AMQPRole = attach.role == .sender ? .receiver : .sender
        if let handle = session.localHandle(named: attach.name, role: ourRole), var link = session.links[handle],
            case .attachSent(let token) = link.phase
        {
            link.remoteHandle = attach.handle
            link.remoteAttach = attach
            session.remoteHandles[attach.handle] = handle
            let id = LinkID(channel: channel, handle: handle)
            let refused = ourRole == .receiver ? attach.source == nil : attach.target == nil
            if refused {
                link.phase = .refused(token)
                session.links[handle] = link
                sessions[channel] = session
                return []
            }
            link.phase = .attached
            var actions: [EngineAction] = []
            if ourRole == .receiver {
                link.deliveryCount = attach.initialDeliveryCount ?? 0
                if link.initialCredit > 0 {
                    link.linkCredit = link.initialCredit
                    actions += [.writeFrame(linkFlowFrame(session: session, link: link)), .flush]
                }
            } else {
                link.peerMaxMessageSize = attach.maxMessageSize
            }
            session.links[handle] = link
            sessions[channel] = session
            actions.append(.linkAttached(token, id, remote: attach))
            return actions
        }
        // The peer starts this link; the user answers with accept or reject.
        let handle = session.allocateHandle()
        var link = LinkState(
            name: attach.name, role: ourRole, localHandle: handle, phase: .incoming,
            senderSettleMode: attach.sndSettleMode, receiverSettleMode: attach.rcvSettleMode)
        link.remoteHandle = attach.handle
        link.remoteAttach = attach
        if ourRole == .receiver {
            link.deliveryCount = attach.initialDeliveryCount ?? 0
        } else {
            link.peerMaxMessageSize = attach.maxMessageSize
        }
        session.links[handle] = link
        session.remoteHandles[attach.handle] = handle
        sessions[channel] = session
        return [.incomingAttach(LinkID(channel: channel, handle: handle), attach)]
    }

    /// Detaches a link from this side; the peer's detach completes `token`.
    package mutating func detach(_ token: RequestToken?, link id: LinkID, closed: Bool, error: AMQPErrorCondition?) -> [EngineAction] {
        guard var session = sessions[id.channel], var link = session.links[id.handle] else {
            return token.map { [.detachCompleted($0)] } ?? []
        }
        switch link.phase {
        case .attached, .incoming:
            break
        default:
            return token.map { [.detachCompleted($0)] } ?? []
        }
        link.phase = .detachSent(token)
        session.links[id.handle] = link
        sessions[id.channel] = session
        let detach = AMQPDetach(handle: id.handle, closed: closed, error: error)
        var actions: [EngineAction] = [.writeFrame(AMQPFrame(channel: id.channel, body: .amqp(.detach(detach), payload: nil))), .flush]
        let failure = AMQPError(code: .linkDetached, message: "link \(link.name) was detached by this side")
        for pending in link.waitingTokens { actions.append(.sendFailed(pending, failure)) }
        link.pendingSends.removeAll()
        link.pendingHead = 0
        link.unsettled.removeAll()
        session.links[id.handle] = link
        sessions[id.channel] = session
        return actions
    }

    mutating func detachReceived(_ detach: AMQPDetach, channel: UInt16) -> [EngineAction] {
        guard var session = sessions[channel], let handle = session.remoteHandles.removeValue(forKey: detach.handle),
            let link = session.links.removeValue(forKey: handle)
        else {
            return protocolError("detach of handle \(detach.handle), which is not attached")
        }
        sessions[channel] = session
        let id = LinkID(channel: channel, handle: handle)
        let error = detach.error.map { AMQPError.remote($0, code: .linkDetached) }
        switch link.phase {
        case .detachSent(let token):
            var actions: [EngineAction] = []
            if let token { actions.append(.detachCompleted(token)) }
            actions.append(.linkDetached(id, error))
            return actions
        case .attachSent(let token), .refused(let token):
            var actions: [EngineAction] = []
            if case .attachSent = link.phase {
                actions += [.writeFrame(AMQPFrame(channel: channel, body: .amqp(.detach(AMQPDetach(handle: handle, closed: true, error: nil)), payload: nil))), .flush]
            }
            actions.append(.linkAttachFailed(token, error ?? AMQPError(code: .linkDetached, message: "the peer refused link \(link.name)")))
            return actions
        case .attached, .incoming:
            var actions: [EngineAction] = [
                .writeFrame(AMQPFrame(channel: channel, body: .amqp(.detach(AMQPDetach(handle: handle, closed: detach.closed, error: nil)), payload: nil))),
                .flush,
            ]
            actions += failLink(link, channel: channel, error: error ?? AMQPError(code: .linkDetached, message: "the peer detached link \(link.name)"))
            return actions
        }
    }
}
