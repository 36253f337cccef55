import AMQP
import AzureCore
import AzureEmulator
import AzureMessagingEventHubs
import AzureStorageBlobs
import EmulatorTestSupport
import Foundation
import Testing

/// Kumo's Event Hubs client against the emulator's Event Hubs service over real sockets. (Microsoft's Python SDK
/// judges the emulator in the conformance suite, so these two sides are each checked by an independent peer.)
@Suite("Event Hubs client against the emulator", .timeLimit(.minutes(3)))
struct EventHubsEmulatorTests {
    @Test func hubAndPartitionProperties() async throws {
        try await withEventHubs { connectionString, _ in
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            let hub = try await producer.getEventHubProperties()
            #expect(hub.name == "orders")
            #expect(hub.partitionIDs == ["0", "1", "2"])
            let empty = try await producer.getPartitionProperties(partitionID: "2")
            #expect(empty.isEmpty)
            #expect(empty.lastEnqueuedSequenceNumber == -1)
            #expect(empty.lastEnqueuedOffset == "-1")
            try await producer.send([EventData(string: "a"), EventData(string: "b")], options: CreateBatchOptions(partitionID: "2"))
            let after = try await producer.getPartitionProperties(partitionID: "2")
            #expect(!after.isEmpty)
            #expect(after.beginningSequenceNumber == 0)
            #expect(after.lastEnqueuedSequenceNumber == 1)
            await producer.close()
        }
    }

    @Test func sentEventsComeBackInOrderWithTheirProperties() async throws {
        try await withEventHubs { connectionString, _ in
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            let sent = (0..<50).map { index in
                EventData(
                    body: Array("event \(index) ✓".utf8), contentType: "text/plain", correlationID: "c\(index)", messageID: "m\(index)",
                    properties: ["index": .long(Int64(index)), "kind": .string("put")])
            }
            try await producer.send(sent, options: CreateBatchOptions(partitionID: "1"))
            await producer.close()
            let received = try await read(connectionString, partition: "1", count: 50)
            #expect(received.map(\.event) == sent)
            #expect(received.map(\.sequenceNumber) == Array(0..<50))
            #expect(Set(received.map(\.offset)).count == 50)
            #expect(received.allSatisfy { $0.partitionID == "1" })
        }
    }

    @Test func aPartitionKeyKeepsEventsOnOnePartitionInOrder() async throws {
        try await withEventHubs { connectionString, _ in
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            for index in 0..<5 {
                try await producer.send([EventData(string: "k\(index)")], options: CreateBatchOptions(partitionKey: "customer-7"))
            }
            var found: [ReceivedEventData] = []
            for partition in ["0", "1", "2"] {
                let count = try await producer.getPartitionProperties(partitionID: partition).lastEnqueuedSequenceNumber + 1
                if count > 0 { found += try await read(connectionString, partition: partition, count: Int(count)) }
            }
            await producer.close()
            #expect(Set(found.map(\.partitionID)).count == 1)
            #expect(found.map { $0.event.bodyAsString } == (0..<5).map { "k\($0)" })
            #expect(found.allSatisfy { $0.partitionKey == "customer-7" })
        }
    }

    @Test func everyStartingPosition() async throws {
        try await withEventHubs { connectionString, _ in
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            try await producer.send((0..<10).map { EventData(string: "e\($0)") }, options: CreateBatchOptions(partitionID: "0"))
            let all = try await read(connectionString, partition: "0", count: 10)
            func bodies(_ position: EventPosition, _ count: Int) async throws -> [String] {
                try await read(connectionString, partition: "0", count: count, from: position).map { $0.event.bodyAsString ?? "" }
            }
            #expect(try await bodies(.sequenceNumber(4, isInclusive: true), 6) == (4..<10).map { "e\($0)" })
            #expect(try await bodies(.sequenceNumber(4), 5) == (5..<10).map { "e\($0)" })
            #expect(try await bodies(.offset(all[7].offset, isInclusive: true), 3) == ["e7", "e8", "e9"])
            #expect(try await bodies(.offset(all[7].offset), 2) == ["e8", "e9"])
            #expect(try await bodies(.enqueuedTime(all[0].enqueuedTime.addingTimeInterval(-1)), 10).count == 10)
            // Latest: only what is sent after the reader attached. The reader's attach is not observable here,
            // so fresh events are sent until one arrives; none of the ten earlier ones may.
            let consumer = try EventHubConsumerClient(connectionString: connectionString, eventHubName: "orders")
            let arrived = Seen()
            let reader = Task {
                var iterator = consumer.events(partitionID: "0", startingAt: .latest).makeAsyncIterator()
                let body = try await iterator.next()?.event.bodyAsString
                await arrived.add(body ?? "")
                return body
            }
            var sent = 0
            while await arrived.all.isEmpty {
                try await producer.send([EventData(string: "fresh \(sent)")], options: CreateBatchOptions(partitionID: "0"))
                sent += 1
                try await Task.sleep(for: .milliseconds(100))
            }
            let first = try #require(try await reader.value)
            #expect(first.hasPrefix("fresh "))
            await consumer.close()
            await producer.close()
        }
    }

    @Test func aWrongKeyIsRefusedWithoutShowingIt() async throws {
        try await withEventHubs { connectionString, _ in
            let wrong = connectionString.replacingOccurrences(of: EventHubsConfiguration.developmentKey, with: "not-the-key-Zq9")
            let producer = try EventHubProducerClient(connectionString: wrong, eventHubName: "orders", options: EventHubClientOptions(retryPolicy: .noRetry))
            await #expect {
                _ = try await producer.getEventHubProperties()
            } throws: { error in
                guard let error = error as? AzureError else { return false }
                return error.code == .authentication && error.statusCode == 401 && error.errorCode == "com.microsoft:auth-failed"
                    && !error.description.contains("not-the-key-Zq9")
            }
            await producer.close()
        }
    }

    @Test func anUnknownHubIsNotFound() async throws {
        try await withEventHubs { connectionString, _ in
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "no-such-hub", options: EventHubClientOptions(retryPolicy: .noRetry))
            await #expect {
                try await producer.send([EventData(string: "x")])
            } throws: { error in
                (error as? AzureError)?.statusCode == 404 && (error as? AzureError)?.errorCode == "amqp:not-found"
            }
            await producer.close()
        }
    }

    @Test func anUnknownPartitionIsNotFound() async throws {
        try await withEventHubs { connectionString, _ in
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders", options: EventHubClientOptions(retryPolicy: .noRetry))
            await #expect {
                try await producer.send([EventData(string: "x")], options: CreateBatchOptions(partitionID: "9"))
            } throws: { error in
                (error as? AzureError)?.errorCode == "amqp:not-found" && ((error as? AzureError)?.message.contains("9") ?? false)
            }
            await producer.close()
        }
    }

    @Test func aHigherOwnerLevelTakesThePartition() async throws {
        try await withEventHubs { connectionString, _ in
            let first = try EventHubConsumerClient(connectionString: connectionString, eventHubName: "orders", options: EventHubClientOptions(retryPolicy: .noRetry))
            let second = try EventHubConsumerClient(connectionString: connectionString, eventHubName: "orders")
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            try await producer.send([EventData(string: "one")], options: CreateBatchOptions(partitionID: "0"))
            var low = first.events(partitionID: "0", options: ReadEventOptions(ownerLevel: 1)).makeAsyncIterator()
            #expect(try await low.next()?.event.bodyAsString == "one")
            var high = second.events(partitionID: "0", options: ReadEventOptions(ownerLevel: 2)).makeAsyncIterator()
            #expect(try await high.next()?.event.bodyAsString == "one")
            await #expect {
                _ = try await low.next()
            } throws: { error in
                (error as? AzureError)?.errorCode == "amqp:link:stolen"
            }
            await first.close()
            await second.close()
            await producer.close()
        }
    }

    @Test func anOversizedEventIsRefusedBeforeSending() async throws {
        try await withEventHubs { connectionString, _ in
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            var batch = try await producer.createBatch(options: CreateBatchOptions(partitionID: "0"))
            #expect(batch.maximumSizeInBytes == 1 << 20)
            let fits = batch.tryAdd(EventData(body: [UInt8](repeating: 7, count: 900_000)))
            #expect(fits)
            let tooMuch = batch.tryAdd(EventData(body: [UInt8](repeating: 8, count: 200_000)))
            #expect(!tooMuch)
            try await producer.send(batch)
            await #expect {
                try await producer.send([EventData(body: [UInt8](repeating: 9, count: 1_100_000))])
            } throws: { error in
                (error as? AzureError)?.errorCode == "amqp:link:message-size-exceeded"
            }
            let back = try await read(connectionString, partition: "0", count: 1)
            #expect(back.first?.body.count == 900_000)
            await producer.close()
        }
    }

    @Test func eventsSurviveAnEmulatorRestart() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withEventHubs(directory: directory) { connectionString, _ in
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            try await producer.send((0..<3).map { EventData(string: "kept \($0)") }, options: CreateBatchOptions(partitionID: "2"))
            await producer.close()
        }
        try await withEventHubs(directory: directory) { connectionString, _ in
            let events = try await read(connectionString, partition: "2", count: 3)
            #expect(events.map { $0.event.bodyAsString } == ["kept 0", "kept 1", "kept 2"])
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            try await producer.send([EventData(string: "after restart")], options: CreateBatchOptions(partitionID: "2"))
            let next = try await read(connectionString, partition: "2", count: 1, from: .sequenceNumber(2))
            #expect(next.first?.sequenceNumber == 3)
            await producer.close()
        }
    }

    @Test func sendsSurviveServerBusyAndDroppedConnections() async throws {
        try await withEventHubs(faults: FaultInjection(errorRate: 0.2, dropRate: 0.1)) { connectionString, _ in
            var options = EventHubClientOptions()
            options.retryPolicy = RetryPolicy(maxRetries: 10, delay: .milliseconds(10), maxDelay: .milliseconds(100))
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders", options: options)
            for index in 0..<40 {
                try await producer.send([EventData(string: "n\(index)")], options: CreateBatchOptions(partitionID: "1"))
            }
            await producer.close()
            let total = try await EventHubProducerClient(connectionString: connectionString, eventHubName: "orders", options: options)
                .getPartitionProperties(partitionID: "1").lastEnqueuedSequenceNumber + 1
            // At least once: a send whose acknowledgement was lost with its connection may be stored twice.
            let events = try await read(connectionString, partition: "1", count: Int(total))
            #expect(Set(events.compactMap { $0.event.bodyAsString }) == Set((0..<40).map { "n\($0)" }))
        }
    }

    @Test func processorsShareThePartitionsAndResumeFromCheckpoints() async throws {
        try await withEventHubs { connectionString, blob in
            let container = blob.containerClient("checkpoints")
            try await container.create()
            let store = BlobCheckpointStore(containerClient: container)
            let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: "orders")
            for partition in ["0", "1", "2"] {
                try await producer.send((0..<10).map { EventData(string: "p\(partition)-\($0)") }, options: CreateBatchOptions(partitionID: partition))
            }
            let seen = Seen()
            var processorOptions = EventProcessorOptions(loadBalancingInterval: .milliseconds(200), partitionOwnershipExpirationInterval: .seconds(5))
            processorOptions.loadBalancingStrategy = .greedy
            let a = try EventProcessorClient(checkpointStore: store, connectionString: connectionString, eventHubName: "orders", options: processorOptions)
            let run = Task {
                try await a.run { context in
                    // Counted once checkpointed, so stopping after the last count loses no checkpoint.
                    try await context.updateCheckpoint()
                    await seen.add(context.event.event.bodyAsString ?? "")
                }
            }
            try await seen.wait(for: 30)
            run.cancel()
            _ = await run.result
            #expect(await seen.all.count == 30)
            // A new processor resumes after the checkpoints: only new events.
            try await producer.send([EventData(string: "late")], options: CreateBatchOptions(partitionID: "1"))
            let later = Seen()
            let b = try EventProcessorClient(checkpointStore: store, connectionString: connectionString, eventHubName: "orders", options: processorOptions)
            let second = Task {
                try await b.run { context in
                    await later.add(context.event.event.bodyAsString ?? "")
                    try await context.updateCheckpoint()
                }
            }
            try await later.wait(for: 1)
            try await Task.sleep(for: .milliseconds(500))
            second.cancel()
            _ = await second.result
            let resumed = await later.all
            #expect(resumed == ["late"])
            let checkpoints = try await store.listCheckpoints(
                fullyQualifiedNamespace: try EventHubConnectionString(connectionString).fullyQualifiedNamespace + ":\(try EventHubConnectionString(connectionString).port)",
                eventHubName: "orders", consumerGroup: "$Default")
            #expect(checkpoints.count == 3)
            #expect(checkpoints.first { $0.partitionID == "1" }?.sequenceNumber == 10)
            await producer.close()
        }
    }
}

/// Collects processed events and waits for a number of them.
actor Seen {
    var all: [String] = []
    private var waiters: [(Int, CheckedContinuation<Void, Never>)] = []

    func add(_ body: String) {
        all.append(body)
        waiters.removeAll { count, continuation in
            guard all.count >= count else { return false }
            continuation.resume()
            return true
        }
    }

    func wait(for count: Int) async throws {
        if all.count >= count { return }
        await withCheckedContinuation { waiters.append((count, $0)) }
    }
}

func temporaryDirectory() throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-eh-\(UUID().uuidString.prefix(12))").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}

/// Runs `body` against an in-process emulator serving hub `orders` (3 partitions) on a free AMQP port, with its
/// Event Hubs connection string and a Blob service client of the same emulator.
func withEventHubs(
    directory: String? = nil, faults: FaultInjection = .none, _ body: @Sendable (String, BlobServiceClient) async throws -> Void
) async throws {
    let owned = directory == nil
    let directory = try directory ?? temporaryDirectory()
    defer { if owned { try? FileManager.default.removeItem(atPath: directory) } }
    var configuration = EmulatorConfiguration(
        blobPort: 0, dataDirectory: directory, eventHubs: EventHubsConfiguration(amqpPort: 0, hubs: [EventHubDefinition(name: "orders", partitionCount: 3)]))
    configuration.faults = faults
    try await withInProcessEmulator(configuration) { endpoints in
        let connectionString = try #require(endpoints.eventHubsConnectionString())
        let blob = try BlobServiceClient(
            connectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                + "AccountKey=\(StorageConnectionString.developmentAccountKey);BlobEndpoint=\(endpoints.blobEndpoint());")
        try await body(connectionString, blob)
    }
}

/// Reads `count` events of a partition from `position`.
func read(_ connectionString: String, partition: String, count: Int, from position: EventPosition = .earliest) async throws -> [ReceivedEventData] {
    let consumer = try EventHubConsumerClient(connectionString: connectionString, eventHubName: "orders")
    var events: [ReceivedEventData] = []
    for try await event in consumer.events(partitionID: partition, startingAt: position) {
        events.append(event)
        if events.count == count { break }
    }
    await consumer.close()
    return events
}
