// kumo-changefeed-bench: the change feed measured the way scripts/bench-changefeed compares it with Microsoft's
// Python SDK (Benchmarks/ChangeFeedBenchmark/python_peer.py) on one emulator:
//   events      fill a fresh store with COUNT puts of SIZE-byte values and write the events the feed would publish
//               to EVENTS (partition<TAB>base64 body, for the Python peer); nothing is sent
//   throughput  fill a fresh store the same way, then time ChangeFeed.run(until:) from start to the last
//               acknowledged, checkpointed change: events/s, peak RSS, CPU seconds
//   latency     the feed running in this process while a writer puts at RATE writes/s for SECONDS, each value the
//               put's wall-clock time; a consumer on every partition notes receive time minus put time: p50, p99
//   burst       the feed running while COUNT puts arrive as fast as the store takes them (batches of 1,000): the
//               largest lag in changes (feed.statistics.lagSequences sampled every 100 ms, and the store's latest
//               sequence minus the checkpoint), seconds from the end of the burst until the checkpoint reaches the last
//               change, events/s over the whole, peak RSS, CPU seconds (run with --max-round-records to see the bound)
// Prints one JSON object. The connection string comes from AZURE_EVENTHUBS_CONNECTION_STRING.

import AzureMessagingEventHubs
import Foundation
import KumoChangeFeed
import KumoKV

#if canImport(Glibc)
import Glibc
#endif

func argument(_ name: String, default value: String) -> String {
    let arguments = CommandLine.arguments
    if let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count { return arguments[index + 1] }
    return value
}

func usage() -> (peakRSSKiB: Int, cpuSeconds: Double) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    return (Int(usage.ru_maxrss), cpu)
}

func emit(_ record: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func freshStore(_ path: String) async throws -> Store {
    try? FileManager.default.removeItem(atPath: path)
    var options = StoreOptions()
    options.walRetention = .untilReleased
    return try await Store.open(at: path, options: options)
}

func fill(_ store: Store, count: Int, size: Int, keys: Int = 10_000) throws {
    var batch = WriteBatch()
    let value = [UInt8](repeating: 0x76, count: size)
    for index in 0..<count {
        batch.put(Array(String(format: "user:%08d", index % keys).utf8), value)
        if batch.count == 1000 {
            try store.write(batch)
            batch.removeAll(keepingCapacity: true)
        }
    }
    if batch.count > 0 { try store.write(batch) }
}

@main
struct ChangeFeedBenchmark {
    static func main() async throws {
        guard CommandLine.arguments.count > 1, let connectionString = ProcessInfo.processInfo.environment["AZURE_EVENTHUBS_CONNECTION_STRING"] else {
            FileHandle.standardError.write(Data("usage: AZURE_EVENTHUBS_CONNECTION_STRING=… kumo-changefeed-bench events|throughput|latency|burst --hub H --db DIR [--count N] [--size S] [--events FILE] [--rate R] [--seconds S] [--max-round-records N]\n".utf8))
            exit(2)
        }
        let mode = CommandLine.arguments[1]
        let hub = argument("hub", default: "bench")
        let db = argument("db", default: NSTemporaryDirectory() + "kumo-changefeed-bench")
        let count = Int(argument("count", default: "200000"))!
        let size = Int(argument("size", default: "100"))!
        let producer = try EventHubProducerClient(connectionString: connectionString, eventHubName: hub)
        var configuration = ChangeFeedConfiguration()
        configuration.maxRoundRecords = Int(argument("max-round-records", default: "20000"))!
        let checkpoints = FileCheckpointStore(path: db + ".checkpoint.json")
        try? FileManager.default.removeItem(atPath: db + ".checkpoint.json")

        switch mode {
        case "events":
            let store = try await freshStore(db)
            try fill(store, count: count, size: size)
            let partitionIDs = try await producer.getPartitionIDs()
            try await writeEvents(of: store, to: argument("events", default: db + ".events"), partitionIDs: partitionIDs)
            try store.close()
            try? FileManager.default.removeItem(atPath: db)
        case "throughput":
            let store = try await freshStore(db)
            try fill(store, count: count, size: size)
            let feed = try ChangeFeed(store: store, producer: producer, checkpointStore: checkpoints, configuration: configuration)
            let before = usage().cpuSeconds
            let clock = ContinuousClock()
            let start = clock.now
            try await feed.run(until: try store.latestSequenceNumber)
            let elapsed = seconds(clock.now - start)
            let after = usage()
            emit([
                "mode": "throughput", "client": "kumo", "events": Int(feed.statistics.eventsPublished), "seconds": elapsed,
                "eventsPerSecond": Double(feed.statistics.eventsPublished) / elapsed, "batches": Int(feed.statistics.batchesSent),
                "peakRSSKiB": after.peakRSSKiB, "cpuSeconds": after.cpuSeconds - before,
            ])
            try store.close()
        case "latency":
            let rate = Double(argument("rate", default: "1000"))!
            let duration = Double(argument("seconds", default: "10"))!
            let store = try await freshStore(db)
            let feed = try ChangeFeed(store: store, producer: producer, checkpointStore: checkpoints, configuration: configuration)
            let outcome = FeedOutcome()
            let running = Task {
                do { try await feed.run() } catch { outcome.fail(error) }
            }
            let consumer = try EventHubConsumerClient(connectionString: connectionString, eventHubName: hub)
            let partitions = try await producer.getPartitionIDs()
            let total = Int(rate * duration)
            let latencies = try await withThrowingTaskGroup(of: [Double]?.self) { group in
                let received = ReceivedCount()
                for partition in partitions {
                    group.addTask {
                        var values: [Double] = []
                        var sequences: ClosedRange<UInt64>?
                        do {
                            for try await event in consumer.events(partitionID: partition, startingAt: .latest) {
                                let change = try ChangeEventFormat.decode(event.body)
                                guard let data = change.data, let sentAt = Double(String(decoding: data, as: UTF8.self)) else { continue }
                                values.append((Date().timeIntervalSince1970 - sentAt) * 1000)
                                sequences = sequences.map { min($0.lowerBound, change.sequenceNumber)...max($0.upperBound, change.sequenceNumber) } ?? change.sequenceNumber...change.sequenceNumber
                                if received.add() >= total { break }
                            }
                            if received.value < total && !Task.isCancelled {
                                FileHandle.standardError.write(Data("partition \(partition): the reader's stream ended after \(values.count) events\n".utf8))
                            }
                        } catch is CancellationError {
                        } catch where Task.isCancelled {
                        } catch {
                            FileHandle.standardError.write(Data("partition \(partition): \(error)\n".utf8))
                        }
                        if received.value < total {
                            FileHandle.standardError.write(Data("partition \(partition): \(values.count) events received, store sequences \(sequences.map { "\($0)" } ?? "none")\n".utf8))
                        }
                        return values
                    }
                }
                // Let the readers attach before the first write.
                try await Task.sleep(for: .seconds(1))
                let clock = ContinuousClock()
                let start = clock.now
                for index in 0..<total {
                    let due = start + .seconds(Double(index) / rate)
                    if clock.now < due { try await Task.sleep(until: due, clock: clock) }
                    try store.put(Array("key:\(index % 5000)".utf8), Array(String(Date().timeIntervalSince1970).utf8))
                }
                // A reader that saw its last event early waits on its partition: stop them all once every event is
                // in, 30 seconds after the last write, or as soon as the feed has stopped (the deadline answers nil).
                group.addTask {
                    for _ in 0..<300 where outcome.error == nil {
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    return nil
                }
                var all: [Double] = []
                var finished = 0
                while finished < partitions.count {
                    guard let result = try await group.next() else { break }
                    guard let values = result else {
                        group.cancelAll()
                        continue
                    }
                    all += values
                    finished += 1
                    if received.value >= total { group.cancelAll() }
                }
                group.cancelAll()
                return all.sorted()
            }
            feed.stop()
            await running.value
            await consumer.close()
            func percentile(_ p: Double) -> Double { latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            emit(["mode": "latency", "client": "kumo", "events": latencies.count, "expected": total, "rate": rate, "p50ms": percentile(0.5), "p99ms": percentile(0.99), "maxms": latencies.last ?? .nan, "feedError": outcome.error ?? NSNull()])
            try store.close()
        case "burst":
            let store = try await freshStore(db)
            let feed = try ChangeFeed(store: store, producer: producer, checkpointStore: checkpoints, configuration: configuration)
            let outcome = FeedOutcome()
            let running = Task {
                do { try await feed.run() } catch { outcome.fail(error) }
            }
            while feed.statistics.lastCheckpointAt == nil { try await Task.sleep(for: .milliseconds(10)) }
            let sampler = Task {
                var largest: UInt64 = 0
                var largestReported: UInt64 = 0
                while !Task.isCancelled {
                    let statistics = feed.statistics
                    largestReported = max(largestReported, statistics.lagSequences)
                    let latest = (try? store.latestSequenceNumber) ?? statistics.latestSequence
                    largest = max(largest, latest > statistics.checkpoint ? latest - statistics.checkpoint : 0)
                    try? await Task.sleep(for: .milliseconds(100))
                }
                return (largest, largestReported)
            }
            let before = usage().cpuSeconds
            let clock = ContinuousClock()
            let start = clock.now
            try fill(store, count: count, size: size, keys: 100_000)
            let burstEnded = clock.now
            let last = try store.latestSequenceNumber
            while feed.statistics.checkpoint < last, outcome.error == nil { try await Task.sleep(for: .milliseconds(10)) }
            let drained = clock.now
            sampler.cancel()
            let (largestLag, largestReportedLag) = await sampler.value
            feed.stop()
            await running.value
            let after = usage()
            emit([
                "mode": "burst", "client": "kumo", "events": count, "maxRoundRecords": configuration.maxRoundRecords,
                "burstSeconds": seconds(burstEnded - start), "drainSeconds": seconds(drained - burstEnded),
                "maxLag": Int(largestLag), "maxLagSequences": Int(largestReportedLag),
                "eventsPerSecond": Double(count) / seconds(drained - start),
                "peakRSSKiB": after.peakRSSKiB, "cpuSeconds": after.cpuSeconds - before,
                "checkpoint": Int(feed.statistics.checkpoint), "lastSequence": Int(last), "feedError": outcome.error ?? NSNull(),
            ])
            try store.close()
        default:
            FileHandle.standardError.write(Data("unknown mode \(mode)\n".utf8))
            exit(2)
        }
        await producer.close()
    }

    /// The events the feed will publish, as the Python peer sends them: partition, tab, base64 of the JSON body.
    static func writeEvents(of store: Store, to path: String, partitionIDs: [String]) async throws {
        let partitioner = ChangePartitioner(strategy: .wholeKey, partitionIDs: partitionIDs)
        let storeID = try store.identity
        let time = Date()
        // Written in chunks, so the file's size does not count in this process's peak memory.
        FileManager.default.createFile(atPath: path, contents: nil)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        var out = Data()
        for try await record in store.changes(since: 1) {
            let event = ChangeEvent(
                storeID: storeID, kind: ChangeEvent.Kind(record.operation), sequenceNumber: record.sequenceNumber,
                batchSequenceNumber: record.batchSequenceNumber, batchSize: record.batchSize,
                columnFamilyID: record.columnFamilyID, columnFamily: record.columnFamily, key: record.key,
                endKey: record.endKey, data: record.value, time: time)
            out.append(contentsOf: Array(partitioner.partitionID(for: record.key).utf8))
            out.append(UInt8(ascii: "\t"))
            out.append(contentsOf: Array(Data(ChangeEventFormat.encode(event)).base64EncodedString().utf8))
            out.append(UInt8(ascii: "\n"))
            if out.count >= 1 << 20 {
                try file.write(contentsOf: out)
                out.removeAll(keepingCapacity: true)
            }
        }
        try file.write(contentsOf: out)
    }
}

/// How a feed running in a task ended: the error it stopped with, if any.
final class FeedOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?
    func fail(_ error: any Error) {
        lock.withLock { message = "\(error)" }
        FileHandle.standardError.write(Data("the feed stopped: \(error)\n".utf8))
    }
    var error: String? { lock.withLock { message } }
}

/// Events the latency readers have seen, together.
final class ReceivedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() -> Int { lock.withLock { count += 1; return count } }
    var value: Int { lock.withLock { count } }
}
