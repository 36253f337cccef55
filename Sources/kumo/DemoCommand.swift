import ArgumentParser
import Foundation
import KumoBackup
import KumoKV

/// Kumo's main job end to end on the embedded default: a store and its backups in local directories.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Kumo end to end: load a store, back it up (full, then incremental), restore, verify, stream changes.",
        discussion: """
            Creates a store with two column families and loads it in atomic batches, takes a full backup to a \
            local backup directory (file://), changes the store, takes an incremental backup (which uploads only \
            the new SST files), restores both backups into fresh directories and checks key by key that each \
            equals the store as it was when backed up, deep-verifies the newest backup, and reads every change \
            back from the write-ahead log.
            """)

    @Option(help: "The store directory (created; must not exist). Default: a new temporary directory.")
    var db: String?
    @Option(help: "Backup target URL. Default: file://<store>-backups.") var to: String?
    @Option(help: "How many users and orders to load.") var keys: Int = 100_000
    @Flag(help: "Print a JSON summary instead of text.") var json = false
    @Flag(help: "Keep the store, backups and restored directories afterwards.") var keep = false

    func validate() throws {
        if keys < 100 { throw ValidationError("--keys must be at least 100, not \(keys)") }
        if let db, FileManager.default.fileExists(atPath: db) {
            throw ValidationError("--db \(db) already exists; the demo needs a new directory")
        }
    }

    func run() async throws {
        let base = db ?? FileManager.default.temporaryDirectory.appendingPathComponent("kumo-demo-\(UUID().uuidString.prefix(8))").path
        let targetURL = to ?? "file://\(base)-backups"
        let restoredFull = base + "-restored-full"
        let restoredLatest = base + "-restored-latest"
        let say: (String) -> Void = { message in if !json { print(message) } }
        let started = Date()
        defer {
            if !keep {
                for path in [base, restoredFull, restoredLatest] { try? FileManager.default.removeItem(atPath: path) }
                if targetURL.hasPrefix("file://") { try? FileManager.default.removeItem(atPath: String(targetURL.dropFirst(7))) }
            }
        }

        var options = StoreOptions()
        options.columnFamilies = ["users", "orders"]
        let store = try await Store.open(at: base, options: options)
        say("1. created store \(base) with column families \(store.columnFamilies.map(\.name).joined(separator: ", "))")

        let firstSequence = try store.latestSequenceNumber + 1
        let bar = ProgressBar("   loading", total: keys, enabled: !json && FileHandleOutput.standardErrorIsTerminal)
        var batch = WriteBatch()
        var expectedChanges = 0
        for index in 0..<keys {
            let id = String(format: "%08d", index)
            batch.put(Array("user:\(id)".utf8), Array("{\"name\":\"user \(index)\",\"plan\":\"\(index % 3)\"}".utf8), in: "users")
            batch.put(Array("order:\(id)".utf8), Array("{\"user\":\"\(id)\",\"total\":\(index % 997)}".utf8), in: "orders")
            if batch.count >= 1000 || index == keys - 1 {
                try store.write(batch)
                expectedChanges += batch.count
                batch.removeAll(keepingCapacity: true)
                bar.update(index + 1)
            }
        }
        bar.finish()
        say("2. loaded \(keys) users and \(keys) orders in atomic cross-family batches")

        let engine = BackupEngine(target: try BackupTargets.open(targetURL))
        let progress = backupProgress(json: json)
        let full = try await engine.create(store, label: "full", progress: progress)
        let atFull = try await contents(of: store)
        say("3. full backup \(full.id) to \(engine.target.description): \(full.files.count) files, \(formatBytes(full.uploadedBytes)) uploaded, sequence \(full.sequenceNumber)")

        for index in stride(from: 0, to: keys, by: 100) {
            try store.put(Array("user:\(String(format: "%08d", index))".utf8), Array("{\"plan\":\"pro\"}".utf8), in: "users")
            expectedChanges += 1
        }
        for index in stride(from: 5, to: keys, by: 500) {
            try store.delete(Array("order:\(String(format: "%08d", index))".utf8), in: "orders")
            expectedChanges += 1
        }
        try store.deleteRange(from: Array("order:00000000".utf8), to: Array("order:00000050".utf8), in: "orders")
        expectedChanges += 1
        say("4. updated every 100th user, deleted every 500th order and the range order:00000000..order:00000050")

        let incremental = try await engine.create(store, label: "incremental", progress: progress)
        let reused = incremental.files.filter { !$0.uploaded }
        say("5. incremental backup \(incremental.id): uploaded \(formatBytes(incremental.uploadedBytes)) of \(formatBytes(incremental.totalBytes)); reused \(reused.count) SST files (\(formatBytes(incremental.totalBytes - incremental.uploadedBytes))) already stored")

        let fullReport = try await engine.restore(full.id, to: restoredFull)
        try await check(restoredFull, equals: atFull, what: "the full backup")
        let latestReport = try await engine.restore("latest", to: restoredLatest)
        try await check(restoredLatest, equals: try await contents(of: store), what: "the incremental backup")
        let restoredKeys = latestReport.keyCounts.values.reduce(0, +)
        say("6. restored both backups into fresh directories; each equals the store at its sequence number (\(fullReport.sequenceNumber), \(latestReport.sequenceNumber)), key for key: \(restoredKeys) keys in the latest")

        let verification = try await engine.verify("latest", deep: true)
        guard verification.isSound else {
            throw BackupError(.verificationFailed, verification.problems.joined(separator: "; "))
        }
        say("7. deep verify of \(verification.backupID): \(verification.filesChecked) files downloaded, SHA-256 checked, restored and opened")

        var changeCount = 0
        var operations: [String: Int] = [:]
        for try await change in store.changes(since: firstSequence) {
            changeCount += 1
            operations[change.operation.rawValue, default: 0] += 1
        }
        guard changeCount == expectedChanges else {
            throw KVError(.corruption, "the write-ahead log holds \(changeCount) changes, but \(expectedChanges) were written")
        }
        let summary = operations.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        say("8. change stream: all \(changeCount) changes since sequence \(firstSequence) read back from the write-ahead log (\(summary))")

        try store.close()
        let seconds = Date().timeIntervalSince(started)
        if json {
            try printJSON(
                DemoSummary(
                    store: base, target: engine.target.description, keysLoaded: keys * 2, fullBackup: BackupSummary(full),
                    incrementalBackup: BackupSummary(incremental), restoredKeys: restoredKeys, changes: changeCount,
                    changesByOperation: operations, seconds: seconds))
        } else {
            say(String(format: "done in %.1f s", seconds))
        }
    }

    private func contents(of store: Store) async throws -> [String: [KeyValue]] {
        var all: [String: [KeyValue]] = [:]
        for family in store.columnFamilies {
            var entries: [KeyValue] = []
            for try await entry in store.scan(in: family) { entries.append(entry) }
            all[family.name] = entries
        }
        return all
    }

    private func check(_ path: String, equals expected: [String: [KeyValue]], what: String) async throws {
        var options = StoreOptions()
        options.createIfMissing = false
        let restored = try await Store.open(at: path, options: options)
        defer { try? restored.close() }
        guard try await contents(of: restored) == expected else {
            throw BackupError(.verificationFailed, "the restore of \(what) at \(path) differs from the store it was taken from")
        }
    }

    struct DemoSummary: Encodable {
        var store: String
        var target: String
        var keysLoaded: Int
        var fullBackup: BackupSummary
        var incrementalBackup: BackupSummary
        var restoredKeys: Int
        var changes: Int
        var changesByOperation: [String: Int]
        var seconds: Double
    }
}
