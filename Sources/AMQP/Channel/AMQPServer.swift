import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// What an AMQP server says in its Open and SASL exchange.
public struct AMQPServerConfiguration: Sendable {
    public var containerID: String
    public var maxFrameSize: UInt32
    public var channelMax: UInt16
    /// How long a client may stay silent before the server closes the connection.
    public var idleTimeout: Duration?
    /// SASL mechanisms offered (any one chosen is accepted: authorization happens later, e.g. through CBS);
    /// nil serves plain AMQP without a SASL layer.
    public var saslMechanisms: [String]?
    public var saslWelcome: [UInt8]?
    public var properties: [AMQPMapEntry]?

    public init(
        containerID: String, maxFrameSize: UInt32 = 65536, channelMax: UInt16 = 4999, idleTimeout: Duration? = .seconds(120),
        saslMechanisms: [String]? = ["ANONYMOUS"], saslWelcome: [UInt8]? = nil, properties: [AMQPMapEntry]? = nil
    ) {
        self.containerID = containerID
        self.maxFrameSize = maxFrameSize
        self.channelMax = channelMax
        self.idleTimeout = idleTimeout
        self.saslMechanisms = saslMechanisms
        self.saslWelcome = saslWelcome
        self.properties = properties
    }

    var engineConfiguration: EngineConfiguration {
        EngineConfiguration(
            containerID: containerID, maxFrameSize: maxFrameSize, channelMax: channelMax,
            idleTimeOut: idleTimeout.map { UInt32(clamping: $0.wholeMilliseconds) }, properties: properties,
            saslMechanisms: saslMechanisms, saslWelcome: saslWelcome)
    }
}

/// A listening AMQP 1.0 server. Each accepted connection is handed to `onConnection` once Open is done;
/// the peer's links arrive as ``AMQPServerConnection/linkRequests``.
public final class AMQPServer: Sendable {
    private let channel: any Channel
    /// The port bound (useful after binding port 0).
    public let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    /// Binds and starts accepting.
    /// - Parameters:
    ///   - tls: serve AMQPS (TLS from the first byte) with this configuration; nil for plain AMQP.
    /// - Throws: ``AMQPError`` `.transport` naming the address when it cannot bind.
    public static func bind(
        host: String, port: Int, tls: TLSConfiguration? = nil, configuration: AMQPServerConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "kumo.amqp.server"),
        onConnection: @escaping @Sendable (AMQPServerConnection) async -> Void
    ) async throws -> AMQPServer {
        let sslContext: NIOSSLContext?
        do { sslContext = try tls.map { try NIOSSLContext(configuration: $0) } } catch {
            throw AMQPError(code: .transport, message: "the TLS configuration of the AMQP server is not usable: \(error)")
        }
        let engine = configuration.engineConfiguration
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let openPromise = channel.eventLoop.makePromise(of: AMQPOpen.self)
                let closedPromise = channel.eventLoop.makePromise(of: Void.self)
                let (links, linksContinuation) = AsyncStream<AMQPLinkRequest>.makeStream()
                return channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    let handler = AMQPChannelHandler(
                        machine: ConnectionStateMachine(role: .server, configuration: engine), logger: logger,
                        openPromise: openPromise, closedPromise: closedPromise, incomingLinks: linksContinuation)
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(AMQPFrameDecoder(maxFrameSize: engine.maxFrameSize)),
                        MessageToByteHandler(AMQPFrameEncoder()),
                        handler,
                    ])
                    let loopBound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                    openPromise.futureResult.whenSuccess { open in
                        let connection = AMQPConnection(channel: channel, handler: loopBound, closedFuture: closedPromise.futureResult, remoteOpen: open)
                        let serverConnection = AMQPServerConnection(connection: connection, linkRequests: links)
                        Task { await onConnection(serverConnection) }
                    }
                    openPromise.futureResult.whenFailure { _ in linksContinuation.finish() }
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return AMQPServer(channel: channel, port: channel.localAddress?.port ?? port)
        } catch {
            throw AMQPError(code: .transport, message: "cannot listen for AMQP on \(host):\(port): \(error)")
        }
    }

    /// Stops accepting; open connections stay until closed.
    public func close() async {
        try? await channel.close()
    }
}

/// A client's connection as a server sees it.
public final class AMQPServerConnection: Sendable {
    /// The connection (its peer's Open, close, sessions).
    public let connection: AMQPConnection
    /// Links the client attaches, each to be accepted or rejected.
    public let linkRequests: AsyncStream<AMQPLinkRequest>

    init(connection: AMQPConnection, linkRequests: AsyncStream<AMQPLinkRequest>) {
        self.connection = connection
        self.linkRequests = linkRequests
    }
}

/// A link the peer attached first, waiting for this side's answer.
public final class AMQPLinkRequest: Sendable {
    /// The peer's attach: name, role, source, target, filters, properties, desired capabilities.
    public let attach: AMQPAttach
    let id: LinkID
    let handler: NIOLoopBound<AMQPChannelHandler>
    let channel: any Channel

    init(attach: AMQPAttach, id: LinkID, handler: NIOLoopBound<AMQPChannelHandler>, channel: any Channel) {
        self.attach = attach
        self.id = id
        self.handler = handler
        self.channel = channel
    }

    /// The session's channel number on this side, which groups links of one session.
    public var sessionChannel: UInt16 { id.channel }

    /// Accepts a link on which the peer sends: this side receives, granting `prefetch` credit.
    /// - Parameter reply: what to answer in this side's attach (source, target, max-message-size, properties);
    ///   its name, handle and role are filled in.
    public func acceptAsReceiver(connection: AMQPConnection, reply: AMQPLinkOptions, prefetch: UInt32 = 1000) -> AMQPReceiver {
        var attach = reply.attach
        attach.role = .receiver
        let (stream, continuation) = AsyncThrowingStream<AMQPDelivery, any Error>.makeStream()
        let id = self.id
        let handler = self.handler
        channel.eventLoop.execute {
            handler.value.acceptIncoming(id, reply: attach, initialCredit: prefetch, sink: continuation)
        }
        return AMQPReceiver(connection: connection, id: id, name: self.attach.name, remoteAttach: self.attach, stream: stream, prefetch: prefetch)
    }

    /// Accepts a link on which the peer receives: this side sends as the peer grants credit.
    public func acceptAsSender(connection: AMQPConnection, reply: AMQPLinkOptions) -> AMQPSender {
        var attach = reply.attach
        attach.role = .sender
        let id = self.id
        let handler = self.handler
        channel.eventLoop.execute { handler.value.acceptIncoming(id, reply: attach, initialCredit: 0, sink: nil) }
        return AMQPSender(connection: connection, id: id, name: self.attach.name, remoteAttach: self.attach)
    }

    /// Refuses the link: an attach without terminus, then a detach carrying `error`.
    public func reject(_ error: AMQPErrorCondition) {
        let id = self.id
        let handler = self.handler
        channel.eventLoop.execute { handler.value.rejectIncoming(id, error: error) }
    }
}
