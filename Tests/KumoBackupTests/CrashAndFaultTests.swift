import AzureCore
import AzureEmulator
import AzureStorageBlobs
import EmulatorTestSupport
import Foundation
import KumoBackup
import KumoKV
import Testing

/// The `kumo` executable built beside this test bundle.
var kumoExecutable: String {
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    if directory.pathExtension == "xctest" { directory.deleteLastPathComponent() }
    return directory.appendingPathComponent("kumo").path
}

/// Runs `body` with an emulator in this process (storing in `data`), given its Blob port.
func withStartedEmulator<T: Sendable>(
    _ data: String, faults: FaultInjection = .none, _ body: (Int) async throws -> T
) async throws -> T {
    var configuration = EmulatorConfiguration(blobPort: 0, dataDirectory: data)
    configuration.faults = faults
    return try await withInProcessEmulator(configuration) { endpoints in try await body(endpoints.blobPort) }
}

func connectionString(port: Int) -> String {
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=\(StorageConnectionString.developmentAccountKey);BlobEndpoint=http://127.0.0.1:\(port)/devstoreaccount1;"
}

/// Adds `count` items and keeps the invariant that the key `count` equals the number of item keys.
func addItems(_ store: Store, from start: Int, count: Int) throws {
    for index in start..<(start + count) {
        var batch = WriteBatch()
        batch.put(bytes(String(format: "item%08d", index)), bytes(String(repeating: "x", count: 64)))
        batch.put(bytes("count"), bytes(String(index + 1)))
        try store.write(batch)
    }
}

func checkInvariant(_ path: String) async throws -> Int {
    let store = try await openRestored(path)
    defer { try? store.close() }
    let count = Int(String(decoding: try #require(try store.get(bytes("count"))), as: UTF8.self)) ?? -1
    let items = try store.withCursor(.prefix(bytes("item"))) { cursor in
        var n = 0
        while try cursor.next() != nil { n += 1 }
        return n
    }
    #expect(count == items)
    return items
}

@Suite("Backups survive SIGKILL and injected faults")
struct CrashAndFaultTests {
    @Test func killedBackupsLeaveOnlyRestorableBackups() async throws {
        let scratch = Scratch()
        // Added latency stretches each backup so kills land in the middle of its uploads.
        try await withStartedEmulator(scratch.path + "/emulator", faults: FaultInjection(latencyMilliseconds: 25)) { port in
            let connection = connectionString(port: port)
            try await BlobServiceClient(connectionString: connection).containerClient("backups").create()
            let dbPath = scratch.path + "/db"
            var written = 0
            var killed = 0
            var random = SplitMix(seed: 2026)
            for round in 0..<6 {
                let store = try await Store.open(at: dbPath)
                try addItems(store, from: written, count: 3000)
                written += 3000
                if round % 2 == 1 { try await store.flush() }
                try store.close()

                let process = Process()
                process.executableURL = URL(fileURLWithPath: kumoExecutable)
                process.arguments = ["backup", "create", "--db", dbPath, "--to", "azure://backups/crash", "--json"]
                var environment = ProcessInfo.processInfo.environment
                environment["AZURE_STORAGE_CONNECTION_STRING"] = connection
                process.environment = environment
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                // Kill at a random point: before, during or after the uploads (some runs finish first).
                try await Task.sleep(for: .milliseconds(100 + Int(random.next() % 600)))
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                if process.terminationReason == .uncaughtSignal { killed += 1 }
            }
            #expect(killed >= 3, "most runs are killed before they finish (\(killed) of 6 were)")

            // The next backup succeeds (after any lease the killed runs left expires) and reuses their uploads.
            var environment = ProcessInfo.processInfo.environment
            environment["AZURE_STORAGE_CONNECTION_STRING"] = connection
            let target = try BackupTargets.open("azure://backups/crash", environment: environment)
            let engine = BackupEngine(target: target)
            let store = try await Store.open(at: dbPath)
            let final = try await engine.create(store)
            try store.close()
            #expect(final.sequenceNumber == UInt64(written * 2))

            let backups = try await engine.list()
            #expect(backups.last?.id == final.id)
            for backup in backups {
                #expect(try await engine.verify(backup.id, deep: true).isSound, "\(backup.id)")
                let destination = scratch.path + "/restore-\(backup.id)"
                _ = try await engine.restore(backup.id, to: destination)
                let items = try await checkInvariant(destination)
                #expect(items > 0 && items % 3000 == 0)
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.contains(".kumo-backup-") }
            #expect(leftovers.isEmpty, "abandoned checkpoints are cleaned up: \(leftovers)")
        }
    }

    @Test func backupAndRestoreThroughFaults() async throws {
        let scratch = Scratch()
        let faults = FaultInjection(errorRate: 0.1, dropRate: 0.05)
        try await withStartedEmulator(scratch.path + "/emulator", faults: faults) { port in
            var options = ClientOptions()
            options.retry = .exponential(maxRetries: 10, delay: .milliseconds(5), maxDelay: .milliseconds(100))
            options.perTryTimeout = .seconds(10)
            let service = try BlobServiceClient(connectionString: connectionString(port: port), options: options)
            _ = try await service.containerClient("faulty").createIfNotExists()
            let engine = BackupEngine(target: AzureBlobTarget(container: service.containerClient("faulty"), prefix: "kv"))
            let store = try await Store.open(at: scratch.path + "/db")
            try addItems(store, from: 0, count: 20_000)
            let first = try await engine.create(store)
            try addItems(store, from: 20_000, count: 5_000)
            let second = try await engine.create(store)
            let expected = try snapshotContents(store)
            try store.close()
            _ = try await engine.restore(second.id, to: scratch.path + "/restored")
            let restored = try await openRestored(scratch.path + "/restored")
            #expect(try snapshotContents(restored) == expected)
            try restored.close()
            #expect(try await engine.verify(first.id, deep: true).isSound)
        }
    }
}
