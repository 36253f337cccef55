import NIOCore

/// Flow control: session windows and link credit.
extension ConnectionStateMachine {

    func linkFlowFrame(session: SessionState, link: LinkState, echo: Bool = false) -> AMQPFrame {
        let flow = AMQPFlow(
            nextIncomingID: session.remoteChannel == nil ? nil : session.nextIncomingID,
            incomingWindow: session.incomingWindow, nextOutgoingID: session.nextOutgoingID,
            outgoingWindow: session.outgoingWindow, handle: link.localHandle, deliveryCount: link.deliveryCount,
            linkCredit: link.linkCredit, available: link.role == .sender ? UInt32(link.pendingSends.count - link.pendingHead) : nil,
            drain: link.drain, echo: echo, properties: nil)
        return AMQPFrame(channel: session.localChannel, body: .amqp(.flow(flow), payload: nil))
    }

    func sessionFlowFrame(session: SessionState) -> AMQPFrame {
        let flow = AMQPFlow(
            nextIncomingID: session.nextIncomingID, incomingWindow: session.incomingWindow,
            nextOutgoingID: session.nextOutgoingID, outgoingWindow: session.outgoingWindow, handle: nil,
            deliveryCount: nil, linkCredit: nil, available: nil, drain: false, echo: false, properties: nil)
        return AMQPFrame(channel: session.localChannel, body: .amqp(.flow(flow), payload: nil))
    }

    /// A receiver grants `credit` more deliveries.
    package mutating func addCredit(_ id: LinkID, credit: UInt32) -> [EngineAction] {
        guard var session = sessions[id.channel], var link = session.links[id.handle], link.role == .receiver,
            link.phase == .attached, credit > 0
        else { return [] }
        link.linkCredit = link.linkCredit &+ credit
        session.links[id.handle] = link
        sessions[id.channel] = session
        return [.writeFrame(linkFlowFrame(session: session, link: link)), .flush]
    }

    mutating func flowReceived(_ flow: AMQPFlow, channel: UInt16) -> [EngineAction] {
        guard var session = sessions[channel] else { return [] }
        // The window the peer still grants this side, from its view of our transfer ids.
        let base = flow.nextIncomingID ?? 0
        session.remoteIncomingWindow = base &+ flow.incomingWindow &- session.nextOutgoingID
        if session.remoteIncomingWindow > flow.incomingWindow &+ base { session.remoteIncomingWindow = 0 }
        session.remoteOutgoingWindow = flow.outgoingWindow
        var actions: [EngineAction] = []
        if let remoteHandle = flow.handle {
            guard let handle = session.remoteHandles[remoteHandle], var link = session.links[handle] else {
                sessions[channel] = session
                return protocolError("flow for handle \(remoteHandle), which is not attached")
            }
            if link.role == .sender {
                let peerCount = flow.deliveryCount ?? 0
                let credit = flow.linkCredit ?? 0
                link.linkCredit = peerCount &+ credit &- link.deliveryCount
                if link.linkCredit > credit { link.linkCredit = 0 }  // the peer's count ran ahead of ours
                link.drain = flow.drain
                session.links[handle] = link
                sessions[channel] = session
                actions += pump(channel: channel, handle: handle)
                session = sessions[channel]!
                link = session.links[handle]!
                if link.drain && !link.hasPendingSends && link.linkCredit > 0 {
                    link.deliveryCount &+= link.linkCredit
                    link.linkCredit = 0
                    session.links[handle] = link
                    actions += [.writeFrame(linkFlowFrame(session: session, link: link)), .flush]
                } else if flow.echo {
                    actions += [.writeFrame(linkFlowFrame(session: session, link: link)), .flush]
                }
                actions.append(.creditChanged(LinkID(channel: channel, handle: handle), credit: link.linkCredit))
            } else {
                if let count = flow.deliveryCount {
                    // Credit left = what was granted minus what the sender says it used since.
                    let used = count &- link.deliveryCount
                    link.linkCredit = used > link.linkCredit ? 0 : link.linkCredit - used
                    link.deliveryCount = count
                }
                session.links[handle] = link
                if flow.echo { actions += [.writeFrame(linkFlowFrame(session: session, link: link)), .flush] }
            }
        } else if flow.echo {
            actions += [.writeFrame(sessionFlowFrame(session: session)), .flush]
        }
        sessions[channel] = session
        // The session window may have opened for every sender of the session.
        for handle in session.links.keys.sorted() where session.links[handle]?.role == .sender {
            actions += pump(channel: channel, handle: handle)
        }
        return actions
    }
}
