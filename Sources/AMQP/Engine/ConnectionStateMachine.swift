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
    var phase: Phase = .idle
    package private(set) var remoteOpen: AMQPOpen?
    /// The largest frame this side may send: the peer's max-frame-size once known.
    package private(set) var outgoingMaxFrameSize: UInt32 = 512
    var sessions: [UInt16: SessionState] = [:]
    var remoteChannels: [UInt16: UInt16] = [:]
    var headerReceived = false

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

    mutating func saslReceived(_ performative: AMQPSASLPerformative) -> [EngineAction] {
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

    func openFrame() -> AMQPFrame {
        let open = AMQPOpen(
            containerID: configuration.containerID, hostname: role == .client ? configuration.hostname : nil,
            maxFrameSize: configuration.maxFrameSize, channelMax: configuration.channelMax,
            idleTimeOut: configuration.idleTimeOut, outgoingLocales: nil, incomingLocales: nil,
            offeredCapabilities: configuration.offeredCapabilities, desiredCapabilities: configuration.desiredCapabilities,
            properties: configuration.properties)
        return AMQPFrame(channel: 0, body: .amqp(.open(open), payload: nil))
    }

    mutating func openReceived(_ open: AMQPOpen) -> [EngineAction] {
        guard remoteOpen == nil, phase == .awaitingOpen else { return protocolError("a second open frame") }
        remoteOpen = open
        outgoingMaxFrameSize = max(512, min(open.maxFrameSize, UInt32(Int32.max)))
        phase = .opened
        var actions: [EngineAction] = []
        if role == .server { actions += [.writeFrame(openFrame()), .flush] }
        actions.append(.connectionOpened(open))
        return actions
    }

    mutating func closeReceived(_ close: AMQPClose) -> [EngineAction] {
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

    mutating func failEverything(_ error: AMQPError) -> [EngineAction] {
        var actions: [EngineAction] = []
        for channel in sessions.keys.sorted() {
            actions += endSessionState(channel, error: error)
        }
        remoteChannels.removeAll()
        return actions
    }

    mutating func protocolError(_ message: String) -> [EngineAction] {
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
}
