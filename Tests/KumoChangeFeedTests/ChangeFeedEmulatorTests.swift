import AzureCore
import AzureEmulator
import AzureMessagingEventHubs
import Foundation
import KumoChangeFeed
import KumoKV
import ServiceLifecycle
import Logging
import Testing

/// The feed against a real store and the emulator's Event Hubs over sockets; every published event is read back
/// with Kumo's consumer and decoded. (Microsoft's Python consumer reads the feed in the crash tests.)
@Suite("Change feed: store to Event Hubs", .timeLimit(.minutes(3)))
struct ChangeFeedEmulatorTests {
    func openStore(_ directory: ScratchDirectory, families: [String] = ["users"], retention: StoreOptions.WALRetention = .untilReleased) async throws -> Store {
        var options = StoreOptions()
        options.columnFamilies = families
        options.walRetention = retention
        return try await Store.open(at: directory.child("db"), options: options)
    }

    func feed(
        _ store: Store, _ environment: FeedEnvironment, checkpoint: String, clientRetries: Bool = true,
        configure: (inout ChangeFeedConfiguration) -> Void = { _ in }
    ) throws -> ChangeFeed {
        var configuration = ChangeFeedConfiguration()
        configure(&configuration)
        let producer = clientRetries
            ? try environment.producer()
            : try EventHubProducerClient(
                connectionString: environment.connectionString, eventHubName: environment.hub,
                options: EventHubClientOptions(retryPolicy: .noRetry))
        return try ChangeFeed(
            store: store, producer: producer, checkpointStore: FileCheckpointStore(path: checkpoint), configuration: configuration)
    }

    @Test func publishesEveryChangeOnceInOrderPerKeyWithBatchesVisible() async throws {
        try await withFeedEnvironment { environment in
            let directory = try ScratchDirectory()
            defer { directory.cleanUp() }
            let store = try await openStore(directory)
            for index in 0..<200 { try store.put(bytes("k\(index % 17)"), bytes("v\(index)")) }
            var batch = WriteBatch()
            batch.put(bytes("u/1"), bytes("alice"), in: "users")
            batch.delete(bytes("k3"))
            batch.put([0xFF, 0x00, 0xFE], [0x01], in: "users")
            try store.write(batch)
            try store.deleteRange(from: bytes("k1"), to: bytes("k2"))
            try store.delete(bytes("k5"))
            let latest = try store.latestSequenceNumber

            let feed = try feed(store, environment, checkpoint: directory.child("feed.json"))
            let statistics = try await runFeedUntilCaughtUp(feed)
            #expect(statistics.checkpoint == latest)

            let published = try await environment.publishedEvents()
            let all = published.values.flatMap { $0 }
            // The range deletion goes to every partition; everything else exactly once.
            let ranges = all.filter { $0.kind == .deleteRange }
            #expect(ranges.count == 4)
            #expect(Set(ranges.map(\.id)).count == 1)
            let singles = all.filter { $0.kind != .deleteRange }
            #expect(singles.count + 1 == Int(latest))
            #expect(Set(singles.map(\.sequenceNumber)).union(ranges.map(\.sequenceNumber)) == Set(1...latest))
            // Per key, one partition, sequence numbers rising.
            var partitionOfKey: [[UInt8]: String] = [:]
            for (partition, events) in published {
                var lastByKey: [[UInt8]: UInt64] = [:]
                for event in events where event.kind != .deleteRange {
                    #expect(partitionOfKey[event.key, default: partition] == partition)
                    partitionOfKey[event.key] = partition
                    #expect(event.sequenceNumber > lastByKey[event.key, default: 0])
                    lastByKey[event.key] = event.sequenceNumber
                }
            }
            // The write batch: three records sharing a batch sequence number and size.
            let batchEvents = singles.filter { $0.batchSize == 3 }.sorted { $0.sequenceNumber < $1.sequenceNumber }
            #expect(batchEvents.map(\.batchIndex) == [0, 1, 2])
            #expect(Set(batchEvents.map(\.batchSequenceNumber)).count == 1)
            #expect(batchEvents.map(\.kind) == [.put, .delete, .put])
            #expect(batchEvents[0].columnFamily == "users" && batchEvents[0].data == bytes("alice"))
            // A key that is not UTF-8 keeps its bytes.
            #expect(batchEvents[2].key == [0xFF, 0x00, 0xFE])
            #expect(batchEvents[2].subject == "%FF%00%FE")
            let checkpoint = try #require(try await FileCheckpointStore(path: directory.child("feed.json")).read())
            #expect(checkpoint.sequenceNumber == latest)
            #expect(checkpoint.storeID == (try store.identity))
            #expect(checkpoint.eventsPublished == UInt64(all.count))
            try store.close()
        }
    }

    @Test func resumesFromItsCheckpointWithoutLossOrRepeats() async throws {
        try await withFeedEnvironment { environment in
            let directory = try ScratchDirectory()
            defer { directory.cleanUp() }
            let store = try await openStore(directory)
            for index in 0..<50 { try store.put(bytes("a\(index)"), bytes("1")) }
            _ = try await runFeedUntilCaughtUp(try feed(store, environment, checkpoint: directory.child("feed.json")))
            for index in 0..<70 { try store.put(bytes("b\(index)"), bytes("2")) }
            let second = try await runFeedUntilCaughtUp(try feed(store, environment, checkpoint: directory.child("feed.json")) {
                $0.start = .latest  // ignored: the checkpoint wins
            })
            #expect(second.eventsPublished == 70)
            let sequences = try await environment.publishedEvents().values.flatMap { $0.map(\.sequenceNumber) }
            #expect(sequences.sorted() == Array(1...120))
            try store.close()
        }
    }

    @Test func aValueLargerThanAnEventIsSplitIntoPartsThatReassemble() async throws {
        try await withFeedEnvironment(partitions: 2, maxMessageSize: 64 << 10) { environment in
            let directory = try ScratchDirectory()
            defer { directory.cleanUp() }
            let store = try await openStore(directory)
            var random = SeededRandom(seed: 7)
            let large = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &random) }
            try store.put(bytes("big"), large)
            try store.put(bytes("small"), bytes("after"))
            let statistics = try await runFeedUntilCaughtUp(try feed(store, environment, checkpoint: directory.child("feed.json")))
            #expect(statistics.valuesSplit == 1)
            let all = try await environment.publishedEvents().values.flatMap { $0 }
            let parts = all.filter { $0.key == bytes("big") }
            #expect(parts.count > 4)
            #expect(parts.map { $0.part?.number } == Array(1...parts.count).map { Optional($0) })
            #expect(parts.allSatisfy { $0.part?.count == parts.count && $0.part?.valueSize == large.count })
            #expect(Set(parts.map(\.id)).count == parts.count)
            #expect(parts.flatMap { $0.data ?? [] } == large)
            #expect(all.contains { $0.key == bytes("small") && $0.data == bytes("after") })
            try store.close()
        }
    }

    @Test func columnFamiliesCanBeIncludedOrExcludedAndADroppedFamilyIsPublishedByID() async throws {
        try await withFeedEnvironment(partitions: 1) { environment in
            let directory = try ScratchDirectory()
            defer { directory.cleanUp() }
            let store = try await openStore(directory, families: ["users", "cache", "temp"])
            try store.put(bytes("d"), bytes("1"))
            try store.put(bytes("u"), bytes("2"), in: "users")
            try store.put(bytes("c"), bytes("3"), in: "cache")
            try store.put(bytes("t"), bytes("4"), in: "temp")
            let tempID = try #require(store.columnFamilies.first { $0.name == "temp" })
            try store.dropColumnFamily(tempID)
            // Reopened, the store no longer knows the dropped family's name; its records stay in the log.
            try store.close()
            let reopened = try await openStore(directory, families: ["users", "cache"])
            let statistics = try await runFeedUntilCaughtUp(try feed(reopened, environment, checkpoint: directory.child("feed.json")) {
                $0.columnFamilies = .excluding(["cache"])
            })
            #expect(statistics.recordsSkipped == 1)
            #expect(statistics.checkpoint == 4)
            let events = try #require(try await environment.publishedEvents()["0"])
            #expect(events.map(\.key) == [bytes("d"), bytes("u"), bytes("t")])
            #expect(events.map(\.columnFamily) == ["default", "users", nil])
            #expect(events[2].columnFamilyID > 0)
            try reopened.close()
        }
    }

    @Test func anEmptyStoreAndAStoreOfOnlyDeletes() async throws {
        try await withFeedEnvironment(partitions: 2) { environment in
            let directory = try ScratchDirectory()
            defer { directory.cleanUp() }
            let store = try await openStore(directory)
            let empty = try await runFeedUntilCaughtUp(try feed(store, environment, checkpoint: directory.child("feed.json")))
            #expect(empty.checkpoint == 0)
            #expect(empty.eventsPublished == 0)
            #expect(try await FileCheckpointStore(path: directory.child("feed.json")).read()?.sequenceNumber == 0)
            for index in 0..<10 { try store.delete(bytes("gone\(index)")) }
            let deletes = try await runFeedUntilCaughtUp(try feed(store, environment, checkpoint: directory.child("feed.json")))
            #expect(deletes.checkpoint == 10)
            let all = try await environment.publishedEvents().values.flatMap { $0 }
            #expect(all.count == 10)
            #expect(all.allSatisfy { $0.kind == .delete && $0.data == nil })
            try store.close()
        }
    }

    @Test func aGapInTheWriteAheadLogStopsTheFeedNamingTheLostRange() async throws {
        try await withFeedEnvironment(partitions: 1) { environment in
            let directory = try ScratchDirectory()
            defer { directory.cleanUp() }
            let store = try await openStore(directory, retention: .none)
            for index in 0..<20 { try store.put(bytes("k\(index)"), bytes("v")) }
            try await store.flush()
            for index in 0..<5 { try store.put(bytes("n\(index)"), bytes("v")) }
            let feed = try feed(store, environment, checkpoint: directory.child("feed.json")) { $0.retainsWAL = false }
            do {
                try await feed.run()
                Issue.record("the feed ran over a gap")
            } catch let error as ChangeFeedError {
                #expect(error.code == .walGap)
                #expect(error.lostRange == 1...20)
                #expect(error.message.contains("sequences 1–20 are gone"))
                #expect(error.message.contains("--start-at"))
            }
            // Nothing was published and the checkpoint did not move.
            #expect(try await FileCheckpointStore(path: directory.child("feed.json")).read()?.sequenceNumber == 0)
            try store.close()
        }
    }

    @Test func faultsAndDroppedConnectionsLoseNothing() async throws {
        let faults = FaultInjection(errorRate: 0.1, dropRate: 0.1, operations: ["eventhubs-send"])
        try await withFeedEnvironment(partitions: 3, faults: faults) { environment in
            let directory = try ScratchDirectory()
            defer { directory.cleanUp() }
            let store = try await openStore(directory)
            // The client does not retry, so every fault reaches the feed, which must re-send the round.
            let feed = try feed(store, environment, checkpoint: directory.child("feed.json"), clientRetries: false) {
                $0.maxRoundRecords = 50
                $0.maxRetryDelay = .milliseconds(200)
            }
            let running = Task { try await feed.run() }
            for round in 0..<40 {
                for index in 0..<25 { try store.put(bytes("key\(index)"), bytes("\(round)")) }
                try await Task.sleep(for: .milliseconds(5))
            }
            let latest = try store.latestSequenceNumber
            while feed.statistics.checkpoint < latest { try await Task.sleep(for: .milliseconds(20)) }
            feed.stop()
            try await running.value
            #expect(feed.statistics.retries > 0)
            let published = try await environment.publishedEvents()
            let sequences = Set(published.values.flatMap { $0.map(\.sequenceNumber) })
            #expect(sequences == Set(1...latest))
            // Per key, the first time each sequence number appears, it appears in order.
            for events in published.values {
                var seen: Set<UInt64> = []
                var lastByKey: [[UInt8]: UInt64] = [:]
                for event in events where seen.insert(event.sequenceNumber).inserted {
                    #expect(event.sequenceNumber > lastByKey[event.key, default: 0])
                    lastByKey[event.key] = event.sequenceNumber
                }
            }
            try store.close()
        }
    }

    @Test func runsAsAServiceAndCheckpointsOnGracefulShutdown() async throws {
        try await withFeedEnvironment(partitions: 2) { environment in
            let directory = try ScratchDirectory()
            defer { directory.cleanUp() }
            let store = try await openStore(directory)
            let feed = try feed(store, environment, checkpoint: directory.child("feed.json"))
            let group = ServiceGroup(services: [ChangeFeedService(feed: feed)], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            for index in 0..<100 { try store.put(bytes("s\(index)"), bytes("v")) }
            while feed.statistics.checkpoint < 100 { try await Task.sleep(for: .milliseconds(10)) }
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(try await FileCheckpointStore(path: directory.child("feed.json")).read()?.sequenceNumber == 100)
            try store.close()
        }
    }
}
