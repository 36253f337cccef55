import AMQP
import AzureCore
import Foundation
import Logging

/// Options of reading a partition.
public struct ReadEventOptions: Sendable {
    /// An exclusive reader's level (epoch): a reader with a higher level takes the partition from readers with
    /// a lower or no level, which end with `amqp:link:stolen`.
    public var ownerLevel: Int64?
    /// How many events are fetched ahead of the reader; bounds the memory a slow reader holds.
    public var prefetchCount: UInt32
    /// Ask the hub for the partition's last enqueued event with every event.
    public var trackLastEnqueuedEventProperties: Bool

    public init(ownerLevel: Int64? = nil, prefetchCount: UInt32 = 300, trackLastEnqueuedEventProperties: Bool = false) {
        self.ownerLevel = ownerLevel
        self.prefetchCount = max(prefetchCount, 1)
        self.trackLastEnqueuedEventProperties = trackLastEnqueuedEventProperties
    }
}

/// Reads events from the partitions of an event hub for one consumer group.
public final class EventHubConsumerClient: Sendable {
    /// The consumer group every hub has.
    public static let defaultConsumerGroup = "$Default"

    public let consumerGroup: String
    public var fullyQualifiedNamespace: String { connection.endpoint.fullyQualifiedNamespace }
    public var eventHubName: String { connection.endpoint.eventHubName }
    let connection: EventHubConnection

    /// A client from a connection string (see ``EventHubProducerClient/init(connectionString:eventHubName:options:)``).
    public convenience init(
        consumerGroup: String = EventHubConsumerClient.defaultConsumerGroup, connectionString: String, eventHubName: String? = nil,
        options: EventHubClientOptions = .init()
    ) throws {
        let (endpoint, credential) = try EventHubEndpoint.parse(connectionString: connectionString, eventHubName: eventHubName)
        self.init(consumerGroup: consumerGroup, connection: EventHubConnection(endpoint: endpoint, credential: credential, options: options))
    }

    /// A client authorized by an Entra ID token credential.
    public convenience init(
        consumerGroup: String = EventHubConsumerClient.defaultConsumerGroup, fullyQualifiedNamespace: String, eventHubName: String,
        credential: any TokenCredential, port: Int = 5671, useTLS: Bool = true, options: EventHubClientOptions = .init()
    ) {
        let endpoint = EventHubEndpoint(
            fullyQualifiedNamespace: fullyQualifiedNamespace, host: fullyQualifiedNamespace, port: port, useTLS: useTLS,
            eventHubName: eventHubName, checkpointNamespace: fullyQualifiedNamespace)
        self.init(consumerGroup: consumerGroup, connection: EventHubConnection(endpoint: endpoint, credential: .token(credential), options: options))
    }

    init(consumerGroup: String, connection: EventHubConnection) {
        self.consumerGroup = consumerGroup
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

    /// The events of one partition from `position` on, as they arrive; the sequence never ends by itself.
    /// A lost connection is reopened and reading resumes after the last event returned, so none is skipped
    /// or repeated. It throws when the partition is taken by a reader with a higher owner level
    /// (`amqp:link:stolen`), the hub or partition does not exist (`amqp:not-found`), or retries run out.
    public func events(partitionID: String, startingAt position: EventPosition = .earliest, options: ReadEventOptions = .init()) -> PartitionEvents {
        PartitionEvents(client: self, partitionID: partitionID, position: position, options: options)
    }

    /// Closes the connection; sequences being read end with an error.
    public func close() async {
        await connection.close()
    }

    var consumerGroupAudience: String {
        "\(connection.endpoint.hubAudience)/consumergroups/\(consumerGroup.lowercased())"
    }

    func attachReceiver(partitionID: String, position: EventPosition, options: ReadEventOptions, live: EventHubConnection.Live) async throws -> AMQPReceiver {
        try await connection.authorize(live, audience: connection.endpoint.hubAudience)
        let address = "\(connection.endpoint.hubAddress)/ConsumerGroups/\(consumerGroup)/Partitions/\(partitionID)"
        let filter = [
            AMQPMapEntry(
                .symbol("apache.org:selector-filter:string"),
                .described(descriptor: .ulong(0x0000_468C_0000_0004), value: .string(position.filterExpression))),
        ]
        var properties: [AMQPMapEntry] = []
        if let ownerLevel = options.ownerLevel { properties.append(AMQPMapEntry(.symbol("com.microsoft:epoch"), .long(ownerLevel))) }
        let name = "receiver-link-\(UUID().uuidString.lowercased())"
        return try await live.session.attachReceiver(
            AMQPLinkOptions(
                name: name, source: AMQPSource(address: address, filter: filter), target: AMQPTarget(address: name),
                senderSettleMode: .unsettled, receiverSettleMode: .first, maxMessageSize: 1 << 20,
                properties: properties.isEmpty ? nil : properties,
                desiredCapabilities: options.trackLastEnqueuedEventProperties ? ["com.microsoft:enable-receiver-runtime-metric"] : nil),
            prefetch: options.prefetchCount)
    }
}

/// The events of one partition, read as they arrive (see ``EventHubConsumerClient/events(partitionID:startingAt:options:)``).
public struct PartitionEvents: AsyncSequence, Sendable {
    public typealias Element = ReceivedEventData

    let client: EventHubConsumerClient
    let partitionID: String
    let position: EventPosition
    let options: ReadEventOptions

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(client: client, partitionID: partitionID, position: position, options: options)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: EventHubConsumerClient
        let partitionID: String
        var position: EventPosition
        let options: ReadEventOptions
        var receiver: AMQPReceiver?
        var base: AMQPReceiver.AsyncIterator?
        var attempt = 0

        init(client: EventHubConsumerClient, partitionID: String, position: EventPosition, options: ReadEventOptions) {
            self.client = client
            self.partitionID = partitionID
            self.position = position
            self.options = options
        }

        public mutating func next() async throws -> ReceivedEventData? {
            let operation = "reading partition \(partitionID) of \(client.eventHubName)"
            let retry = client.connection.options.retryPolicy
            while true {
                if Task.isCancelled { return nil }
                do {
                    if base == nil {
                        let live = try await client.connection.live()
                        let receiver = try await client.attachReceiver(partitionID: partitionID, position: position, options: options, live: live)
                        self.receiver = receiver
                        base = receiver.makeAsyncIterator()
                    }
                    guard let delivery = try await base!.next() else {
                        if Task.isCancelled { return nil }
                        throw AMQPError(code: .linkDetached, message: "the link closed")
                    }
                    receiver?.settle(delivery)
                    let event = try ReceivedEventData(message: delivery.message(), partitionID: partitionID)
                    // Resume after this event if the link is lost.
                    position = .sequenceNumber(event.sequenceNumber, isInclusive: false)
                    attempt = 0
                    return event
                } catch {
                    base = nil
                    receiver = nil
                    let mapped = EventHubsErrors.map(error, operation: operation)
                    guard mapped.isRetriable, attempt < retry.maxRetries, !Task.isCancelled else { throw mapped }
                    let wait = retry.delay(attempt: attempt, serverHint: nil)
                    attempt += 1
                    client.connection.options.logger.warning("retrying \(operation) in \(EventHubsErrors.seconds(wait)) after \(mapped.message) (retry \(attempt) of \(retry.maxRetries))")
                    try await Task.sleep(for: wait)
                }
            }
        }
    }
}
