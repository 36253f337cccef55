import AzureCore
import AzureEmulator
import AzureStorageBlobs
import Foundation
import KumoBackup
import KumoKV
import Synchronization
import Testing

/// A `kumo` process whose standard output and error are collected while it runs, so a test can wait for it to
/// reach a point (a line it prints, a directory it makes) and then signal it.
final class RunningKumo: Sendable {
    let process: Process
    private final class Collected: Sendable {
        let data = Mutex(Data())
        var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    }

    private let output = Collected()
    private let error = Collected()
    private let finishedReading = DispatchGroup()

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kumoExecutable)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged["KUMO_PROGRESS_INTERVAL"] = "0.05"
        for (name, value) in environment { merged[name] = value }
        process.environment = merged
        let outputPipe = Pipe()
        let errorPipe = Pipe()
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        self.process = process
        try process.run()
        // Read on dispatch threads: a blocking read on the cooperative pool could starve the in-process emulator.
        for (pipe, buffer) in [(outputPipe, output), (errorPipe, error)] {
            finishedReading.enter()
            DispatchQueue.global().async { [finishedReading] in
                while true {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    buffer.data.withLock { $0.append(chunk) }
                }
                finishedReading.leave()
            }
        }
    }

    var standardError: String { error.text }
    var standardOutput: String { output.text }

    /// Waits until `condition` holds; false if the process exited first.
    func wait(until condition: () -> Bool) async throws -> Bool {
        while !condition() {
            if !process.isRunning { return condition() }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the process to exit and for its output to be read; returns its exit status.
    func exitStatus() async -> Int32 {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        await withCheckedContinuation { continuation in
            finishedReading.notify(queue: .global()) { continuation.resume() }
        }
        return process.terminationStatus
    }
}

/// Ctrl-C and SIGTERM stop `kumo` cleanly: the transfers stop, the checkpoint or staging directory goes, the
/// backup lock is released, the report says what was and was not done, and the status is 130 or 143.
@Suite("Interrupted commands clean up after themselves")
struct InterruptTests {
    /// Puts and gets slow enough that a command is reliably in the middle of its transfers when it is signalled;
    /// a cancelled request does not wait for the delay.
    static let slowTransfers = FaultInjection(latencyMilliseconds: 3000, operations: ["put-blob", "put-block"])

    /// A store of several SST files beside nothing else in `scratch`.
    static func makeStore(_ path: String) async throws {
        let store = try await Store.open(at: path)
        for round in 0..<3 {
            try addItems(store, from: round * 2000, count: 2000)
            try await store.flush()
        }
        try store.close()
    }

    static func entries(_ directory: String, containing marker: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.contains(marker) }
    }

    static func leaseState(_ connection: String, container: String, blob: String) async throws -> LeaseState? {
        try await BlobServiceClient(connectionString: connection).containerClient(container).blobClient(blob).properties().leaseState
    }

    @Test(arguments: [(SIGINT, Int32(130), "interrupted by Ctrl-C (SIGINT)"), (SIGTERM, Int32(143), "stopped by SIGTERM")])
    func interruptedBackupRemovesItsCheckpointAndReleasesTheLease(signal: Int32, status: Int32, phrase: String) async throws {
        let scratch = Scratch()
        try await withStartedEmulator(scratch.path + "/emulator", faults: Self.slowTransfers) { port in
            let connection = connectionString(port: port)
            _ = try await BlobServiceClient(connectionString: connection).containerClient("backups").createIfNotExists()
            let db = scratch.path + "/db"
            try await Self.makeStore(db)
            let environment = ["AZURE_STORAGE_CONNECTION_STRING": connection]
            let run = try RunningKumo(["backup", "create", "--db", db, "--to", "azure://backups/int"], environment: environment)
            // The checkpoint exists from before the first upload until the backup ends.
            #expect(try await run.wait { !Self.entries(scratch.path, containing: "db.kumo-backup-").isEmpty })
            run.signal(signal)
            #expect(await run.exitStatus() == status)

            let report = run.standardError
            #expect(report.contains("\(phrase): "), "\(report)")
            #expect(report.contains("no backup was recorded (the manifest is written last)"), "\(report)")
            #expect(report.contains("removed the checkpoint \(db).kumo-backup-"), "\(report)")
            #expect(report.contains("released the lock on "), "\(report)")
            #expect(Self.entries(scratch.path, containing: ".kumo-backup-").isEmpty)
            #expect(try await Self.leaseState(connection, container: "backups", blob: "int/rocksdb/.lock") == .available)
            let target = try BackupTargets.open("azure://backups/int", environment: ["AZURE_STORAGE_CONNECTION_STRING": connection])
            #expect(try await BackupEngine(target: target).list().isEmpty)

            // The lock is free: the next backup takes it and finishes.
            let next = try RunningKumo(["backup", "create", "--db", db, "--to", "azure://backups/int"], environment: environment)
            #expect(await next.exitStatus() == 0, "\(next.standardError)")
            #expect(try await BackupEngine(target: target).list().count == 1)
        }
    }

    @Test func interruptedRestoreRemovesItsStagingDirectory() async throws {
        let scratch = Scratch()
        let slowReads = FaultInjection(latencyMilliseconds: 3000, operations: ["get-blob"])
        try await withStartedEmulator(scratch.path + "/emulator", faults: slowReads) { port in
            let connection = connectionString(port: port)
            _ = try await BlobServiceClient(connectionString: connection).containerClient("backups").createIfNotExists()
            let environment = ["AZURE_STORAGE_CONNECTION_STRING": connection]
            let target = try BackupTargets.open("azure://backups/int", environment: environment)
            try await Self.makeStore(scratch.path + "/db")
            let store = try await Store.open(at: scratch.path + "/db")
            let backup = try await BackupEngine(target: target).create(store)
            try store.close()

            let restores = scratch.path + "/restores"
            try FileManager.default.createDirectory(atPath: restores, withIntermediateDirectories: true)
            let destination = restores + "/db"
            let run = try RunningKumo(["backup", "restore", backup.id, "--from", "azure://backups/int", "--to", destination], environment: environment)
            // Downloads begin as soon as the staging directory exists.
            #expect(try await run.wait { !Self.entries(restores, containing: ".kumo-restore-").isEmpty })
            run.signal(SIGTERM)
            #expect(await run.exitStatus() == 143)

            let report = run.standardError
            #expect(report.contains("stopped by SIGTERM: "), "\(report)")
            #expect(report.contains("nothing was restored into \(destination)"), "\(report)")
            #expect(report.contains("removed the staging directory \(restores)/.kumo-restore-"), "\(report)")
            #expect(Self.entries(restores, containing: ".kumo-restore-").isEmpty)
            #expect(!FileManager.default.fileExists(atPath: destination))
        }
    }

    @Test func killedRestoreLeavesStagingThatTheNextRestoreRemovesAndNames() async throws {
        let scratch = Scratch()
        let slowReads = FaultInjection(latencyMilliseconds: 3000, operations: ["get-blob"])
        try await withStartedEmulator(scratch.path + "/emulator", faults: slowReads) { port in
            let connection = connectionString(port: port)
            _ = try await BlobServiceClient(connectionString: connection).containerClient("backups").createIfNotExists()
            let environment = ["AZURE_STORAGE_CONNECTION_STRING": connection]
            let target = try BackupTargets.open("azure://backups/int", environment: environment)
            try await Self.makeStore(scratch.path + "/db")
            let store = try await Store.open(at: scratch.path + "/db")
            let backup = try await BackupEngine(target: target).create(store)
            try store.close()

            let restores = scratch.path + "/restores"
            try FileManager.default.createDirectory(atPath: restores, withIntermediateDirectories: true)
            let killed = try RunningKumo(
                ["backup", "restore", backup.id, "--from", "azure://backups/int", "--to", restores + "/first"], environment: environment)
            #expect(try await killed.wait { !Self.entries(restores, containing: ".kumo-restore-").isEmpty })
            killed.signal(SIGKILL)
            _ = await killed.exitStatus()
            let leftovers = Self.entries(restores, containing: ".kumo-restore-")
            #expect(leftovers.count == 1, "a killed restore cannot clean up: \(leftovers)")

            // A restore into another directory beside it removes it, and says so.
            let next = try RunningKumo(
                ["backup", "restore", backup.id, "--from", "azure://backups/int", "--to", restores + "/second"], environment: environment)
            #expect(await next.exitStatus() == 0, "\(next.standardError)")
            for leftover in leftovers {
                #expect(next.standardError.contains("kumo: removed \(restores)/\(leftover) ("), "\(next.standardError)")
            }
            #expect(next.standardError.contains("the staging directory of a restore that did not finish"))
            #expect(Self.entries(restores, containing: ".kumo-restore-").isEmpty)
            #expect(try await checkInvariant(restores + "/second") == 6000)
        }
    }

    @Test func killedBackupLeavesACheckpointThatTheNextBackupRemovesAndNames() async throws {
        let scratch = Scratch()
        try await withStartedEmulator(scratch.path + "/emulator", faults: Self.slowTransfers) { port in
            let connection = connectionString(port: port)
            _ = try await BlobServiceClient(connectionString: connection).containerClient("backups").createIfNotExists()
            let db = scratch.path + "/db"
            try await Self.makeStore(db)
            let killed = try RunningKumo(
                ["backup", "create", "--db", db, "--to", "azure://backups/killed"], environment: ["AZURE_STORAGE_CONNECTION_STRING": connection])
            #expect(try await killed.wait { !Self.entries(scratch.path, containing: "db.kumo-backup-").isEmpty })
            killed.signal(SIGKILL)
            _ = await killed.exitStatus()
            let leftovers = Self.entries(scratch.path, containing: "db.kumo-backup-")
            #expect(leftovers.count == 1)

            // The killed run's lease outlives it for up to 15 seconds; a backup of the store to a local target
            // needs no lease and still sweeps the checkpoint beside the store.
            let next = try RunningKumo(["backup", "create", "--db", db, "--to", scratch.path + "/local"])
            #expect(await next.exitStatus() == 0, "\(next.standardError)")
            for leftover in leftovers {
                #expect(next.standardError.contains("kumo: removed \(scratch.path)/\(leftover) ("), "\(next.standardError)")
            }
            #expect(next.standardError.contains("the checkpoint of a backup that did not finish"))
            #expect(Self.entries(scratch.path, containing: ".kumo-backup-").isEmpty)
        }
    }

    @Test func aSecondSignalExitsAtOnce() async throws {
        let scratch = Scratch()
        // The lease's release is slow too, so the first signal's cleanup is still running when the second comes.
        let faults = FaultInjection(latencyMilliseconds: 3000, operations: ["put-blob", "put-block", "lease-blob:release"])
        try await withStartedEmulator(scratch.path + "/emulator", faults: faults) { port in
            let connection = connectionString(port: port)
            _ = try await BlobServiceClient(connectionString: connection).containerClient("backups").createIfNotExists()
            let db = scratch.path + "/db"
            try await Self.makeStore(db)
            let run = try RunningKumo(
                ["backup", "create", "--db", db, "--to", "azure://backups/twice"], environment: ["AZURE_STORAGE_CONNECTION_STRING": connection])
            #expect(try await run.wait { !Self.entries(scratch.path, containing: "db.kumo-backup-").isEmpty })
            run.signal(SIGINT)
            #expect(try await run.wait { run.standardError.contains("stopping and cleaning up") })
            run.signal(SIGINT)
            #expect(await run.exitStatus() == 130)
            #expect(run.standardError.contains("SIGINT again: exiting at once"), "\(run.standardError)")
        }
    }

    @Test func interruptedDownloadLeavesNoPartialFile() async throws {
        let scratch = Scratch()
        let slowReads = FaultInjection(latencyMilliseconds: 3000, operations: ["get-blob"])
        try await withStartedEmulator(scratch.path + "/emulator", faults: slowReads) { port in
            let connection = connectionString(port: port)
            let container = try BlobServiceClient(connectionString: connection).containerClient("files")
            _ = try await container.createIfNotExists()
            let content = [UInt8](repeating: 7, count: 256 * 1024)
            for index in 0..<12 { try await container.blobClient("dir/file\(index)").upload(content) }
            let destination = scratch.path + "/download"
            let run = try RunningKumo(
                ["blob", "download-prefix", "--container", "files", "--prefix", "dir/", "--to", destination, "--concurrency", "4"],
                environment: ["AZURE_STORAGE_CONNECTION_STRING": connection])
            // A download's partial file exists from before its first byte arrives.
            #expect(try await run.wait { !Self.entries(destination, containing: ".kumo-partial-").isEmpty })
            run.signal(SIGINT)
            #expect(await run.exitStatus() == 130)
            #expect(run.standardError.contains("interrupted by Ctrl-C (SIGINT): downloaded "), "\(run.standardError)")
            #expect(Self.entries(destination, containing: ".kumo-partial-").isEmpty)
            // Whatever has its own name is complete.
            for name in try FileManager.default.contentsOfDirectory(atPath: destination) {
                #expect(FileManager.default.contents(atPath: destination + "/" + name) == Data(content), "\(name)")
            }
        }
    }

    @Test func cancelledCreateIsInterruptedWithAnAccountAndReleasesTheLease() async throws {
        let scratch = Scratch()
        try await withStartedEmulator(scratch.path + "/emulator", faults: Self.slowTransfers) { port in
            let connection = connectionString(port: port)
            _ = try await BlobServiceClient(connectionString: connection).containerClient("backups").createIfNotExists()
            let target = try BackupTargets.open("azure://backups/lib", environment: ["AZURE_STORAGE_CONNECTION_STRING": connection])
            let engine = BackupEngine(target: target)
            let db = scratch.path + "/db"
            try await Self.makeStore(db)
            let store = try await Store.open(at: db)
            defer { try? store.close() }
            let (uploads, uploaded) = AsyncStream<Void>.makeStream()
            let task = Task {
                try await engine.create(store) { progress in
                    if progress.phase == .uploading { uploaded.yield() }
                }
            }
            // The first finished upload: the backup is in the middle of its transfers.
            var iterator = uploads.makeAsyncIterator()
            await iterator.next()
            task.cancel()
            let error = await #expect(throws: BackupError.self) { try await task.value }
            #expect(error?.code == .interrupted)
            let message = error?.message ?? ""
            #expect(message.hasPrefix("interrupted: uploaded "), "\(message)")
            #expect(message.contains("no backup was recorded"), "\(message)")
            #expect(message.contains("removed the checkpoint \(db).kumo-backup-"), "\(message)")
            #expect(message.contains("released the lock on "), "\(message)")
            #expect(Self.entries(scratch.path, containing: ".kumo-backup-").isEmpty)
            #expect(try await Self.leaseState(connection, container: "backups", blob: "lib/rocksdb/.lock") == .available)
            #expect(try await engine.list().isEmpty)
        }
    }
}
