import AMQP
import AzureCore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Options of a batch: where it goes and how large it may grow.
public struct CreateBatchOptions: Sendable {
    /// Send to this partition.
    public var partitionID: String?
    /// Let the hub hash this key to a partition, keeping events with the same key in order.
    public var partitionKey: String?
    /// A limit below the link's max-message-size.
    public var maximumSizeInBytes: Int?

    public init(partitionID: String? = nil, partitionKey: String? = nil, maximumSizeInBytes: Int? = nil) {
        self.partitionID = partitionID
        self.partitionKey = partitionKey
        self.maximumSizeInBytes = maximumSizeInBytes
    }
}

/// Publishes events to an event hub: to a partition, by partition key, or wherever the hub chooses.
///
/// Events go in batches (``EventDataBatch``) sized to what the hub accepts; a send returns once the hub has
/// acknowledged the whole batch, so a returned send is stored. Transient failures (server busy, a lost
/// connection) are retried with the client's ``EventHubClientOptions/retryPolicy``; after a lost connection a
/// batch the hub had not acknowledged is sent again, so it may be stored twice but never lost.
public final class EventHubProducerClient: Sendable {
    /// The namespace's host name.
    public var fullyQualifiedNamespace: String { connection.endpoint.fullyQualifiedNamespace }
    /// The hub this client publishes to.
    public var eventHubName: String { connection.endpoint.eventHubName }
    let connection: EventHubConnection
    private let senders = NIOLockedValueBox<[String: (generation: Int, sender: AMQPSender)]>([:])

    /// A client from a connection string as the Azure portal shows it (`Endpoint=sb://…;SharedAccessKeyName=…;
    /// SharedAccessKey=…[;EntityPath=…]`, or with `SharedAccessSignature=…`, or `UseDevelopmentEmulator=true`).
    /// - Throws: `AzureError` `.invalidArgument` naming what is wrong with the string or the hub name.
    public convenience init(connectionString: String, eventHubName: String? = nil, options: EventHubClientOptions = .init()) throws {
        let (endpoint, credential) = try EventHubEndpoint.parse(connectionString: connectionString, eventHubName: eventHubName)
        self.init(connection: EventHubConnection(endpoint: endpoint, credential: credential, options: options))
    }

    /// A client authorized by an Entra ID token credential (scope `https://eventhubs.azure.net/.default`).
    public convenience init(
        fullyQualifiedNamespace: String, eventHubName: String, credential: any TokenCredential, port: Int = 5671,
        useTLS: Bool = true, options: EventHubClientOptions = .init()
    ) {
        let endpoint = EventHubEndpoint(
            fullyQualifiedNamespace: fullyQualifiedNamespace, host: fullyQualifiedNamespace, port: port, useTLS: useTLS,
            eventHubName: eventHubName, checkpointNamespace: fullyQualifiedNamespace)
        self.init(connection: EventHubConnection(endpoint: endpoint, credential: .token(credential), options: options))
    }

    init(connection: EventHubConnection) {
        self.connection = connection
    }

    /// The hub's name, creation time and partition ids.
    public func getEventHubProperties() async throws -> EventHubProperties { try await connection.hubProperties() }

    /// The hub's partition ids.
    public func getPartitionIDs() async throws -> [String] { try await getEventHubProperties().partitionIDs }

    /// A partition's sequence numbers, offsets and last enqueued time.
    public func getPartitionProperties(partitionID: String) async throws -> PartitionProperties {
        try await connection.partitionProperties(partitionID)
    }

    /// An empty batch sized to the target link's max-message-size.
    /// - Throws: `AzureError` `.invalidArgument` when both a partition id and a partition key are given.
    public func createBatch(options: CreateBatchOptions = .init()) async throws -> EventDataBatch {
        if options.partitionID != nil && options.partitionKey != nil {
            throw AzureError(.invalidArgument, "a batch goes to a partition id or by a partition key, not both")
        }
        let sender = try await connection.withRetries("opening a sender to \(eventHubName)") { live in
            try await self.sender(for: options.partitionID, live: live)
        }
        var limit = sender.maxMessageSize > 0 ? Int(clamping: sender.maxMessageSize) : 1 << 20
        if let maximum = options.maximumSizeInBytes {
            guard maximum <= limit else {
                throw AzureError(.invalidArgument, "maximumSizeInBytes \(maximum) is larger than the hub's limit of \(limit) bytes")
            }
            limit = maximum
        }
        return EventDataBatch(partitionID: options.partitionID, partitionKey: options.partitionKey, maximumSizeInBytes: limit)
    }

    /// Sends a batch and waits for the hub's acknowledgement.
    /// - Throws: `AzureError` with the hub's condition (`amqp:not-found` for an unknown partition,
    ///   `amqp:link:message-size-exceeded`, `com.microsoft:server-busy` after the retries ran out, ...).
    public func send(_ batch: EventDataBatch) async throws {
        guard batch.count > 0 else { return }
        let payload = batch.encoded()
        let target = batch.partitionID.map { "partition \($0) of \(eventHubName)" } ?? eventHubName
        try await connection.withRetries("sending \(batch.count) events to \(target)") { live in
            let sender = try await self.sender(for: batch.partitionID, live: live)
            do {
                let outcome = try await sender.send(encoded: payload, messageFormat: EventDataBatch.messageFormat)
                try Self.check(outcome, target: target)
            } catch {
                // A link that failed is not used again; the retry attaches a new one.
                _ = self.senders.withLockedValue { $0.removeValue(forKey: batch.partitionID ?? "") }
                throw error
            }
        }
    }

    /// Sends events in as many batches as they need, in order.
    public func send(_ events: [EventData], options: CreateBatchOptions = .init()) async throws {
        var batch = try await createBatch(options: options)
        for event in events {
            if batch.tryAdd(event) { continue }
            guard batch.count > 0 else {
                throw AzureError(
                    .invalidArgument, "an event of \(event.body.count) bytes is larger than the hub's limit of \(batch.maximumSizeInBytes) bytes",
                    statusCode: 413, errorCode: "amqp:link:message-size-exceeded")
            }
            try await send(batch)
            batch = try await createBatch(options: options)
            if !batch.tryAdd(event) {
                throw AzureError(
                    .invalidArgument, "an event of \(event.body.count) bytes is larger than the hub's limit of \(batch.maximumSizeInBytes) bytes",
                    statusCode: 413, errorCode: "amqp:link:message-size-exceeded")
            }
        }
        try await send(batch)
    }

    /// Closes the connection. Sends in flight fail.
    public func close() async {
        await connection.close()
    }

    private static func check(_ outcome: AMQPDeliveryState?, target: String) throws {
        switch outcome {
        case .accepted?, nil:
            return
        case .rejected(let error)?:
            if let error { throw AMQPError.remote(error, code: .notAccepted) }
            throw AMQPError(code: .notAccepted, message: "\(target) rejected the batch")
        case let other?:
            throw AMQPError(code: .notAccepted, message: "\(target) answered the batch with \(other)")
        }
    }

    private func sender(for partitionID: String?, live: EventHubConnection.Live) async throws -> AMQPSender {
        let key = partitionID ?? ""
        if let cached = senders.withLockedValue({ $0[key] }), cached.generation == live.generation { return cached.sender }
        let endpoint = connection.endpoint
        try await connection.authorize(live, audience: endpoint.hubAudience)
        let address = partitionID.map { "\(endpoint.hubAddress)/Partitions/\($0)" } ?? endpoint.hubAddress
        let name = "sender-link-\(UUID().uuidString.lowercased())"
        let sender = try await live.session.attachSender(AMQPLinkOptions(
            name: name, source: AMQPSource(address: name), target: AMQPTarget(address: address),
            senderSettleMode: .unsettled, receiverSettleMode: .first))
        senders.withLockedValue { $0[key] = (live.generation, sender) }
        return sender
    }
}
