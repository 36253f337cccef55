import AzureEmulator
import Foundation
import KumoChangeFeed
import KumoKV
import Testing

/// `kumo changefeed run` killed with SIGKILL at random moments while this process writes to the store, restarted
/// each time; then Microsoft's Python consumer (azure-eventhub) reads the hub. Every sequence number arrives, per-key
/// order holds, and a change is seen twice only if it was in the round in flight when a feed was killed.
///
/// KUMO_FEED_KILLS sets the number of kills (20 by default; `scripts/soak-changefeed` runs more).
@Suite(.enabled(if: PythonPeer.python != nil, "needs .venv with azure-eventhub (scripts/python-env)"), .timeLimit(.minutes(10)))
struct CrashRecoveryTests {
    static let roundLimit: UInt64 = 200

    @Test func killedAtRandomMomentsTheFeedLosesNothing() async throws {
        let kills = ProcessInfo.processInfo.environment["KUMO_FEED_KILLS"].flatMap(Int.init) ?? 20
        try await withFeedEnvironment(partitions: 4) { environment in
            let directory = try ScratchDirectory("kumo-feed-crash")
            defer { directory.cleanUp() }
            var options = StoreOptions()
            options.walRetention = .untilReleased
            // Small memtables: flushes archive WAL files while the feed runs, so retention and release are exercised.
            options.writeBufferSize = 256 << 10
            let store = try await Store.open(at: directory.child("db"), options: options)
            let feedArguments = [
                "changefeed", "run", "--db", directory.child("db"), "--hub", environment.hub,
                "--connection-string", environment.connectionString, "--checkpoint", directory.child("feed.json"),
                "--follower-directory", directory.child("follower"), "--max-round-records", String(Self.roundLimit),
                "--progress-interval", "60", "--json",
            ]
            let writers = Writers(store: store)
            let writing = Task.detached { try await writers.run() }

            var random = SeededRandom(seed: 20_261_205)
            var checkpointsAtKills: [UInt64] = []
            for _ in 0..<kills {
                let feed = try FeedProcess(arguments: feedArguments, log: directory.child("feed.log"))
                try await Task.sleep(for: .milliseconds(Int.random(in: 150...900, using: &random)))
                feed.kill(SIGKILL)
                checkpointsAtKills.append(try await FileCheckpointStore(path: directory.child("feed.json")).read()?.sequenceNumber ?? 0)
            }
            writers.stop()
            try await writing.value
            let latest = try store.latestSequenceNumber

            // A last run catches up and stops gracefully on SIGTERM.
            let last = try FeedProcess(arguments: feedArguments, log: directory.child("feed.log"))
            while (try? await FileCheckpointStore(path: directory.child("feed.json")).read()?.sequenceNumber) ?? 0 < latest {
                #expect(last.isRunning, "the feed exited: \(FeedProcess.tail(directory.child("feed.log")))")
                guard last.isRunning else { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            let status = last.kill(SIGTERM)
            #expect(status == 0, "\(FeedProcess.tail(directory.child("feed.log")))")
            #expect(checkpointsAtKills.last ?? 0 > 0, "no feed checkpointed before it was killed")

            let events = try await PythonPeer.consume(connectionString: environment.connectionString, hub: environment.hub)
            #expect(events.allSatisfy { $0.contentType == ChangeEventFormat.contentType })
            let sequences = events.map(\.seq)
            #expect(Set(sequences) == Set(1...latest), "missing: \(Set(1...latest).subtracting(sequences).sorted().prefix(20))")
            // Duplicates: only changes re-sent after a kill, from the round that was in flight.
            var counts: [UInt64: Int] = [:]
            for sequence in sequences { counts[sequence, default: 0] += 1 }
            let duplicated = counts.filter { $0.value > 1 }.keys
            for sequence in duplicated {
                let resent = checkpointsAtKills.contains { sequence > $0 && sequence <= $0 + Self.roundLimit }
                #expect(resent, "sequence \(sequence) arrived \(counts[sequence]!) times but was in no round in flight at a kill")
            }
            // Per partition, each key's first sightings are in sequence order; a key never changes partition.
            var partitionOfKey: [String: String] = [:]
            for (partition, inPartition) in Dictionary(grouping: events, by: \.partition) {
                var seen: Set<UInt64> = []
                var lastByKey: [String: UInt64] = [:]
                for event in inPartition.sorted(by: { $0.hubSequenceNumber < $1.hubSequenceNumber }) where seen.insert(event.seq).inserted {
                    #expect(event.seq > lastByKey[event.key, default: 0], "key \(event.key): \(event.seq) after \(lastByKey[event.key, default: 0])")
                    lastByKey[event.key] = event.seq
                    #expect(partitionOfKey[event.key, default: partition] == partition)
                    partitionOfKey[event.key] = partition
                }
            }
            try store.close()
        }
    }
}

/// Two tasks writing puts and three-record batches to the store until stopped.
final class Writers: @unchecked Sendable {
    let store: Store
    private let lock = NSLock()
    private var stopped = false

    /// KUMO_FEED_WRITES_PER_PAUSE sets the write rate (writes between 10 ms pauses; 20 by default).
    let writesPerPause = max(1, ProcessInfo.processInfo.environment["KUMO_FEED_WRITES_PER_PAUSE"].flatMap(Int.init) ?? 20)

    init(store: Store) { self.store = store }

    func stop() { lock.withLock { stopped = true } }
    private var isStopped: Bool { lock.withLock { stopped } }

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<2 {
                group.addTask {
                    var counter = 0
                    while !self.isStopped {
                        counter += 1
                        let key = Array("w\(writer)/k\(counter % 64)".utf8)
                        if counter % 10 == 0 {
                            var batch = WriteBatch()
                            batch.put(key, Array("batch \(counter)".utf8))
                            batch.put(Array("w\(writer)/b\(counter % 7)".utf8), Array(repeating: 0x42, count: 100))
                            batch.delete(Array("w\(writer)/k\((counter + 1) % 64)".utf8))
                            try self.store.write(batch)
                        } else {
                            try self.store.put(key, Array("value \(counter)".utf8))
                        }
                        // Thousands of changes a second from the two writers, paced so the test process
                        // (emulator included) keeps a core for the feed.
                        if counter % self.writesPerPause == 0 { try await Task.sleep(for: .milliseconds(10)) }
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// A `kumo changefeed run` process, its output appended to a log file.
final class FeedProcess {
    private let process = Process()

    init(arguments: [String], log: String) throws {
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        output.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: PythonPeer.kumoExecutable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    @discardableResult
    func kill(_ signal: Int32) -> Int32 {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    static func tail(_ log: String) -> String {
        String(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(2000))
    }
}

/// Microsoft's Python SDK as the consumer, from the project's Python environment.
enum PythonPeer {
    struct Event: Decodable {
        var error: String?
        var partition: String
        var hubSequenceNumber: Int64
        var contentType: String?
        var id: String?
        var type: String?
        var seq: UInt64?
        var batchseq: UInt64?
        var key: String?
        var data: String?
    }

    /// The consumer's lines; a line reporting an event that is not a change fails the test with what it said.
    struct Change {
        var partition: String
        var hubSequenceNumber: Int64
        var contentType: String?
        var seq: UInt64
        var key: String
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static let python: String? = {
        let python = repositoryRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", "import azure.eventhub"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        guard (try? check.run()) != nil else { return nil }
        check.waitUntilExit()
        return check.terminationStatus == 0 ? python : nil
    }()

    /// The `kumo` executable built beside this test bundle.
    static var kumoExecutable: String {
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        if directory.pathExtension == "xctest" { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("kumo").path
    }

    /// Runs the consumer on a thread of its own, so waiting for it does not hold one of the few threads the
    /// in-process emulator serves it with.
    static func consume(connectionString: String, hub: String) async throws -> [Change] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try consumeBlocking(connectionString: connectionString, hub: hub) })
            }
        }
    }

    static func consumeBlocking(connectionString: String, hub: String) throws -> [Change] {
        guard let python else { throw PeerFailure(message: "no .venv with azure-eventhub") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            repositoryRoot.appendingPathComponent("Tests/KumoChangeFeedTests/Peers/changefeed_consumer.py").path, connectionString, hub,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PeerFailure(message: "the Python consumer exited \(process.terminationStatus): \(String(decoding: data.suffix(500), as: UTF8.self))")
        }
        let decoder = JSONDecoder()
        let events = try data.split(separator: UInt8(ascii: "\n")).map { try decoder.decode(Event.self, from: Data($0)) }
        if let bad = events.first(where: { $0.error != nil }) {
            throw PeerFailure(message: "partition \(bad.partition) event \(bad.hubSequenceNumber): \(bad.error!)")
        }
        return events.map { Change(partition: $0.partition, hubSequenceNumber: $0.hubSequenceNumber, contentType: $0.contentType, seq: $0.seq ?? 0, key: $0.key ?? "") }
    }
}

struct PeerFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
