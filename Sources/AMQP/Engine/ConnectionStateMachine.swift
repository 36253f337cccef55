import NIOCore

/// What a connection end says about itself in its Open and SASL exchange.
package struct EngineConfiguration: Sendable {
    package var containerID: String
    /// The virtual host a client names in Open and SASL init (the namespace for Event Hubs).
    package var hostname: String?
    package var maxFrameSize: UInt32
    package var channelMax: UInt16
    /// This side's idle time-out in milliseconds; nil sends none.
    package var idleTimeOut: UInt32?
    package var properties: [AMQPMapEntry]?
    package var offeredCapabilities: [String]?
    package var desiredCapabilities: [String]?
    /// Client: the SASL mechanism to use, nil for no SASL layer.
    package var saslMechanism: String?
    package var saslInitialResponse: [UInt8]?
    /// Server: the mechanisms offered, nil to refuse a SASL layer.
    package var saslMechanisms: [String]?
    /// Server: additional data of a successful SASL outcome.
    package var saslWelcome: [UInt8]?

    package init(
        containerID: String, hostname: String? = nil, maxFrameSize: UInt32 = 65536, channelMax: UInt16 = 4999,
        idleTimeOut: UInt32? = nil, properties: [AMQPMapEntry]? = nil, offeredCapabilities: [String]? = nil,
        desiredCapabilities: [String]? = nil, saslMechanism: String? = nil, saslInitialResponse: [UInt8]? = nil,
        saslMechanisms: [String]? = nil, saslWelcome: [UInt8]? = nil
    ) {
        self.containerID = containerID
        self.hostname = hostname
        self.maxFrameSize = max(maxFrameSize, 512)
        self.channelMax = channelMax
        self.idleTimeOut = idleTimeOut
        self.properties = properties
        self.offeredCapabilities = offeredCapabilities
        self.desiredCapabilities = desiredCapabilities
        self.saslMechanism = saslMechanism
        self.saslInitialResponse = saslInitialResponse
        self.saslMechanisms = saslMechanisms
        self.saslWelcome = saslWelcome
    }
}

/// The whole AMQP connection as a value: protocol headers, SASL, Open/Close, sessions with their windows and
/// links with their credit. Each event returns the actions the channel handler performs; nothing here does I/O,
/// so every rule is unit-tested by feeding frames in and reading frames out.
package struct ConnectionStateMachine {
    package enum Role: Sendable { case client, server }

    enum Phase: Equatable {
        case idle
        /// Client: sent the SASL header, waiting for the server's header and mechanisms.
        case saslHeaderSent
        /// Client: sent SASL init, waiting for the outcome.
        case saslInitSent
        /// Server: waiting for SASL init.
        case awaitingSASLInit
        /// Server: SASL done, waiting for the AMQP header.
        case awaitingAMQPHeader
        /// Open sent (client) or awaited (server).
        case awaitingOpen
        case opened
        case closeSent
        case closed
    }

    package let role: Role
    package let configuration: EngineConfiguration
    private(set) var phase: Phase = .idle
    package private(set) var remoteOpen: AMQPOpen?
    /// The largest frame this side may send: the peer's max-frame-size once known.
    package private(set) var outgoingMaxFrameSize: UInt32 = 512
    private var sessions: [UInt16: SessionState] = [:]
    private var remoteChannels: [UInt16: UInt16] = [:]
    private var headerReceived = false

    package init(role: Role, configuration: EngineConfiguration) {
        self.role = role
        self.configuration = configuration
    }

    package var isOpen: Bool { phase == .opened }

    // MARK: - Connection

    package mutating func channelActive() -> [EngineAction] {
        guard role == .client, phase == .idle else { return [] }
        if configuration.saslMechanism != nil {
            phase = .saslHeaderSent
            return [.writeHeader(.sasl), .flush]
        }
        phase = .awaitingOpen
        return [.writeHeader(.amqp), .writeFrame(openFrame()), .flush]
    }

    package mutating func headerReceived(_ header: AMQPProtocolHeader) -> [EngineAction] {
        switch (role, phase, header) {
        case (.client, .saslHeaderSent, .sasl), (.client, .awaitingOpen, .amqp):
            return []
        case (.server, .idle, .sasl) where configuration.saslMechanisms != nil:
            phase = .awaitingSASLInit
            let mechanisms = AMQPSASLMechanisms(mechanisms: configuration.saslMechanisms ?? [])
            return [.writeHeader(.sasl), .writeFrame(AMQPFrame(channel: 0, body: .sasl(.mechanisms(mechanisms)))), .flush]
        case (.server, .idle, .amqp) where configuration.saslMechanisms == nil,
            (.server, .awaitingAMQPHeader, .amqp):
            phase = .awaitingOpen
            return [.writeHeader(.amqp), .flush]
        case (.server, .idle, _):
            // Answer with the header this side speaks, then hang up, as the spec asks of a mismatch.
            phase = .closed
            let supported: AMQPProtocolHeader = configuration.saslMechanisms != nil ? .sasl : .amqp
            return [
                .writeHeader(supported), .flush,
                .closeChannel(AMQPError(code: .protocolViolation, message: "the peer asked for protocol \(header), which this server does not speak before \(supported)")),
            ]
        default:
            phase = .closed
            return [.closeChannel(AMQPError(code: .protocolViolation, message: "unexpected protocol header \(header) from the peer"))]
        }
    }

    package mutating func frameReceived(_ frame: AMQPFrame) -> [EngineAction] {
        switch frame.body {
        case .empty:
            return []  // a heartbeat; the handler already noted that bytes arrived
        case .sasl(let performative):
            return saslReceived(performative)
        case .amqp(let performative, let payload):
            guard phase == .awaitingOpen || phase == .opened || phase == .closeSent else {
                return protocolError("\(performative.name) frame before the connection is open")
            }
            switch performative {
            case .open(let open): return openReceived(open)
            case .close(let close): return closeReceived(close)
            default:
                guard remoteOpen != nil else { return protocolError("\(performative.name) frame before open") }
                if phase == .closeSent { return [] }  // the spec lets a closing end ignore everything but close
                return sessionFrameReceived(performative, channel: frame.channel, payload: payload)
            }
        }
    }

    private mutating func saslReceived(_ performative: AMQPSASLPerformative) -> [EngineAction] {
        switch (role, phase, performative) {
        case (.client, .saslHeaderSent, .mechanisms(let offered)):
            let mechanism = configuration.saslMechanism ?? "ANONYMOUS"
            guard offered.mechanisms.contains(mechanism) else {
                phase = .closed
                return [.closeChannel(AMQPError(code: .saslFailed, message: "the server offers SASL mechanisms \(offered.mechanisms.joined(separator: ", ")), not \(mechanism)"))]
            }
            phase = .saslInitSent
            let initial = AMQPSASLInit(mechanism: mechanism, initialResponse: configuration.saslInitialResponse ?? [], hostname: configuration.hostname)
            return [.writeFrame(AMQPFrame(channel: 0, body: .sasl(.initial(initial)))), .flush]
        case (.client, .saslInitSent, .outcome(let outcome)):
            guard outcome.code == .ok else {
                phase = .closed
                return [.closeChannel(AMQPError(code: .saslFailed, message: "SASL authentication failed with outcome \(outcome.code)"))]
            }
            phase = .awaitingOpen
            return [.writeHeader(.amqp), .writeFrame(openFrame()), .flush]
        case (.client, .saslInitSent, .challenge):
            phase = .closed
            return [.closeChannel(AMQPError(code: .saslFailed, message: "the server sent a SASL challenge, which the \(configuration.saslMechanism ?? "") mechanism does not answer"))]
        case (.server, .awaitingSASLInit, .initial(let initial)):
            let accepted = configuration.saslMechanisms?.contains(initial.mechanism) ?? false
            let outcome = AMQPSASLOutcome(code: accepted ? .ok : .auth, additionalData: accepted ? configuration.saslWelcome : nil)
            phase = accepted ? .awaitingAMQPHeader : .closed
            var actions: [EngineAction] = [.writeFrame(AMQPFrame(channel: 0, body: .sasl(.outcome(outcome)))), .flush]
            if !accepted {
                actions.append(.closeChannel(AMQPError(code: .saslFailed, message: "the client chose SASL mechanism \(initial.mechanism), which is not offered")))
            }
            return actions
        default:
            return protocolError("unexpected SASL frame \(performative)")
        }
    }

    private func openFrame() -> AMQPFrame {
        let open = AMQPOpen(
            containerID: configuration.containerID, hostname: role == .client ? configuration.hostname : nil,
            maxFrameSize: configuration.maxFrameSize, channelMax: configuration.channelMax,
            idleTimeOut: configuration.idleTimeOut, outgoingLocales: nil, incomingLocales: nil,
            offeredCapabilities: configuration.offeredCapabilities, desiredCapabilities: configuration.desiredCapabilities,
            properties: configuration.properties)
        return AMQPFrame(channel: 0, body: .amqp(.open(open), payload: nil))
    }

    private mutating func openReceived(_ open: AMQPOpen) -> [EngineAction] {
        guard remoteOpen == nil, phase == .awaitingOpen else { return protocolError("a second open frame") }
        remoteOpen = open
        outgoingMaxFrameSize = max(512, min(open.maxFrameSize, UInt32(Int32.max)))
        phase = .opened
        var actions: [EngineAction] = []
        if role == .server { actions += [.writeFrame(openFrame()), .flush] }
        actions.append(.connectionOpened(open))
        return actions
    }

    private mutating func closeReceived(_ close: AMQPClose) -> [EngineAction] {
        let error = close.error.map { AMQPError.remote($0, code: .remoteClosed) }
        var actions: [EngineAction] = []
        if phase != .closeSent {
            actions += [.writeFrame(AMQPFrame(channel: 0, body: .amqp(.close(AMQPClose(error: nil)), payload: nil))), .flush]
        }
        phase = .closed
        actions += failEverything(error ?? AMQPError(code: .remoteClosed, message: "the peer closed the connection"))
        actions.append(.closeChannel(error))
        return actions
    }

    /// Closes the connection from this side: the peer's close frame (or the socket closing) finishes it.
    package mutating func close(_ error: AMQPErrorCondition?) -> [EngineAction] {
        switch phase {
        case .opened, .awaitingOpen:
            phase = .closeSent
            return [.writeFrame(AMQPFrame(channel: 0, body: .amqp(.close(AMQPClose(error: error)), payload: nil))), .flush]
        case .closeSent, .closed:
            return []
        default:
            phase = .closed
            return [.closeChannel(nil)]
        }
    }

    /// The socket closed or failed: everything still waiting fails with `error`.
    package mutating func channelInactive(_ error: AMQPError) -> [EngineAction] {
        let wasClosed = phase == .closed
        phase = .closed
        var actions = failEverything(error)
        if !wasClosed { actions.append(.closeChannel(error)) }
        return actions
    }

    private mutating func failEverything(_ error: AMQPError) -> [EngineAction] {
        var actions: [EngineAction] = []
        for channel in sessions.keys.sorted() {
            actions += endSessionState(channel, error: error)
        }
        remoteChannels.removeAll()
        return actions
    }

    private mutating func protocolError(_ message: String) -> [EngineAction] {
        let error = AMQPError(code: .protocolViolation, message: message)
        guard phase == .opened || phase == .awaitingOpen else {
            phase = .closed
            return failEverything(error) + [.closeChannel(error)]
        }
        let condition = AMQPErrorCondition(condition: "amqp:connection:framing-error", description: message, info: nil)
        var actions = close(condition)
        actions += failEverything(error)
        return actions
    }

    // MARK: - Sessions

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

    private mutating func sessionFrameReceived(_ performative: AMQPPerformative, channel remoteChannel: UInt16, payload: ByteBuffer?) -> [EngineAction] {
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

    private mutating func beginReceived(_ begin: AMQPBegin, remoteChannel: UInt16) -> [EngineAction] {
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

    private mutating func endReceived(_ end: AMQPEnd, channel: UInt16) -> [EngineAction] {
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
    private mutating func endSessionState(_ channel: UInt16, error: AMQPError?) -> [EngineAction] {
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

    private func failLink(_ link: LinkState, channel: UInt16, error: AMQPError) -> [EngineAction] {
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

    // MARK: - Links

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

    private mutating func attachReceived(_ attach: AMQPAttach, channel: UInt16) -> [EngineAction] {
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

    private mutating func detachReceived(_ detach: AMQPDetach, channel: UInt16) -> [EngineAction] {
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

    // MARK: - Flow control

    private func linkFlowFrame(session: SessionState, link: LinkState, echo: Bool = false) -> AMQPFrame {
        let flow = AMQPFlow(
            nextIncomingID: session.remoteChannel == nil ? nil : session.nextIncomingID,
            incomingWindow: session.incomingWindow, nextOutgoingID: session.nextOutgoingID,
            outgoingWindow: session.outgoingWindow, handle: link.localHandle, deliveryCount: link.deliveryCount,
            linkCredit: link.linkCredit, available: link.role == .sender ? UInt32(link.pendingSends.count - link.pendingHead) : nil,
            drain: link.drain, echo: echo, properties: nil)
        return AMQPFrame(channel: session.localChannel, body: .amqp(.flow(flow), payload: nil))
    }

    private func sessionFlowFrame(session: SessionState) -> AMQPFrame {
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

    private mutating func flowReceived(_ flow: AMQPFlow, channel: UInt16) -> [EngineAction] {
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

    // MARK: - Transfers

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
    private mutating func pump(channel: UInt16, handle: UInt32) -> [EngineAction] {
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

    private mutating func transferReceived(_ transfer: AMQPTransfer, payload: ByteBuffer?, channel: UInt16) -> [EngineAction] {
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

    private mutating func dispositionReceived(_ disposition: AMQPDisposition, channel: UInt16) -> [EngineAction] {
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
