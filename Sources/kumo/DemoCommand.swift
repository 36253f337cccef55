import ArgumentParser
import Foundation
import KumoKV

/// Kumo's main job end to end on the embedded default: a store in a local directory.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Kumo end to end on a local store: load, change, checkpoint, verify, stream changes.",
        discussion: """
            Creates a store with two column families, loads keys in atomic batches, updates and deletes some, \
            flushes and lists the live SST files, takes a checkpoint and verifies that it holds exactly the \
            store's data, then reads every change back from the write-ahead log and checks it against the \
            writes made.
            """)

    @Option(help: "The store directory (created; must not exist). Default: a new temporary directory.")
    var db: String?
    @Option(help: "How many keys to load.") var keys: Int = 100_000
    @Flag(help: "Print a JSON summary instead of text.") var json = false
    @Flag(help: "Keep the store and checkpoint directories afterwards.") var keep = false

    func validate() throws {
        if keys < 100 { throw ValidationError("--keys must be at least 100, not \(keys)") }
        if let db, FileManager.default.fileExists(atPath: db) {
            throw ValidationError("--db \(db) already exists; the demo needs a new directory")
        }
    }

    func run() async throws {
        let base = db ?? FileManager.default.temporaryDirectory.appendingPathComponent("kumo-demo-\(UUID().uuidString.prefix(8))").path
        let checkpointPath = base + "-checkpoint"
        let say: (String) -> Void = { message in if !json { print(message) } }
        let started = Date()
        defer {
            if !keep {
                try? FileManager.default.removeItem(atPath: base)
                try? FileManager.default.removeItem(atPath: checkpointPath)
            }
        }

        var options = StoreOptions()
        options.columnFamilies = ["users", "orders"]
        let store = try await Store.open(at: base, options: options)
        say("1. created store \(base) with column families \(store.columnFamilies.map(\.name).joined(separator: ", "))")

        // Load: each batch writes a user and an order atomically, across two column families.
        let firstSequence = try store.latestSequenceNumber + 1
        let bar = ProgressBar("   loading", total: keys, enabled: !json && FileHandleOutput.standardErrorIsTerminal)
        var batch = WriteBatch()
        var expectedRecords = 0
        for index in 0..<keys {
            let id = String(format: "%08d", index)
            batch.put(Array("user:\(id)".utf8), Array("{\"name\":\"user \(index)\",\"plan\":\"\(index % 3)\"}".utf8), in: "users")
            batch.put(Array("order:\(id)".utf8), Array("{\"user\":\"\(id)\",\"total\":\(index % 997)}".utf8), in: "orders")
            if batch.count >= 1000 || index == keys - 1 {
                try store.write(batch)
                expectedRecords += batch.count
                batch.removeAll(keepingCapacity: true)
                bar.update(index + 1)
            }
        }
        bar.finish()
        say("2. loaded \(keys) users and \(keys) orders in atomic batches")

        // Change: updates, single deletes and one range deletion.
        for index in stride(from: 0, to: keys, by: 10) {
            try store.put(Array("user:\(String(format: "%08d", index))".utf8), Array("{\"plan\":\"pro\"}".utf8), in: "users")
            expectedRecords += 1
        }
        for index in stride(from: 5, to: keys, by: 50) {
            try store.delete(Array("order:\(String(format: "%08d", index))".utf8), in: "orders")
            expectedRecords += 1
        }
        try store.deleteRange(from: Array("order:00000000".utf8), to: Array("order:00000050".utf8), in: "orders")
        expectedRecords += 1
        say("3. updated every 10th user, deleted every 50th order and the range order:00000000..order:00000050")

        try await store.flush()
        let files = try store.liveFiles()
        say("4. flushed: \(files.count) live SST files, \(files.reduce(0) { $0 + $1.size }) bytes")
        for file in files.sorted(by: { ($0.columnFamily, $0.name) < ($1.columnFamily, $1.name) }) {
            say("     \(file.name)  \(file.columnFamily)  L\(file.level)  \(file.size) bytes  \(file.entries) entries")
        }

        let checkpoint = try await store.checkpoint(to: checkpointPath)
        say("5. checkpoint \(checkpoint.path) at sequence \(checkpoint.sequenceNumber)")
        let copy = try await Store.open(at: checkpoint.path, options: { var o = StoreOptions(); o.createIfMissing = false; return o }())
        var verified = 0
        for family in store.columnFamilies {
            let (count, equal) = try await compare(store, copy, family: family)
            guard equal else {
                throw KVError(.corruption, "checkpoint differs from the store in column family '\(family.name)'")
            }
            verified += count
        }
        try copy.close()
        say("6. verified: the checkpoint holds the same \(verified) keys as the store, byte for byte")

        var operations: [String: Int] = [:]
        var changeCount = 0
        var lastSequence: UInt64 = 0
        for try await change in store.changes(since: firstSequence) {
            operations[change.operation.rawValue, default: 0] += 1
            changeCount += 1
            lastSequence = change.sequenceNumber
        }
        guard changeCount == expectedRecords else {
            throw KVError(.corruption, "the write-ahead log holds \(changeCount) changes, but \(expectedRecords) were written")
        }
        let summaryOps = operations.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        say("7. change stream: \(changeCount) changes from sequence \(firstSequence) to \(lastSequence) (\(summaryOps)), all accounted for")

        let seconds = Date().timeIntervalSince(started)
        try store.close()
        if json {
            try printJSON(
                DemoSummary(
                    store: base, checkpoint: checkpoint.path, keysLoaded: keys * 2, liveSSTFiles: files.count,
                    checkpointSequence: checkpoint.sequenceNumber, verifiedKeys: verified, changes: changeCount,
                    changesByOperation: operations, seconds: seconds))
        } else {
            say(String(format: "done in %.1f s", seconds))
        }
    }

    /// Counts the keys of `family` in both stores and checks they are identical.
    private func compare(_ a: Store, _ b: Store, family: ColumnFamily) async throws -> (Int, Bool) {
        var left = a.scan(in: family).makeAsyncIterator()
        var right = b.scan(in: family).makeAsyncIterator()
        var count = 0
        while true {
            let l = try await left.next()
            let r = try await right.next()
            if l == nil && r == nil { return (count, true) }
            guard l == r else { return (count, false) }
            count += 1
        }
    }

    struct DemoSummary: Encodable {
        var store: String
        var checkpoint: String
        var keysLoaded: Int
        var liveSSTFiles: Int
        var checkpointSequence: UInt64
        var verifiedKeys: Int
        var changes: Int
        var changesByOperation: [String: Int]
        var seconds: Double
    }
}
