import AMQP
import AzureCore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Options of an event processor.
public struct EventProcessorOptions: Sendable {
    /// How often the processor lists ownership, renews its own and claims its share.
    public var loadBalancingInterval: Duration
    /// How long an ownership lasts without renewal.
    public var partitionOwnershipExpirationInterval: Duration
    public var loadBalancingStrategy: LoadBalancingStrategy
    /// Where a partition with no checkpoint starts.
    public var defaultStartingPosition: EventPosition
    /// How events are read from each partition.
    public var readOptions: ReadEventOptions
    /// This processor's owner id; unique per process by default.
    public var identifier: String
    public var clientOptions: EventHubClientOptions

    public init(
        loadBalancingInterval: Duration = .seconds(10), partitionOwnershipExpirationInterval: Duration = .seconds(30),
        loadBalancingStrategy: LoadBalancingStrategy = .balanced, defaultStartingPosition: EventPosition = .earliest,
        readOptions: ReadEventOptions = .init(), identifier: String = UUID().uuidString.lowercased(),
        clientOptions: EventHubClientOptions = .init()
    ) {
        self.loadBalancingInterval = loadBalancingInterval
        self.partitionOwnershipExpirationInterval = partitionOwnershipExpirationInterval
        self.loadBalancingStrategy = loadBalancingStrategy
        self.defaultStartingPosition = defaultStartingPosition
        self.readOptions = readOptions
        self.identifier = identifier
        self.clientOptions = clientOptions
    }
}

/// An event handed to an event processor's handler, with the means to checkpoint it.
public struct ProcessEventContext: Sendable {
    public let event: ReceivedEventData
    public var partitionID: String { event.partitionID }
    let store: any CheckpointStore
    let checkpointTemplate: Checkpoint

    /// Records this event as processed: after a restart or a hand-over, reading resumes after it.
    public func updateCheckpoint() async throws {
        var checkpoint = checkpointTemplate
        checkpoint.offset = event.offset
        checkpoint.sequenceNumber = event.sequenceNumber
        try await store.updateCheckpoint(checkpoint)
    }
}

/// Reads every partition of an event hub, spread over all processes that run a processor with the same
/// checkpoint store and consumer group, and resumes each partition from its checkpoint.
///
/// Each processor claims a fair share of the partitions (``PartitionLoadBalancer``) in the store, renews its
/// claims every ``EventProcessorOptions/loadBalancingInterval``, and reads the partitions it owns with an
/// owner level, so a partition taken over by another processor stops being read here. Checkpoints use
/// Microsoft's layout, so Microsoft's SDKs and Kumo resume from each other's.
public final class EventProcessorClient: Sendable {
    public let consumerGroup: String
    public let checkpointStore: any CheckpointStore
    public let options: EventProcessorOptions
    let consumer: EventHubConsumerClient

    /// A processor from a connection string.
    public init(
        checkpointStore: any CheckpointStore, consumerGroup: String = EventHubConsumerClient.defaultConsumerGroup,
        connectionString: String, eventHubName: String? = nil, options: EventProcessorOptions = .init()
    ) throws {
        self.consumerGroup = consumerGroup
        self.checkpointStore = checkpointStore
        self.options = options
        var clientOptions = options.clientOptions
        if clientOptions.identifier == nil { clientOptions.identifier = "EventProcessor-\(options.identifier)" }
        self.consumer = try EventHubConsumerClient(
            consumerGroup: consumerGroup, connectionString: connectionString, eventHubName: eventHubName, options: clientOptions)
    }

    /// The partitions this processor read in its last load-balancing cycle.
    public var ownedPartitionIDs: [String] { owned.withLockedValue { $0.keys.sorted() } }
    private let owned = NIOLockedValueBox<[String: Task<Void, Never>]>([:])

    /// Runs until the calling task is cancelled: balances partitions, reads the owned ones and calls `handler`
    /// for each event, in order per partition. When it stops it gives up its partitions, so others take them
    /// at once.
    /// - Parameters:
    ///   - handler: processes one event; call ``ProcessEventContext/updateCheckpoint()`` when it is done.
    ///   - errorHandler: hears failures of a partition's reading or of the handler; the partition is read again
    ///     from its checkpoint in the next cycle.
    public func run(
        handler: @escaping @Sendable (ProcessEventContext) async throws -> Void,
        errorHandler: @escaping @Sendable (String?, any Error) async -> Void = { _, _ in }
    ) async throws {
        let logger = options.clientOptions.logger
        let balancer = PartitionLoadBalancer(
            fullyQualifiedNamespace: consumer.connection.endpoint.checkpointNamespace, eventHubName: consumer.eventHubName,
            consumerGroup: consumerGroup, ownerID: options.identifier,
            ownershipExpirationInterval: options.partitionOwnershipExpirationInterval, strategy: options.loadBalancingStrategy)
        var partitionIDs: [String] = []
        var mine: [PartitionOwnership] = []
        defer {
            for task in owned.withLockedValue({ state in defer { state.removeAll() }; return Array(state.values) }) { task.cancel() }
        }
        while !Task.isCancelled {
            do {
                if partitionIDs.isEmpty { partitionIDs = try await consumer.getPartitionIDs() }
                let ownerships = try await checkpointStore.listOwnership(
                    fullyQualifiedNamespace: balancer.fullyQualifiedNamespace, eventHubName: balancer.eventHubName,
                    consumerGroup: consumerGroup)
                let plan = balancer.plan(ownerships: ownerships, partitionIDs: partitionIDs)
                let claimed = try await checkpointStore.claimOwnership(plan.ownershipsToClaim)
                mine = claimed.filter { $0.ownerID == options.identifier }
                try await adjustReaders(to: Set(mine.map(\.partitionID)), handler: handler, errorHandler: errorHandler)
            } catch is CancellationError {
                break
            } catch {
                logger.warning("event processor \(options.identifier): load balancing failed: \(error)")
                await errorHandler(nil, error)
            }
            do { try await Task.sleep(for: options.loadBalancingInterval) } catch { break }
        }
        let readers = owned.withLockedValue { state in defer { state.removeAll() }; return Array(state.values) }
        for task in readers { task.cancel() }
        for task in readers { await task.value }
        if !mine.isEmpty {
            _ = try? await checkpointStore.claimOwnership(balancer.relinquishing(mine))
        }
        await consumer.close()
    }

    private func adjustReaders(
        to partitions: Set<String>, handler: @escaping @Sendable (ProcessEventContext) async throws -> Void,
        errorHandler: @escaping @Sendable (String?, any Error) async -> Void
    ) async throws {
        let current = owned.withLockedValue { $0 }
        for (partition, task) in current where !partitions.contains(partition) {
            task.cancel()
            owned.withLockedValue { _ = $0.removeValue(forKey: partition) }
        }
        let checkpoints = try await checkpointStore.listCheckpoints(
            fullyQualifiedNamespace: consumer.connection.endpoint.checkpointNamespace, eventHubName: consumer.eventHubName, consumerGroup: consumerGroup)
        for partition in partitions.sorted() {
            if let running = current[partition], !running.isCancelled, owned.withLockedValue({ $0[partition] != nil }) { continue }
            let checkpoint = checkpoints.first { $0.partitionID == partition }
            let start: EventPosition
            if let sequence = checkpoint?.sequenceNumber {
                start = .sequenceNumber(sequence, isInclusive: false)
            } else if let offset = checkpoint?.offset {
                start = .offset(offset, isInclusive: false)
            } else {
                start = options.defaultStartingPosition
            }
            var readOptions = options.readOptions
            if readOptions.ownerLevel == nil { readOptions.ownerLevel = 0 }
            let template = Checkpoint(
                fullyQualifiedNamespace: consumer.connection.endpoint.checkpointNamespace, eventHubName: consumer.eventHubName,
                consumerGroup: consumerGroup, partitionID: partition)
            let events = consumer.events(partitionID: partition, startingAt: start, options: readOptions)
            let store = checkpointStore
            let task = Task { [owned] in
                do {
                    for try await event in events {
                        try await handler(ProcessEventContext(event: event, store: store, checkpointTemplate: template))
                    }
                } catch is CancellationError {
                } catch {
                    if !Task.isCancelled { await errorHandler(partition, error) }
                }
                // Read again from the checkpoint in the next cycle if still owned.
                owned.withLockedValue { _ = $0.removeValue(forKey: partition) }
            }
            owned.withLockedValue { $0[partition] = task }
        }
    }
}
