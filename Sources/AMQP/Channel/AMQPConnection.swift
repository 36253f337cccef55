import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// How to reach an AMQP 1.0 peer and what to tell it in Open.
public struct AMQPConnectionConfiguration: Sendable {
    /// Plain TCP (amqp, port 5672) or TLS (amqps, port 5671).
    public enum Transport: Sendable {
        case plain
        case tls(TLSConfiguration)
    }

    public var host: String
    public var port: Int
    public var transport: Transport
    /// The name TLS checks the certificate against; defaults to `host`.
    public var serverName: String?
    /// The container id this side announces; unique per connection by default.
    public var containerID: String
    /// The virtual host named in Open and SASL init; defaults to `host`.
    public var hostname: String?
    /// The SASL mechanism (`ANONYMOUS`, `MSSBCBS`, `PLAIN`, `EXTERNAL`), or nil to skip the SASL layer.
    public var saslMechanism: String?
    /// SASL PLAIN's initial response (`\0user\0password`) or another mechanism's.
    public var saslInitialResponse: [UInt8]?
    /// The largest frame this side accepts.
    public var maxFrameSize: UInt32
    public var channelMax: UInt16
    /// How long the peer may stay silent before this side closes the connection; nil announces none.
    public var idleTimeout: Duration?
    public var properties: [AMQPMapEntry]?
    public var desiredCapabilities: [String]?
    public var connectTimeout: Duration

    public init(
        host: String, port: Int? = nil, transport: Transport = .plain, serverName: String? = nil,
        containerID: String = "kumo-\(UInt64.random(in: 0...UInt64.max))", hostname: String? = nil,
        saslMechanism: String? = "ANONYMOUS", saslInitialResponse: [UInt8]? = nil, maxFrameSize: UInt32 = 1 << 20,
        channelMax: UInt16 = 4999, idleTimeout: Duration? = nil, properties: [AMQPMapEntry]? = nil,
        desiredCapabilities: [String]? = nil, connectTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        if case .tls = transport { self.port = port ?? AMQPProtocol.securePort } else { self.port = port ?? AMQPProtocol.port }
        self.transport = transport
        self.serverName = serverName
        self.containerID = containerID
        self.hostname = hostname
        self.saslMechanism = saslMechanism
        self.saslInitialResponse = saslInitialResponse
        self.maxFrameSize = maxFrameSize
        self.channelMax = channelMax
        self.idleTimeout = idleTimeout
        self.properties = properties
        self.desiredCapabilities = desiredCapabilities
        self.connectTimeout = connectTimeout
    }

    var engineConfiguration: EngineConfiguration {
        EngineConfiguration(
            containerID: containerID, hostname: hostname ?? host, maxFrameSize: maxFrameSize, channelMax: channelMax,
            idleTimeOut: idleTimeout.map { UInt32(clamping: $0.wholeMilliseconds) },
            properties: properties, desiredCapabilities: desiredCapabilities, saslMechanism: saslMechanism,
            saslInitialResponse: saslInitialResponse)
    }
}

/// An open AMQP 1.0 connection. Sessions are opened on it, links attached on those; closing it ends them all.
///
/// Every method is safe to call from any task: work is handed to the connection's event loop.
public final class AMQPConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<AMQPChannelHandler>
    let closedFuture: EventLoopFuture<Void>
    /// The peer's Open: its container id, max-frame-size, channel-max, idle time-out and properties.
    public let remoteOpen: AMQPOpen

    init(channel: any Channel, handler: NIOLoopBound<AMQPChannelHandler>, closedFuture: EventLoopFuture<Void>, remoteOpen: AMQPOpen) {
        self.channel = channel
        self.handler = handler
        self.closedFuture = closedFuture
        self.remoteOpen = remoteOpen
    }

    /// Connects, runs the SASL exchange and Open.
    /// - Throws: ``AMQPError`` with `.transport` when the socket cannot connect (naming host and port),
    ///   `.saslFailed` when the peer refuses the mechanism, `.remoteClosed` when it closes during Open.
    public static func connect(
        _ configuration: AMQPConnectionConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "kumo.amqp")
    ) async throws -> AMQPConnection {
        let eventLoop = eventLoopGroup.next()
        let openPromise = eventLoop.makePromise(of: AMQPOpen.self)
        let closedPromise = eventLoop.makePromise(of: Void.self)
        let engine = configuration.engineConfiguration
        let sslContext: NIOSSLContext?
        if case .tls(let tls) = configuration.transport {
            do { sslContext = try NIOSSLContext(configuration: tls) } catch {
                throw AMQPError(code: .transport, message: "the TLS configuration for \(configuration.host):\(configuration.port) is not usable: \(error)")
            }
        } else {
            sslContext = nil
        }
        let serverName = configuration.serverName ?? configuration.host
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.milliseconds(configuration.connectTimeout.wholeMilliseconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let isAddress = (try? SocketAddress(ipAddress: serverName, port: 0)) != nil
                        let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: isAddress ? nil : serverName)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    let handler = AMQPChannelHandler(
                        machine: ConnectionStateMachine(role: .client, configuration: engine), logger: logger,
                        openPromise: openPromise, closedPromise: closedPromise)
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(AMQPFrameDecoder(maxFrameSize: engine.maxFrameSize)),
                        MessageToByteHandler(AMQPFrameEncoder()),
                        handler,
                    ])
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            openPromise.fail(error)
            closedPromise.succeed(())
            throw AMQPError(code: .transport, message: "cannot connect to \(configuration.host):\(configuration.port): \(Self.describe(error))")
        }
        let handler = try await channel.pipeline.handler(type: AMQPChannelHandler.self).map {
            NIOLoopBound($0, eventLoop: channel.eventLoop)
        }.get()
        let open: AMQPOpen
        do {
            open = try await withTaskCancellationHandler {
                try await openPromise.futureResult.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch let error as AMQPError {
            throw error
        } catch {
            throw AMQPError(code: .transport, message: "the connection to \(configuration.host):\(configuration.port) failed during open: \(error)")
        }
        return AMQPConnection(channel: channel, handler: handler, closedFuture: closedPromise.futureResult, remoteOpen: open)
    }

    /// The cause of a failed connect in words.
    static func describe(_ error: any Error) -> String {
        if let failures = error as? NIOConnectionError {
            if let first = failures.connectionErrors.first { return describe(first.error) }
            if let dns = failures.dnsAAAAError ?? failures.dnsAError { return "host not found (\(dns))" }
            return "no address to connect to"
        }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ECONNRESET: return "connection reset"
            case ENETUNREACH, EHOSTUNREACH: return "network unreachable"
            default: return io.description
            }
        }
        if case ChannelError.connectTimeout(let amount) = error as? ChannelError ?? .alreadyClosed {
            return "timed out after \(amount.nanoseconds / 1_000_000_000) s"
        }
        return String(describing: error)
    }

    /// Begins a session.
    /// - Parameters:
    ///   - incomingWindow: how many transfer frames the peer may send before this side widens the window again.
    ///   - outgoingWindow: announced to the peer; this side's sends are limited by the peer's incoming window.
    public func openSession(incomingWindow: UInt32 = 5000, outgoingWindow: UInt32 = 65535) async throws -> AMQPSession {
        let promise = channel.eventLoop.makePromise(of: UInt16.self)
        let handler = self.handler
        channel.eventLoop.execute {
            handler.value.beginSession(incomingWindow: incomingWindow, outgoingWindow: outgoingWindow, promise: promise)
        }
        let number = try await promise.futureResult.get()
        return AMQPSession(connection: self, channel: number)
    }

    /// Closes the connection (sending `error` if given) and waits until the socket is closed.
    public func close(_ error: AMQPErrorCondition? = nil) async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.close(error: error) }
        let closeAfter = channel.eventLoop.scheduleTask(in: .seconds(5)) { [channel] in channel.close(promise: nil) }
        try? await closedFuture.get()
        closeAfter.cancel()
    }

    /// Waits until the connection closes, by either side or by the network, and returns why (nil: cleanly).
    public func closed() async -> AMQPError? {
        try? await closedFuture.get()
        let handler = self.handler
        return try? await channel.eventLoop.submit { handler.value.terminalError }.get()
    }

    /// Whether the connection is still open.
    public var isOpen: Bool { channel.isActive }
}

/// A session: the unit within a connection whose windows pace transfers. Links attach on it.
public final class AMQPSession: Sendable {
    public let connection: AMQPConnection
    /// This side's channel number of the session.
    public let channelNumber: UInt16

    init(connection: AMQPConnection, channel: UInt16) {
        self.connection = connection
        self.channelNumber = channel
    }

    /// Attaches a link on which this side sends. Waits for the peer's attach.
    /// - Throws: ``AMQPError`` carrying the peer's condition (e.g. `amqp:not-found`) when it refuses the link.
    public func attachSender(_ options: AMQPLinkOptions) async throws -> AMQPSender {
        var template = options.attach
        template.role = .sender
        let (id, remote) = try await attach(template, initialCredit: 0, sink: nil)
        return AMQPSender(connection: connection, id: id, name: options.name, remoteAttach: remote)
    }

    /// Attaches a link on which this side receives, granting `prefetch` credit and topping it up as deliveries
    /// are consumed, so at most `prefetch` undelivered messages are ever buffered.
    public func attachReceiver(_ options: AMQPLinkOptions, prefetch: UInt32 = 300) async throws -> AMQPReceiver {
        var template = options.attach
        template.role = .receiver
        let (stream, continuation) = AsyncThrowingStream<AMQPDelivery, any Error>.makeStream()
        let (id, remote) = try await attach(template, initialCredit: prefetch, sink: continuation)
        return AMQPReceiver(connection: connection, id: id, name: options.name, remoteAttach: remote, stream: stream, prefetch: prefetch)
    }

    private func attach(
        _ template: AMQPAttach, initialCredit: UInt32, sink: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation?
    ) async throws -> (LinkID, AMQPAttach) {
        let eventLoop = connection.channel.eventLoop
        let promise = eventLoop.makePromise(of: (LinkID, AMQPAttach).self)
        let handler = connection.handler
        let channel = channelNumber
        eventLoop.execute {
            handler.value.attach(channel: channel, template: template, initialCredit: initialCredit, sink: sink, promise: promise)
        }
        return try await promise.futureResult.get()
    }

    /// Ends the session, detaching its links.
    public func end(_ error: AMQPErrorCondition? = nil) {
        let handler = connection.handler
        let channel = channelNumber
        connection.channel.eventLoop.execute { handler.value.endSession(channel: channel, error: error) }
    }
}

/// What a link attach says about the link, apart from its role and handle.
public struct AMQPLinkOptions: Sendable {
    public var name: String
    public var source: AMQPSource?
    public var target: AMQPTarget?
    public var senderSettleMode: AMQPSenderSettleMode
    public var receiverSettleMode: AMQPReceiverSettleMode
    /// The largest message this side accepts (receiver) or will send (sender); nil for no limit.
    public var maxMessageSize: UInt64?
    public var properties: [AMQPMapEntry]?
    public var desiredCapabilities: [String]?
    public var offeredCapabilities: [String]?

    public init(
        name: String, source: AMQPSource? = nil, target: AMQPTarget? = nil,
        senderSettleMode: AMQPSenderSettleMode = .unsettled, receiverSettleMode: AMQPReceiverSettleMode = .first,
        maxMessageSize: UInt64? = nil, properties: [AMQPMapEntry]? = nil, desiredCapabilities: [String]? = nil,
        offeredCapabilities: [String]? = nil
    ) {
        self.name = name
        self.source = source
        self.target = target
        self.senderSettleMode = senderSettleMode
        self.receiverSettleMode = receiverSettleMode
        self.maxMessageSize = maxMessageSize
        self.properties = properties
        self.desiredCapabilities = desiredCapabilities
        self.offeredCapabilities = offeredCapabilities
    }

    var attach: AMQPAttach {
        AMQPAttach(
            name: name, handle: 0, role: .sender, sndSettleMode: senderSettleMode, rcvSettleMode: receiverSettleMode,
            source: source, target: target, unsettled: nil, incompleteUnsettled: false, initialDeliveryCount: nil,
            maxMessageSize: maxMessageSize, offeredCapabilities: offeredCapabilities,
            desiredCapabilities: desiredCapabilities, properties: properties)
    }
}
