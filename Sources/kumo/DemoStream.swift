import AMQP
import AzureMessagingEventHubs
import Foundation
import KumoKV

/// What the demo streamed to Event Hubs.
struct StreamSummary: Encodable {
    var eventHubName: String
    var partitions: Int
    var sent: Int
    var batches: Int
    var received: Int
}

/// The demo's taste of the change feed: every change of the store since a sequence number, published to the
/// emulator's Event Hubs as one JSON event each, partitioned by key, then read back from every partition.
enum DemoStream {
    static func publish(store: Store, since firstSequence: UInt64, connectionString: String) async throws -> StreamSummary {
        let producer = try EventHubProducerClient(connectionString: connectionString)
        let partitions = try await producer.getPartitionIDs()
        var batches: [String: EventDataBatch] = [:]
        var sent = 0
        var sentBatches = 0
        for try await change in store.changes(since: firstSequence) {
            let key = String(decoding: change.key, as: UTF8.self)
            // The key picks the partition, so one key's changes stay in order.
            let partition = partitions[Int(stableHash(key) % UInt64(partitions.count))]
            let record: [String: Any] = [
                "op": change.operation.rawValue, "cf": change.columnFamily ?? "default", "key": key,
                "seq": change.sequenceNumber,
            ]
            let body = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
            let event = EventData(body: Array(body), contentType: "application/json")
            var batch: EventDataBatch
            if let existing = batches[partition] {
                batch = existing
            } else {
                batch = try await producer.createBatch(options: CreateBatchOptions(partitionID: partition))
            }
            if !batch.tryAdd(event) {
                try await producer.send(batch)
                sentBatches += 1
                batch = try await producer.createBatch(options: CreateBatchOptions(partitionID: partition))
                batch.tryAdd(event)
            }
            batches[partition] = batch
            sent += 1
        }
        for batch in batches.values where batch.count > 0 {
            try await producer.send(batch)
            sentBatches += 1
        }
        var received = 0
        let consumer = try EventHubConsumerClient(connectionString: connectionString)
        for partition in partitions {
            let last = try await producer.getPartitionProperties(partitionID: partition).lastEnqueuedSequenceNumber
            guard last >= 0 else { continue }
            for try await event in consumer.events(partitionID: partition, startingAt: .earliest, options: ReadEventOptions(prefetchCount: 2000)) {
                if event.event.contentType == "application/json" { received += 1 }
                if event.sequenceNumber >= last { break }
            }
        }
        await consumer.close()
        await producer.close()
        return StreamSummary(eventHubName: producer.eventHubName, partitions: partitions.count, sent: sent, batches: sentBatches, received: received)
    }

    /// FNV-1a of the key's bytes: the same key always maps to the same partition.
    static func stableHash(_ key: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}
