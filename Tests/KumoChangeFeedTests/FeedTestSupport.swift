import AzureCore
import AzureEmulator
import AzureMessagingEventHubs
import AzureStorageBlobs
import EmulatorTestSupport
import Foundation
import KumoChangeFeed
import KumoKV
import Testing

/// A fresh directory under the system's temporary directory, removed by `cleanUp()`.
struct ScratchDirectory {
    let path: String
    init(_ name: String = "kumo-feed") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(12))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func child(_ name: String) -> String { path + "/" + name }
    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// An in-process emulator serving hub `changes` with `partitions` partitions, and what a feed test needs of it.
struct FeedEnvironment: Sendable {
    let connectionString: String
    let blobService: BlobServiceClient
    let hub = "changes"

    func producer() throws -> EventHubProducerClient {
        try EventHubProducerClient(connectionString: connectionString, eventHubName: hub)
    }

    /// Every event in every partition, decoded, in each partition's order.
    func publishedEvents() async throws -> [String: [ChangeEvent]] {
        let producer = try producer()
        defer { Task { await producer.close() } }
        let consumer = try EventHubConsumerClient(connectionString: connectionString, eventHubName: hub)
        var result: [String: [ChangeEvent]] = [:]
        for partition in try await producer.getPartitionIDs() {
            let last = try await producer.getPartitionProperties(partitionID: partition).lastEnqueuedSequenceNumber
            result[partition] = []
            guard last >= 0 else { continue }
            for try await received in consumer.events(partitionID: partition, startingAt: .earliest, options: ReadEventOptions(prefetchCount: 500)) {
                #expect(received.event.contentType == ChangeEventFormat.contentType)
                result[partition, default: []].append(try ChangeEventFormat.decode(received.body))
                if received.sequenceNumber >= last { break }
            }
        }
        await consumer.close()
        return result
    }
}

func withFeedEnvironment(
    partitions: Int = 4, maxMessageSize: Int = 1 << 20, faults: FaultInjection = .none,
    _ body: @Sendable (FeedEnvironment) async throws -> Void
) async throws {
    let directory = try ScratchDirectory("kumo-feed-emulator")
    defer { directory.cleanUp() }
    var configuration = EmulatorConfiguration(
        blobPort: 0, dataDirectory: directory.path,
        eventHubs: EventHubsConfiguration(
            amqpPort: 0, hubs: [EventHubDefinition(name: "changes", partitionCount: partitions)], maxMessageSize: maxMessageSize))
    configuration.faults = faults
    try await withInProcessEmulator(configuration) { endpoints in
        let connectionString = try #require(endpoints.eventHubsConnectionString(eventHubName: "changes"))
        let blob = try BlobServiceClient(
            connectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                + "AccountKey=\(StorageConnectionString.developmentAccountKey);BlobEndpoint=\(endpoints.blobEndpoint());")
        try await body(FeedEnvironment(connectionString: connectionString, blobService: blob))
    }
}

/// Runs a feed until its checkpoint reaches the store's latest sequence number, then stops it gracefully.
func runFeedUntilCaughtUp(_ feed: ChangeFeed) async throws -> ChangeFeedStatistics {
    let target = try feed.store.latestSequenceNumber
    let outcome = Outcome()
    let running = Task {
        do {
            try await feed.run()
            outcome.set(nil)
        } catch {
            outcome.set(error)
            throw error
        }
    }
    while feed.statistics.checkpoint < target {
        if let ended = outcome.value {
            if let error = ended { throw error }
            Issue.record("the feed stopped at \(feed.statistics.checkpoint) before reaching \(target)")
            return feed.statistics
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    feed.stop()
    try await running.value
    return feed.statistics
}

/// How a background run ended: `nil` while running, `.some(nil)` for a clean return, `.some(error)` otherwise.
final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var ended: (any Error)??
    var value: (any Error)?? { lock.withLock { ended } }
    func set(_ error: (any Error)?) { lock.withLock { ended = .some(error) } }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
