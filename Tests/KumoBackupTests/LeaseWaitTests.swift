import AzureCore
import AzureEmulator
import AzureStorageBlobs
import Foundation
import KumoBackup
import Logging
import Synchronization
import Testing

/// A run that finds the target locked says so at once and names who holds the lock, in its log while it
/// waits and in the error when it gives up.
@Suite("Lock waits name the holder")
struct LeaseWaitTests {
    static let lockPath = "rocksdb/.lock"

    /// This process as a lock holder names itself: `<program> (pid <pid> on <host>, since <time>)`.
    static var thisProcess: String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let host = String(decoding: name.prefix { $0 != 0 }.map(UInt8.init), as: UTF8.self)
        return "(pid \(getpid()) on \(host), since "
    }

    @Test func aWaitForAnotherTargetsLockNamesItsHolderAndSoDoesTheTimeout() async throws {
        try await withBackupContainer { container in
            let holder = AzureBlobTarget(container: container, prefix: "kv")
            let recorder = WarningRecorder()
            var configured = AzureBlobTarget(container: container, prefix: "kv", lockTimeout: .seconds(2))
            configured.logger = recorder.logger
            let waiter = configured
            let error = try await holder.withLock(Self.lockPath) {
                try await #require(throws: BackupError.self) { try await waiter.withLock(Self.lockPath) { () } }
            }
            let program = URL(fileURLWithPath: CommandLine.arguments[0]).lastPathComponent
            #expect(error.code == .locked)
            #expect(error.message.contains("rocksdb/.lock is locked by \(program)"), "\(error.message)")
            #expect(error.message.contains(Self.thisProcess), "\(error.message)")
            #expect(error.message.hasSuffix("gave up after waiting 2 s"), "\(error.message)")

            // Whether a wait was logged before the timeout depends on how fast the first try came back; what a
            // logged wait says is checked where the test controls the wait (below).
            #expect(recorder.lines.allSatisfy { $0.hasPrefix("waiting for the lock of ") }, "\(recorder.lines)")
        }
    }

    /// A lease another host holds is named from what that host recorded in the lock blob's metadata.
    @Test func aLeaseHeldElsewhereIsNamedFromItsRecord() async throws {
        try await withBackupContainer { container in
            let lockBlob = container.blobClient("kv/" + Self.lockPath)
            try await lockBlob.upload([])
            let lease = lockBlob.leaseClient()
            try await lease.acquire(seconds: 60)
            _ = try await lockBlob.setMetadata(
                [
                    "kumoholderhost": "backup-7", "kumoholderpid": "4242", "kumoholdercommand": "kumo backup create",
                    "kumoholderstarted": "2026-12-04T03:00:00Z",
                ], conditions: BlobRequestConditions(leaseID: lease.leaseID))
            let recorder = WarningRecorder()
            var configured = AzureBlobTarget(container: container, prefix: "kv", lockTimeout: .seconds(1))
            configured.logger = recorder.logger
            let waiter = configured
            let error = try await #require(throws: BackupError.self) { try await waiter.withLock(Self.lockPath) { () } }
            let named = "kumo backup create (pid 4242 on backup-7, since 2026-12-04T03:00:00Z)"
            #expect(error.message.contains("rocksdb/.lock is locked by \(named); gave up after waiting 1 s"), "\(error.message)")

            // A patient waiter reports the wait, naming the holder, and takes the lock once it is released.
            let patientRecorder = WarningRecorder()
            var configuredPatient = AzureBlobTarget(container: container, prefix: "kv", lockTimeout: .seconds(120))
            configuredPatient.logger = patientRecorder.logger
            let patient = configuredPatient
            async let taken: Void = patient.withLock(Self.lockPath) { () }
            while patientRecorder.lines.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            try await lease.release()
            try await taken
            let line = try #require(patientRecorder.lines.first)
            #expect(line.contains("rocksdb/.lock is held by \(named), until at most "), "\(line)")
            try await lease.acquire(seconds: 60)

            // A lease whose taker recorded nothing is still reported, as such.
            try await lease.release()
            _ = try await lockBlob.setMetadata([:])
            try await lease.acquire(seconds: 60)
            let unnamed = try await #require(throws: BackupError.self) { try await waiter.withLock(Self.lockPath) { () } }
            #expect(unnamed.message.contains("is locked by a run that recorded no holder"), "\(unnamed.message)")
            try await lease.release()
        }
    }

    /// The waiter takes the lock once the holder lets go, after saying that it waits.
    @Test func theWaiterTakesTheLockOnceItIsReleased() async throws {
        try await withBackupContainer { container in
            let holder = AzureBlobTarget(container: container, prefix: "kv")
            let recorder = WarningRecorder()
            var configured = AzureBlobTarget(container: container, prefix: "kv", lockTimeout: .seconds(120))
            configured.logger = recorder.logger
            let waiter = configured
            let (held, holding) = AsyncStream.makeStream(of: Void.self)
            let finished = try await withThrowingTaskGroup(of: String.self) { group in
                group.addTask {
                    try await holder.withLock(Self.lockPath) {
                        holding.yield()
                        // Held until the waiter has reported its wait.
                        while recorder.lines.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
                        return "holder"
                    }
                }
                for await _ in held { break }
                group.addTask { try await waiter.withLock(Self.lockPath) { "waiter" } }
                var finished: [String] = []
                for try await name in group { finished.append(name) }
                return finished
            }
            #expect(finished == ["holder", "waiter"])
            let program = URL(fileURLWithPath: CommandLine.arguments[0]).lastPathComponent
            let first = try #require(recorder.lines.first)
            #expect(first.hasPrefix("waiting for the lock of \(waiter.description): rocksdb/.lock is held by \(program)"), "\(first)")
            #expect(first.contains(Self.thisProcess), "\(first)")
            #expect(first.contains(", until at most ") && first.contains(" if its holder stopped renewing; giving up at "), "\(first)")
        }
    }

    @Test func aHeldLocalLockNamesItsHolder() async throws {
        let scratch = Scratch()
        let holder = try LocalDirectoryTarget(root: scratch.path + "/target")
        let other = try LocalDirectoryTarget(root: scratch.path + "/target")
        let error = try await holder.withLock(Self.lockPath) {
            try await #require(throws: BackupError.self) { try await other.withLock(Self.lockPath) { () } }
        }
        let program = URL(fileURLWithPath: CommandLine.arguments[0]).lastPathComponent
        #expect(error.code == .locked)
        #expect(error.message.contains("/target/rocksdb/.lock is held by \(program) \(Self.thisProcess)"), "\(error.message)")
        // Released: the next run takes it.
        try await other.withLock(Self.lockPath) {}
    }

    private func withBackupContainer(_ body: @Sendable (BlobContainerClient) async throws -> Void) async throws {
        let scratch = Scratch()
        try await withStartedEmulator(scratch.path + "/emulator") { port in
            var options = ClientOptions()
            options.retry = .noRetry
            let container = try BlobServiceClient(connectionString: connectionString(port: port), options: options)
                .containerClient("backups")
            try await container.create()
            try await body(container)
        }
    }
}

/// Keeps the warnings a logger was given: what an operator sees at the CLI's default level.
final class WarningRecorder: Sendable {
    private let recorded = Mutex<[String]>([])

    var lines: [String] { recorded.withLock { $0 } }

    var logger: Logger { Logger(label: "test") { _ in Handler(recorder: self) } }

    struct Handler: LogHandler {
        let recorder: WarningRecorder
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            guard event.level >= .warning else { return }
            recorder.recorded.withLock { $0.append(event.message.description) }
        }
    }
}
