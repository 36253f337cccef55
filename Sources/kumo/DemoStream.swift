import AzureMessagingEventHubs
import Foundation
import KumoChangeFeed
import KumoKV

/// What the demo's change feed published to Event Hubs and read back.
struct StreamSummary: Encodable {
    var eventHubName: String
    var partitions: Int
    /// Events the feed published (a range deletion goes to every partition).
    var published: Int
    var batches: Int
    /// Distinct changes read back and checked against the write-ahead log.
    var received: Int
    var checkpoint: UInt64
    var checkpointLocation: String
}

/// The demo's change-feed step: the real feed publishes the store's changes since a sequence number to the
/// emulator's hub `kumo` and checkpoints them; then every partition is read back, and the decoded events must equal
/// the changes the store recorded, one for one.
enum DemoStream {
    static func publish(store: Store, since firstSequence: UInt64, connectionString: String, checkpointPath: String) async throws -> StreamSummary {
        let producer = try EventHubProducerClient(connectionString: connectionString)
        var configuration = ChangeFeedConfiguration()
        configuration.start = .sequence(firstSequence)
        configuration.partitioning = .separator(UInt8(ascii: ":"))
        // What the store recorded, read before the feed runs: once it has checkpointed, it releases the log.
        var expected: [String: ChangeRecord] = [:]
        let storeID = try store.identity
        for try await change in store.changes(since: firstSequence) {
            expected["\(storeID):\(change.batchSequenceNumber):\(change.sequenceNumber - change.batchSequenceNumber)"] = change
        }
        let checkpointStore = FileCheckpointStore(path: checkpointPath)
        let feed = try ChangeFeed(store: store, producer: producer, checkpointStore: checkpointStore, configuration: configuration)
        try await feed.run(until: try store.latestSequenceNumber)
        let statistics = feed.statistics
        var received: [String: ChangeEvent] = [:]
        let consumer = try EventHubConsumerClient(connectionString: connectionString)
        let partitions = try await producer.getPartitionIDs()
        for partition in partitions {
            let last = try await producer.getPartitionProperties(partitionID: partition).lastEnqueuedSequenceNumber
            guard last >= 0 else { continue }
            for try await event in consumer.events(partitionID: partition, startingAt: .earliest, options: ReadEventOptions(prefetchCount: 2000)) {
                let change = try ChangeEventFormat.decode(event.body)
                received[change.id] = change
                if event.sequenceNumber >= last { break }
            }
        }
        await consumer.close()
        await producer.close()

        guard received.count == expected.count else {
            throw KVError(.corruption, "the feed published \(received.count) distinct changes but the store recorded \(expected.count)")
        }
        for (id, record) in expected {
            guard let event = received[id], event.sequenceNumber == record.sequenceNumber, event.key == record.key,
                  event.data == record.value, event.endKey == record.endKey, event.columnFamily == record.columnFamily,
                  event.kind == ChangeEvent.Kind(record.operation)
            else {
                throw KVError(.corruption, "change \(id) (sequence \(record.sequenceNumber)) came back different from what the store recorded")
            }
        }
        return StreamSummary(
            eventHubName: producer.eventHubName, partitions: partitions.count, published: Int(statistics.eventsPublished),
            batches: Int(statistics.batchesSent), received: received.count, checkpoint: statistics.checkpoint,
            checkpointLocation: checkpointStore.location)
    }
}
