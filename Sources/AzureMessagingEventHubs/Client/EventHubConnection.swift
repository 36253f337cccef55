import AMQP
import AzureCore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// How a client proves itself to Event Hubs: a shared access key, a ready-made SAS token, or an Entra ID
/// token credential. Each becomes a CBS put-token on the `$cbs` node.
public enum EventHubsCredential: Sendable {
    case sharedKey(EventHubsSharedKeyCredential)
    case sharedAccessSignature(EventHubsSharedAccessSignature)
    case token(any TokenCredential)
}

/// Options every Event Hubs client takes.
public struct EventHubClientOptions: Sendable {
    /// Retries of transient failures (server busy, lost connection), with AzureCore's back-off.
    public var retryPolicy: RetryPolicy
    /// How long one operation (a send, a management request, a CBS request) may wait for its answer.
    public var tryTimeout: Duration
    /// TLS settings for AMQPS, e.g. a private CA bundle; nil uses the system's trust roots.
    public var tlsConfiguration: TLSConfiguration?
    /// Names this client in the connection's container id and properties.
    public var identifier: String?
    public var logger: Logger

    public init(
        retryPolicy: RetryPolicy = .default, tryTimeout: Duration = .seconds(60), tlsConfiguration: TLSConfiguration? = nil,
        identifier: String? = nil, logger: Logger = Logger(label: "kumo.eventhubs")
    ) {
        self.retryPolicy = retryPolicy
        self.tryTimeout = tryTimeout
        self.tlsConfiguration = tlsConfiguration
        self.identifier = identifier
        self.logger = logger
    }
}

/// Where a client connects.
struct EventHubEndpoint: Sendable {
    var fullyQualifiedNamespace: String
    var host: String
    var port: Int
    var useTLS: Bool
    var eventHubName: String
    /// The namespace as Microsoft's SDKs name it in checkpoint and ownership blobs: the host, and for the
    /// development emulator the host and port (as Python's client reports `fully_qualified_namespace`).
    var checkpointNamespace: String

    /// `amqps://namespace/hub`, the base of every entity address.
    var hubAddress: String { "amqps://\(fullyQualifiedNamespace)/\(eventHubName)" }
    /// `sb://namespace/hub`, the audience of tokens for the hub.
    var hubAudience: String { "sb://\(fullyQualifiedNamespace)/\(eventHubName)" }
}

extension EventHubEndpoint {
    static func parse(connectionString text: String, eventHubName: String?) throws -> (EventHubEndpoint, EventHubsCredential) {
        let parsed = try EventHubConnectionString(text)
        let hub = try parsed.resolvedEventHubName(eventHubName)
        let endpoint = EventHubEndpoint(
            fullyQualifiedNamespace: parsed.fullyQualifiedNamespace, host: parsed.fullyQualifiedNamespace, port: parsed.port,
            useTLS: parsed.useTLS, eventHubName: hub,
            checkpointNamespace: parsed.isDevelopmentEmulator ? "\(parsed.fullyQualifiedNamespace):\(parsed.port)" : parsed.fullyQualifiedNamespace)
        switch parsed.credential {
        case .sharedKey(let key): return (endpoint, .sharedKey(key))
        case .sharedAccessSignature(let signature): return (endpoint, .sharedAccessSignature(signature))
        }
    }
}

/// One AMQP connection to a namespace shared by a client's links, with CBS authorization (renewed before
/// tokens expire), the `$management` node, and reconnection: when the connection is lost, the next caller
/// opens a new one and links are attached again on it.
actor EventHubConnection {
    let endpoint: EventHubEndpoint
    let credential: EventHubsCredential
    let options: EventHubClientOptions
    private var current: Live?
    private var connecting: Task<Live, any Error>?
    private var generation = 0
    private var closed = false

    /// What exists per physical connection.
    final class Live: Sendable {
        let connection: AMQPConnection
        let session: AMQPSession
        let cbs: RequestResponseLink
        let generation: Int
        let management = NIOLockedValueBox<RequestResponseLink?>(nil)
        let renewals = NIOLockedValueBox<[String: Task<Void, Never>]>([:])

        init(connection: AMQPConnection, session: AMQPSession, cbs: RequestResponseLink, generation: Int) {
            self.connection = connection
            self.session = session
            self.cbs = cbs
            self.generation = generation
        }

        func shutdown() async {
            for task in renewals.withLockedValue({ $0.values }) { task.cancel() }
            cbs.shutdown()
            management.withLockedValue { $0 }?.shutdown()
            await connection.close()
        }
    }

    init(endpoint: EventHubEndpoint, credential: EventHubsCredential, options: EventHubClientOptions) {
        self.endpoint = endpoint
        self.credential = credential
        self.options = options
    }

    /// The live connection, opening one if there is none or the last one was lost.
    func live() async throws -> Live {
        guard !closed else { throw AzureError(.invalidArgument, "the Event Hubs client for \(endpoint.eventHubName) is closed") }
        if let current, current.connection.isOpen { return current }
        if let connecting { return try await connecting.value }
        let previous = current
        current = nil
        generation += 1
        let generation = self.generation
        let endpoint = self.endpoint
        let options = self.options
        let task = Task { () throws -> Live in
            if let previous { await previous.shutdown() }
            return try await Self.open(endpoint: endpoint, options: options, generation: generation)
        }
        connecting = task
        defer { connecting = nil }
        do {
            let live = try await task.value
            current = live
            return live
        } catch {
            throw EventHubsErrors.map(error, operation: "connecting to Event Hubs at \(endpoint.host):\(endpoint.port)")
        }
    }

    private static func open(endpoint: EventHubEndpoint, options: EventHubClientOptions, generation: Int) async throws -> Live {
        let transport: AMQPConnectionConfiguration.Transport
        if endpoint.useTLS {
            transport = .tls(options.tlsConfiguration ?? .makeClientConfiguration())
        } else {
            transport = .plain
        }
        let identifier = options.identifier ?? "kumo-\(UUID().uuidString.lowercased())"
        let configuration = AMQPConnectionConfiguration(
            host: endpoint.host, port: endpoint.port, transport: transport, containerID: identifier,
            hostname: endpoint.fullyQualifiedNamespace, saslMechanism: "ANONYMOUS", maxFrameSize: 1 << 20,
            idleTimeout: .seconds(120),
            properties: [
                AMQPMapEntry(.symbol("product"), .string("kumo-eventhubs")),
                AMQPMapEntry(.symbol("framework"), .string("Swift")),
            ])
        let connection = try await AMQPConnection.connect(configuration, logger: options.logger)
        do {
            let session = try await connection.openSession()
            let cbs = try await RequestResponseLink.attach(session: session, address: "$cbs", timeout: options.tryTimeout)
            return Live(connection: connection, session: session, cbs: cbs, generation: generation)
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Authorizes `audience` on the live connection (once per connection; renewed before the token expires).
    func authorize(_ live: Live, audience: String) async throws {
        if live.renewals.withLockedValue({ $0[audience] != nil }) { return }
        let expiresOn = try await putToken(live, audience: audience)
        let task = Task { [weak self] in
            var expiry = expiresOn
            while !Task.isCancelled {
                // Renew five minutes before expiry, or halfway through a short-lived token.
                let lifetime = expiry.timeIntervalSinceNow
                let wait = lifetime > 600 ? lifetime - 300 : max(lifetime / 2, 1)
                try? await Task.sleep(for: .seconds(wait))
                guard !Task.isCancelled, let self else { return }
                do {
                    expiry = try await self.putToken(live, audience: audience)
                } catch {
                    self.options.logger.warning("renewing the Event Hubs token for \(audience) failed: \(error); retrying in 10 s")
                    expiry = Date().addingTimeInterval(20)
                }
            }
        }
        live.renewals.withLockedValue { $0[audience] = task }
    }

    private func putToken(_ live: Live, audience: String) async throws -> Date {
        let token: String
        let type: String
        let expiresOn: Date
        switch credential {
        case .sharedKey(let key):
            let signature = key.signature(for: audience, expiresOn: Date().addingTimeInterval(3600))
            token = signature.token
            expiresOn = signature.expiresOn
            type = EventHubsSharedAccessSignature.tokenType
        case .sharedAccessSignature(let signature):
            token = signature.token
            expiresOn = signature.expiresOn
            type = EventHubsSharedAccessSignature.tokenType
        case .token(let credential):
            let access = try await credential.token(for: [EventHubs.scope])
            token = access.token
            expiresOn = access.expiresOn
            type = "jwt"
        }
        var request = AMQPMessage(body: .value(.string(token)))
        request.applicationProperties = [
            AMQPMapEntry(.string("operation"), .string("put-token")),
            AMQPMapEntry(.string("type"), .string(type)),
            AMQPMapEntry(.string("name"), .string(audience)),
            AMQPMapEntry(.string("expiration"), .timestamp(Int64(expiresOn.timeIntervalSince1970 * 1000))),
        ]
        let reply = try await live.cbs.request(request, timeout: options.tryTimeout)
        let status = reply.applicationProperties?[string: "status-code"]?.int64Value ?? 0
        guard status == 200 || status == 202 else {
            let description = reply.applicationProperties?[string: "status-description"]?.stringValue ?? "no description"
            let condition = reply.applicationProperties?[string: "error-condition"]?.stringValue
            throw AzureError(
                status == 401 ? .authentication : .service,
                "Event Hubs refused the token for \(audience): \(status) \(description)", statusCode: Int(status),
                errorCode: condition ?? (status == 404 ? "amqp:not-found" : nil))
        }
        return expiresOn
    }

    /// Sends a request to the hub's `$management` node and returns the reply's body.
    func management(operation: String, type: String, extra: [AMQPMapEntry] = []) async throws -> AMQPValue {
        let live = try await live()
        try await authorize(live, audience: endpoint.hubAudience)
        let link: RequestResponseLink
        if let existing = live.management.withLockedValue({ $0 }) {
            link = existing
        } else {
            link = try await RequestResponseLink.attach(session: live.session, address: "$management", timeout: options.tryTimeout)
            live.management.withLockedValue { $0 = link }
        }
        var request = AMQPMessage(body: .value(.map([])))
        var properties: [AMQPMapEntry] = [
            AMQPMapEntry(.string("operation"), .string(operation)),
            AMQPMapEntry(.string("name"), .string(endpoint.eventHubName)),
            AMQPMapEntry(.string("type"), .string(type)),
        ]
        properties += extra
        request.applicationProperties = properties
        let reply = try await link.request(request, timeout: options.tryTimeout)
        let status = reply.applicationProperties?[string: "status-code"]?.int64Value ?? 0
        guard status == 200 else {
            let description = reply.applicationProperties?[string: "status-description"]?.stringValue ?? "no description"
            let condition = reply.applicationProperties?[string: "error-condition"]?.stringValue
            throw AzureError(
                .service, "the $management \(operation) of \(type) on \(endpoint.eventHubName) failed: \(status) \(description)",
                statusCode: Int(status), errorCode: condition ?? (status == 404 ? "amqp:not-found" : nil),
                isRetriable: status == 503 || status >= 500)
        }
        guard case .value(let value) = reply.body else {
            throw EventHubsErrors.invalidResponse("the $management reply for \(type) has no amqp-value body")
        }
        return value
    }

    /// The hub's properties from `$management`, with retries.
    func hubProperties() async throws -> EventHubProperties {
        try await withRetries("reading the properties of \(endpoint.eventHubName)") { _ in
            try EventHubProperties(await self.management(operation: "READ", type: "com.microsoft:eventhub"))
        }
    }

    /// A partition's properties from `$management`, with retries.
    func partitionProperties(_ partitionID: String) async throws -> PartitionProperties {
        try await withRetries("reading the properties of partition \(partitionID) of \(endpoint.eventHubName)") { _ in
            try PartitionProperties(await self.management(
                operation: "READ", type: "com.microsoft:partition",
                extra: [AMQPMapEntry(.string("partition"), .string(partitionID))]))
        }
    }

    /// Closes the connection; later calls fail.
    func close() async {
        closed = true
        connecting?.cancel()
        if let current { await current.shutdown() }
        current = nil
    }

    /// Forgets a connection a caller found broken, so the next call reconnects.
    func invalidate(generation: Int) async {
        guard let current, current.generation == generation else { return }
        self.current = nil
        await current.shutdown()
    }

    /// Runs `body` with retries of transient failures, reconnecting after a lost connection.
    func withRetries<T: Sendable>(_ operation: String, _ body: (Live) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            var generation: Int?
            do {
                try Task.checkCancellation()
                let live = try await live()
                generation = live.generation
                return try await body(live)
            } catch {
                let mapped = EventHubsErrors.map(error, operation: operation)
                guard mapped.isRetriable, attempt < options.retryPolicy.maxRetries, !Task.isCancelled else { throw mapped }
                if mapped.code == .transport || mapped.code == .timeout, let generation { await invalidate(generation: generation) }
                let wait = options.retryPolicy.delay(attempt: attempt, serverHint: nil)
                attempt += 1
                options.logger.warning("retrying \(operation) in \(EventHubsErrors.seconds(wait)) after \(mapped.message) (retry \(attempt) of \(options.retryPolicy.maxRetries))")
                try await Task.sleep(for: wait)
            }
        }
    }
}

/// A sender and receiver pair on one node (`$cbs`, `$management`) carrying requests and their replies,
/// matched by message id and correlation id.
final class RequestResponseLink: Sendable {
    private let sender: AMQPSender
    private let receiver: AMQPReceiver
    private let replyAddress: String
    private let waiting = NIOLockedValueBox<[AMQPValue: CheckedContinuation<AMQPMessage, any Error>]>([:])
    private let reader = NIOLockedValueBox<Task<Void, Never>?>(nil)

    private init(sender: AMQPSender, receiver: AMQPReceiver, replyAddress: String) {
        self.sender = sender
        self.receiver = receiver
        self.replyAddress = replyAddress
    }

    static func attach(session: AMQPSession, address: String, timeout: Duration) async throws -> RequestResponseLink {
        let suffix = UUID().uuidString.lowercased()
        let replyAddress = address == "$cbs" ? "cbs" : "\(address)-reply-\(suffix)"
        let sender = try await session.attachSender(AMQPLinkOptions(
            name: "\(address)-sender-\(suffix)", source: AMQPSource(address: address), target: AMQPTarget(address: address)))
        let receiver = try await session.attachReceiver(
            AMQPLinkOptions(name: "\(address)-receiver-\(suffix)", source: AMQPSource(address: address), target: AMQPTarget(address: replyAddress)),
            prefetch: 100)
        let link = RequestResponseLink(sender: sender, receiver: receiver, replyAddress: replyAddress)
        let task = Task { [link] in await link.readReplies() }
        link.reader.withLockedValue { $0 = task }
        return link
    }

    private func readReplies() async {
        var failure: any Error = AMQPError(code: .linkDetached, message: "the reply link closed")
        do {
            for try await delivery in receiver {
                receiver.settle(delivery)
                guard let message = try? delivery.message(), let correlation = message.properties?.correlationID else { continue }
                waiting.withLockedValue { $0.removeValue(forKey: correlation) }?.resume(returning: message)
            }
        } catch {
            failure = error
        }
        for continuation in waiting.withLockedValue({ state in defer { state.removeAll() }; return Array(state.values) }) {
            continuation.resume(throwing: failure)
        }
    }

    func request(_ message: AMQPMessage, timeout: Duration) async throws -> AMQPMessage {
        var message = message
        let id = AMQPValue.uuid(UUID())
        var properties = message.properties ?? AMQPMessage.Properties()
        properties.messageID = id
        properties.replyTo = replyAddress
        message.properties = properties
        let outgoing = message
        return try await withThrowingTaskGroup(of: AMQPMessage.self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { continuation in
                    self.waiting.withLockedValue { $0[id] = continuation }
                    Task {
                        do { try await self.sender.send(outgoing) } catch {
                            self.waiting.withLockedValue { $0.removeValue(forKey: id) }?.resume(throwing: error)
                        }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                self.waiting.withLockedValue { $0.removeValue(forKey: id) }?.resume(throwing: AMQPError(code: .timeout, message: "no reply within \(timeout)"))
                throw AMQPError(code: .timeout, message: "no reply within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    func shutdown() {
        reader.withLockedValue { $0 }?.cancel()
        for continuation in waiting.withLockedValue({ state in defer { state.removeAll() }; return Array(state.values) }) {
            continuation.resume(throwing: AMQPError(code: .connectionClosed, message: "the connection closed"))
        }
    }
}
