import AzureCore
import AzureEmulator
import AzureStorageBlobs
import EmulatorTestSupport
import Foundation
import KumoBackup
import KumoKV
import Testing

final class Scratch: Sendable {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-backup-\(UUID().uuidString.prefix(10))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Every key and value of every column family.
func snapshotContents(_ store: Store) throws -> [String: [KeyValue]] {
    var all: [String: [KeyValue]] = [:]
    for family in store.columnFamilies {
        all[family.name] = try store.withCursor(in: family) { cursor in
            var entries: [KeyValue] = []
            while let entry = try cursor.next() { entries.append(entry) }
            return entries
        }
    }
    return all
}

func openRestored(_ path: String) async throws -> Store {
    var options = StoreOptions()
    options.createIfMissing = false
    return try await Store.open(at: path, options: options)
}

/// Runs `body` with a local-directory target and with an Azure target on an in-process emulator.
func withEachTarget(_ body: @Sendable (any BackupTarget, String) async throws -> Void) async throws {
    let scratch = Scratch()
    try await body(try LocalDirectoryTarget(root: scratch.path + "/target"), "local")

    try await withStartedEmulator(scratch.path + "/emulator") { port in
        var options = ClientOptions()
        options.retry = .exponential(maxRetries: 3, delay: .milliseconds(10))
        let service = try BlobServiceClient(connectionString: connectionString(port: port), options: options)
        let container = service.containerClient("backups")
        try await container.create()
        try await body(AzureBlobTarget(container: container, prefix: "prod/kv1", lockTimeout: .seconds(2)), "azure")
    }
}

@Suite("Backups: full, incremental, restore, verify, prune")
struct BackupTests {
    @Test func fullAndIncrementalChainsRestoreExactly() async throws {
        try await withEachTarget { target, kind in
            let scratch = Scratch()
            var options = StoreOptions()
            options.columnFamilies = ["users"]
            let store = try await Store.open(at: scratch.path + "/db", options: options)
            let engine = BackupEngine(target: target)
            var expected: [(id: String, contents: [String: [KeyValue]], sequence: UInt64)] = []
            for round in 0..<6 {
                var batch = WriteBatch()
                for index in 0..<2000 {
                    batch.put(bytes("k\(round)-\(index)"), bytes(String(repeating: "v\(round)", count: 20)))
                    if index % 7 == 0 { batch.put(bytes("u\(index)"), bytes("round \(round)"), in: "users") }
                }
                if round > 0 { batch.deleteRange(from: bytes("k\(round - 1)-0"), to: bytes("k\(round - 1)-5")) }
                try store.write(batch)
                if round == 3 { try await store.compactRange() }  // replaces SSTs that earlier backups reference
                let manifest = try await engine.create(store, label: "round \(round)")
                #expect(manifest.sequenceNumber == (try store.latestSequenceNumber), "\(kind)")
                // Round 3 compacts every SST into new ones, so only the rounds around it must reuse files.
                if round > 0 && round != 3 {
                    #expect(manifest.files.contains { !$0.uploaded && $0.kind == .sst }, "incremental backups reuse SSTs (\(kind), round \(round))")
                    #expect(manifest.uploadedBytes < manifest.totalBytes)
                }
                expected.append((manifest.id, try snapshotContents(store), manifest.sequenceNumber))
            }
            #expect(try await engine.list().map(\.id) == expected.map(\.id))
            for (index, backup) in expected.enumerated() {
                let destination = scratch.path + "/restore-\(index)"
                let report = try await engine.restore(backup.id, to: destination)
                #expect(report.sequenceNumber == backup.sequence)
                let restored = try await openRestored(destination)
                #expect(try snapshotContents(restored) == backup.contents, "backup \(index) on \(kind)")
                #expect(report.keyCounts["default"] == backup.contents["default"]?.count)
                try restored.close()
            }
            let latest = try await engine.restore("latest", to: scratch.path + "/latest")
            #expect(latest.backupID == expected.last?.id)
            try store.close()
        }
    }

    @Test func backupWhileWritersRunIsOneSequenceNumber() async throws {
        try await withEachTarget { target, kind in
            let scratch = Scratch()
            let store = try await Store.open(at: scratch.path + "/db")
            let engine = BackupEngine(target: target)
            let writers = Task {
                var index = 0
                while !Task.isCancelled {
                    var batch = WriteBatch()
                    // Each batch keeps the invariant: count == number of item keys.
                    batch.put(bytes(String(format: "item%08d", index)), bytes("x"))
                    batch.put(bytes("count"), bytes(String(index + 1)))
                    try store.write(batch)
                    index += 1
                    if index % 500 == 0 { await Task.yield() }
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            let manifest = try await engine.create(store)
            writers.cancel()
            _ = try? await writers.value
            let restored = scratch.path + "/restored"
            _ = try await engine.restore(manifest.id, to: restored)
            let copy = try await openRestored(restored)
            let count = Int(String(decoding: try #require(try copy.get(bytes("count"))), as: UTF8.self))
            let items = try copy.withCursor(.prefix(bytes("item"))) { cursor in
                var n = 0
                while try cursor.next() != nil { n += 1 }
                return n
            }
            #expect(count == items, "the restored store is one consistent point (\(kind))")
            #expect(try copy.latestSequenceNumber == manifest.sequenceNumber)
            try copy.close()
            try store.close()
        }
    }

    @Test func corruptionIsNamedAndRestoreWritesNothing() async throws {
        let scratch = Scratch()
        let target = try LocalDirectoryTarget(root: scratch.path + "/target")
        let store = try await Store.open(at: scratch.path + "/db")
        for index in 0..<3000 { try store.put(bytes("key\(index)"), bytes("value\(index)")) }
        let engine = BackupEngine(target: target)
        let manifest = try await engine.create(store)
        #expect(try await engine.verify(manifest.id).isSound)
        #expect(try await engine.verify(manifest.id, deep: true).isSound)

        // Flip one byte in the middle of a stored SST: sizes still match, checksums do not.
        let sst = try #require(manifest.files.first { $0.kind == .sst })
        let sstPath = scratch.path + "/target/" + sst.path
        var data = try Data(contentsOf: URL(fileURLWithPath: sstPath))
        data[data.count / 2] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: sstPath))
        #expect(try await engine.verify(manifest.id).isSound, "a shallow verify checks presence and size only")
        let deep = try await engine.verify(manifest.id, deep: true)
        #expect(deep.problems.count == 1 && deep.problems[0].contains(sst.name) && deep.problems[0].contains("SHA-256"))
        let destination = scratch.path + "/restored"
        let refused = try await #require(throws: BackupError.self) { try await engine.restore(manifest.id, to: destination) }
        #expect(refused.code == .corrupt && refused.message.contains(sst.name))
        #expect(!FileManager.default.fileExists(atPath: destination), "nothing is written into the restore directory")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).allSatisfy { !$0.hasPrefix(".kumo-restore") })

        // A missing file is named by a shallow verify.
        let current = try #require(manifest.files.first { $0.kind == .current })
        try FileManager.default.removeItem(atPath: scratch.path + "/target/" + current.path)
        let missing = try await engine.verify(manifest.id)
        #expect(missing.problems.contains { $0.contains("CURRENT") && $0.contains("missing") })

        // A truncated manifest is reported, not trusted.
        let manifestPath = scratch.path + "/target/" + BackupManifest.path(id: manifest.id, createdAt: manifest.createdAt)
        let text = try Data(contentsOf: URL(fileURLWithPath: manifestPath))
        try text.prefix(text.count / 2).write(to: URL(fileURLWithPath: manifestPath))
        let truncated = try await #require(throws: BackupError.self) { try await engine.restore(manifest.id, to: destination) }
        #expect(truncated.code == .corrupt && truncated.message.contains("manifest.json"))
        let prune = try await #require(throws: BackupError.self) { try await engine.prune(RetentionPolicy(keepLast: 1)) }
        #expect(prune.code == .corrupt)
        try store.close()
    }

    @Test func restoreRefusesANonEmptyDirectory() async throws {
        let scratch = Scratch()
        let engine = BackupEngine(target: try LocalDirectoryTarget(root: scratch.path + "/target"))
        let store = try await Store.open(at: scratch.path + "/db")
        try store.put(bytes("a"), bytes("b"))
        let manifest = try await engine.create(store)
        let occupied = scratch.path + "/occupied"
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: occupied + "/precious.txt"))
        let error = try await #require(throws: BackupError.self) { try await engine.restore(manifest.id, to: occupied) }
        #expect(error.code == .targetNotEmpty)
        #expect(try String(contentsOfFile: occupied + "/precious.txt", encoding: .utf8) == "keep")
        let missing = try await #require(throws: BackupError.self) { try await engine.restore("no-such-id", to: scratch.path + "/x") }
        #expect(missing.code == .notFound)
        try store.close()
    }

    @Test func twoBackupsOfOneTargetCannotRunAtOnce() async throws {
        try await withEachTarget { target, kind in
            let scratch = Scratch()
            let store = try await Store.open(at: scratch.path + "/db")
            try store.put(bytes("a"), bytes("b"))
            let engine = BackupEngine(target: target)
            try await target.withLock("rocksdb/.lock") {
                let error = try await #require(throws: BackupError.self) { try await engine.create(store) }
                #expect(error.code == .locked, "\(kind)")
            }
            _ = try await engine.create(store)  // the lock is free again
            try store.close()
        }
    }
}
