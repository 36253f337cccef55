import NIOCore

/// Sessions: begin and end, both ways; failing what waits on a session that goes away.
extension ConnectionStateMachine {

    package mutating func beginSession(_ token: RequestToken, incomingWindow: UInt32, outgoingWindow: UInt32) -> [EngineAction] {
        guard phase == .opened else {
            return [.sessionBeginFailed(token, AMQPError(code: .connectionClosed, message: "the connection is not open"))]
        }
        let channelMax = min(configuration.channelMax, remoteOpen?.channelMax ?? configuration.channelMax)
        guard let channel = (0...channelMax).first(where: { sessions[$0] == nil }) else {
            return [.sessionBeginFailed(token, AMQPError(code: .protocolViolation, message: "all \(Int(channelMax) + 1) channels are in use"))]
        }
        var session = SessionState(localChannel: channel, phase: .beginSent(token), incomingWindow: incomingWindow, outgoingWindow: outgoingWindow)
        session.nextOutgoingID = 0
        sessions[channel] = session
        let begin = AMQPBegin(
            remoteChannel: nil, nextOutgoingID: session.nextOutgoingID, incomingWindow: session.incomingWindow,
            outgoingWindow: outgoingWindow, handleMax: .max, offeredCapabilities: nil, desiredCapabilities: nil, properties: nil)
        return [.writeFrame(AMQPFrame(channel: channel, body: .amqp(.begin(begin), payload: nil))), .flush]
    }

    package mutating func endSession(_ channel: UInt16, error: AMQPErrorCondition?) -> [EngineAction] {
        guard var session = sessions[channel], session.phase == .mapped else { return [] }
        session.phase = .endSent
        sessions[channel] = session
        return [.writeFrame(AMQPFrame(channel: channel, body: .amqp(.end(AMQPEnd(error: error)), payload: nil))), .flush]
    }

    mutating func sessionFrameReceived(_ performative: AMQPPerformative, channel remoteChannel: UInt16, payload: ByteBuffer?) -> [EngineAction] {
        if case .begin(let begin) = performative {
            return beginReceived(begin, remoteChannel: remoteChannel)
        }
        guard let local = remoteChannels[remoteChannel], sessions[local] != nil else {
            return protocolError("\(performative.name) on channel \(remoteChannel), which has no session")
        }
        switch performative {
        case .end(let end): return endReceived(end, channel: local)
        case .attach(let attach): return attachReceived(attach, channel: local)
        case .flow(let flow): return flowReceived(flow, channel: local)
        case .transfer(let transfer): return transferReceived(transfer, payload: payload, channel: local)
        case .disposition(let disposition): return dispositionReceived(disposition, channel: local)
        case .detach(let detach): return detachReceived(detach, channel: local)
        case .open, .begin, .close: return []  // handled above
        }
    }

    mutating func beginReceived(_ begin: AMQPBegin, remoteChannel: UInt16) -> [EngineAction] {
        guard remoteChannels[remoteChannel] == nil else { return protocolError("begin on channel \(remoteChannel), which already has a session") }
        if let answered = begin.remoteChannel {
            // The answer to a begin this side sent.
            guard var session = sessions[answered], case .beginSent(let token) = session.phase else {
                return protocolError("begin answering channel \(answered), where no begin was sent")
            }
            session.phase = .mapped
            session.remoteChannel = remoteChannel
            session.nextIncomingID = begin.nextOutgoingID
            session.remoteIncomingWindow = begin.incomingWindow
            session.remoteOutgoingWindow = begin.outgoingWindow
            session.remoteHandleMax = begin.handleMax
            sessions[answered] = session
            remoteChannels[remoteChannel] = answered
            return [.sessionBegun(token, channel: answered)]
        }
        // The peer begins a session: answer on the lowest free channel.
        let channelMax = min(configuration.channelMax, remoteOpen?.channelMax ?? configuration.channelMax)
        guard let channel = (0...channelMax).first(where: { sessions[$0] == nil }) else {
            return protocolError("no free channel for the peer's session")
        }
        var session = SessionState(localChannel: channel, phase: .mapped, incomingWindow: 5000, outgoingWindow: 65535)
        session.remoteChannel = remoteChannel
        session.nextOutgoingID = 1
        session.nextIncomingID = begin.nextOutgoingID
        session.remoteIncomingWindow = begin.incomingWindow
        session.remoteOutgoingWindow = begin.outgoingWindow
        session.remoteHandleMax = begin.handleMax
        sessions[channel] = session
        remoteChannels[remoteChannel] = channel
        let answer = AMQPBegin(
            remoteChannel: remoteChannel, nextOutgoingID: session.nextOutgoingID, incomingWindow: session.incomingWindow,
            outgoingWindow: session.outgoingWindow, handleMax: 255, offeredCapabilities: nil, desiredCapabilities: nil,
            properties: nil)
        return [.writeFrame(AMQPFrame(channel: channel, body: .amqp(.begin(answer), payload: nil))), .flush]
    }

    mutating func endReceived(_ end: AMQPEnd, channel: UInt16) -> [EngineAction] {
        guard let session = sessions[channel] else { return [] }
        var actions: [EngineAction] = []
        if session.phase != .endSent {
            actions += [.writeFrame(AMQPFrame(channel: channel, body: .amqp(.end(AMQPEnd(error: nil)), payload: nil))), .flush]
        }
        let error = end.error.map { AMQPError.remote($0, code: .sessionEnded) }
        actions += endSessionState(channel, error: error ?? (session.phase == .endSent ? nil : AMQPError(code: .sessionEnded, message: "the peer ended the session")))
        return actions
    }

    /// Forgets a session, failing whatever waits on it and its links.
    mutating func endSessionState(_ channel: UInt16, error: AMQPError?) -> [EngineAction] {
        guard let session = sessions.removeValue(forKey: channel) else { return [] }
        if let remote = session.remoteChannel { remoteChannels.removeValue(forKey: remote) }
        let failure = error ?? AMQPError(code: .sessionEnded, message: "the session ended")
        var actions: [EngineAction] = []
        if case .beginSent(let token) = session.phase {
            actions.append(.sessionBeginFailed(token, failure))
            return actions
        }
        for handle in session.links.keys.sorted() {
            guard let link = session.links[handle] else { continue }
            actions += failLink(link, channel: channel, error: failure)
        }
        actions.append(.sessionEnded(channel: channel, error))
        return actions
    }

    func failLink(_ link: LinkState, channel: UInt16, error: AMQPError) -> [EngineAction] {
        let id = LinkID(channel: channel, handle: link.localHandle)
        var actions: [EngineAction] = []
        switch link.phase {
        case .attachSent(let token), .refused(let token):
            actions.append(.linkAttachFailed(token, error))
        case .detachSent(let token):
            if let token { actions.append(.detachCompleted(token)) }
            actions.append(.linkDetached(id, error))
        case .attached, .incoming:
            actions.append(.linkDetached(id, error))
        }
        for token in link.waitingTokens { actions.append(.sendFailed(token, error)) }
        return actions
    }
}
