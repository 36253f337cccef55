import AzureCore
import AzureEmulator
import AzureStorageBlobs
import Foundation
import KumoBackup
import KumoKV
import Testing

@Suite("Repair and lost leases: damage is never hidden, nothing runs without the lock")
struct RepairAndLeaseTests {
    @Test(arguments: [false, true])
    func repairRestoresFromTheLiveStoreAndNamesWhatItCannot(encrypted: Bool) async throws {
        let scratch = Scratch()
        let kek: (any KeyEncryptionKey)? = encrypted ? try LocalKeyFileKEK.create(at: scratch.path + "/backup.key") : nil
        let engine = BackupEngine(target: try LocalDirectoryTarget(root: scratch.path + "/target"), keyEncryptionKey: kek)
        let store = try await Store.open(at: scratch.path + "/db")
        defer { try? store.close() }
        try addItems(store, from: 0, count: 2000)
        try await store.flush()
        let first = try await engine.create(store)
        try addItems(store, from: 2000, count: 2000)
        try await store.flush()
        let second = try await engine.create(store)
        // Compaction replaces the first backup's SSTs in the live store; the newest SST stays live.
        try await store.compactRange()
        let third = try await engine.create(store)

        let gone = try #require(first.files.first { $0.kind == .sst })
        let live = try #require(third.files.first { $0.kind == .sst })
        #expect(!third.files.map(\.path).contains(gone.path))
        try flipByte(scratch.path + "/target/" + gone.path, at: 50)
        try FileManager.default.removeItem(atPath: scratch.path + "/target/" + live.path)

        let dry = try await engine.repair(from: store, dryRun: true)
        #expect(Set(dry.damaged) == [gone.path, live.path])
        #expect(dry.repaired == [live.path])
        #expect(try await engine.verify(third.id).isSound == false, "a dry run changes nothing")

        let report = try await engine.repair(from: store)
        #expect(Set(report.damaged) == [gone.path, live.path])
        #expect(report.repaired == [live.path])
        let needGone = Set([first, second, third].filter { $0.files.contains { $0.path == gone.path } }.map(\.id))
        #expect(Set(report.unrestorable.keys) == needGone)
        #expect(report.unrestorable.values.allSatisfy { $0 == [gone.path] })
        #expect(try await engine.verify(third.id, deep: true).isSound)
        for id in needGone { #expect(try await engine.verify(id, deep: true).isSound == false) }

        let again = try await engine.repair(from: store)
        #expect(again.damaged == [gone.path] && again.repaired.isEmpty)
    }

    @Test func failedRenewalsStopTheBackup() async throws {
        let scratch = Scratch()
        // Every renewal fails (the service answers 500 or 503); acquiring and everything else works.
        let faults = FaultInjection(errorRate: 1, operations: ["lease-blob:renew"])
        let store = try await Store.open(at: scratch.path + "/db")
        defer { try? store.close() }
        try addItems(store, from: 0, count: 2000)
        try await withStartedEmulator(scratch.path + "/emulator", faults: faults) { port in
            var options = ClientOptions()
            options.retry = .exponential(maxRetries: 1, delay: .milliseconds(5))
            let container = try BlobServiceClient(connectionString: connectionString(port: port), options: options).containerClient("backups")
            try await container.create()
            var target = AzureBlobTarget(container: container, prefix: "kv", lockTimeout: .seconds(2))
            target.leaseRenewalInterval = .milliseconds(20)
            let engine = BackupEngine(target: target)
            let backup = try await #require(throws: BackupError.self) {
                // A slow checkpoint that does not look for cancellation: the work outlives the renewal and its retry
                // (503 answers carry Retry-After: 1).
                try await engine.create(store) { progress in
                    if progress.phase == .checkpoint { Thread.sleep(forTimeInterval: 3) }
                }
            }
            #expect(backup.code == .lockLost && backup.message.contains("rocksdb/.lock"), "\(backup.message)")
            #expect(try await engine.list().isEmpty, "no manifest was written without the lock")
        }
    }

    @Test func aLostLeaseStopsTheBackupAndNoManifestLands() async throws {
        let scratch = Scratch()
        // Slow uploads keep the backup running well past a few renewals.
        let faults = FaultInjection(latencyMilliseconds: 250, operations: ["put-blob", "put-block", "put-block-list"])
        try await withStartedEmulator(scratch.path + "/emulator", faults: faults) { port in
            var options = ClientOptions()
            options.retry = .exponential(maxRetries: 1, delay: .milliseconds(5))
            let service = try BlobServiceClient(connectionString: connectionString(port: port), options: options)
            let container = service.containerClient("backups")
            try await container.create()
            var target = AzureBlobTarget(container: container, prefix: "kv", lockTimeout: .seconds(2))
            target.leaseRenewalInterval = .milliseconds(200)
            let engine = BackupEngine(target: target, concurrency: 1)
            let store = try await Store.open(at: scratch.path + "/db")
            defer { try? store.close() }
            for round in 0..<4 {
                try addItems(store, from: round * 500, count: 500)
                try await store.flush()
            }
            // Another host breaks the lease while the backup runs (as an operator or a buggy peer might).
            let lock = container.blobClient("kv/rocksdb/.lock").leaseClient()
            let error = try await #require(throws: BackupError.self) {
                try await engine.create(store) { progress in
                    if progress.phase == .checkpoint { Task { try await lock.breakLease(periodSeconds: 0) } }
                }
            }
            #expect(error.code == .lockLost)
            #expect(error.message.contains("lost the lease on rocksdb/.lock"))
            #expect(try await engine.list().isEmpty, "no manifest was written without the lock")
            // The next run takes the lock again and succeeds.
            target.leaseRenewalInterval = .seconds(5)
            let backup = try await BackupEngine(target: target).create(store)
            #expect(try await engine.verify(backup.id).isSound)
        }
    }
}
