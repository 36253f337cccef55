import Foundation
@testable import KumoBackup
import KumoKV
import Testing

@Suite("Prune never deletes what a kept backup needs")
struct PruneTests {
    func manifest(_ id: String, _ date: Date) -> BackupManifest {
        BackupManifest(schema: 1, id: id, label: nil, createdAt: date, sequenceNumber: 0, columnFamilies: [], files: [],
                       kumoVersion: "", rocksDBVersion: "", sourceHost: "", sourcePath: "", durationSeconds: 0)
    }

    @Test func retentionKeepsLastDailyAndWeekly() {
        let day: TimeInterval = 86_400
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        // Two backups a day for 30 days.
        let backups = (0..<60).map { manifest(String(format: "b%02d", $0), start.addingTimeInterval(Double($0) * day / 2)) }
        let kept = RetentionPolicy(keepLast: 3, keepDaily: 7, keepWeekly: 4).kept(backups)
        #expect(kept.isSuperset(of: ["b59", "b58", "b57"]))
        // The newest of each of the last 7 days: odd indexes 47...59.
        #expect(kept.isSuperset(of: Set(stride(from: 47, through: 59, by: 2).map { String(format: "b%02d", $0) })))
        #expect(kept.count <= 3 + 7 + 4)
        #expect(RetentionPolicy(keepLast: 0).kept(backups).isEmpty)
    }

    /// Random histories of writes, compactions, backups and prunes: after every prune each kept backup still
    /// verifies deeply and restores to exactly what it held.
    @Test(arguments: [1, 2, 3])
    func randomHistoriesStayRestorable(seed: UInt64) async throws {
        var random = SplitMix(seed: seed)
        let scratch = Scratch()
        let target = try LocalDirectoryTarget(root: scratch.path + "/target")
        let engine = BackupEngine(target: target)
        let store = try await Store.open(at: scratch.path + "/db")
        var contents: [String: [String: [KeyValue]]] = [:]
        for step in 0..<14 {
            for _ in 0..<(Int(random.next() % 400) + 50) {
                let key = bytes("k\(random.next() % 3000)")
                if random.next() % 5 == 0 { try store.delete(key) } else { try store.put(key, bytes("s\(step)-\(random.next())")) }
            }
            if random.next() % 3 == 0 { try await store.compactRange() }
            let backup = try await engine.create(store)
            contents[backup.id] = try snapshotContents(store)
            if random.next() % 3 == 0 {
                let policy = RetentionPolicy(keepLast: Int(random.next() % 3) + 1)
                let dry = try await engine.prune(policy, dryRun: true)
                let report = try await engine.prune(policy)
                #expect(dry.deletedObjects == report.deletedObjects, "a dry run reports exactly what a prune deletes")
                #expect(Set(try await engine.list().map(\.id)) == Set(report.keptBackups))
            }
        }
        let remaining = try await engine.list()
        #expect(!remaining.isEmpty)
        let referenced = Set(remaining.flatMap { $0.files.map(\.path) })
        let stored = Set(try await target.list(prefix: "rocksdb/shared/").map(\.path))
        #expect(stored == referenced.filter { $0.hasPrefix("rocksdb/shared/") }, "no orphaned shared files remain")
        for backup in remaining {
            #expect(try await engine.verify(backup.id, deep: true).isSound)
            let destination = scratch.path + "/restore-\(backup.id)"
            _ = try await engine.restore(backup.id, to: destination)
            let restored = try await openRestored(destination)
            #expect(try snapshotContents(restored) == contents[backup.id])
            try restored.close()
        }
        try store.close()
    }

    @Test func deleteRemovesOnlyFilesNoOtherBackupNeeds() async throws {
        let scratch = Scratch()
        let engine = BackupEngine(target: try LocalDirectoryTarget(root: scratch.path + "/target"))
        let store = try await Store.open(at: scratch.path + "/db")
        for index in 0..<1000 { try store.put(bytes("a\(index)"), bytes("1")) }
        let first = try await engine.create(store)
        for index in 0..<1000 { try store.put(bytes("b\(index)"), bytes("2")) }
        let second = try await engine.create(store)
        let report = try await engine.delete(first.id)
        #expect(report.deletedBackups == [first.id])
        let shared = Set(second.files.filter { $0.kind == .sst }.map(\.path))
        #expect(report.deletedObjects.allSatisfy { !shared.contains($0) })
        #expect(try await engine.verify(second.id, deep: true).isSound)
        let missing = try await #require(throws: BackupError.self) { try await engine.delete(first.id) }
        #expect(missing.code == .notFound)
        try store.close()
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
