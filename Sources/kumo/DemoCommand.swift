import ArgumentParser
import AzureCore
import AzureEmulator
import AzureIdentity
import AzureSecurityKeyVault
import AzureStorageBlobs
import Foundation
import KumoBackup
import KumoKV
import Logging

/// Kumo's main job end to end on the embedded default: a store, the local Azure emulator (Blob Storage,
/// Entra ID, Key Vault) in this process, encrypted backups to it, restores and the change stream.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Kumo end to end: load a store, back it up encrypted (full, then incremental), rotate the key, restore, verify, stream changes.",
        discussion: """
            Starts the local Azure emulator in this process (Blob Storage, Entra ID, Key Vault over HTTPS with \
            its own CA), signs in with its development application (client credentials), creates an RSA key in \
            Key Vault, creates a store with two column families and loads it in atomic batches, takes an \
            encrypted full backup to Blob Storage over HTTPS with an Entra ID token, changes the store, takes an \
            encrypted incremental backup (only new SST files are uploaded), rotates the key and re-wraps every \
            data key under the new version, restores both backups with the key found from their manifests and \
            checks key by key that each equals the store as it was when backed up, deep-verifies the newest \
            backup, and reads every change back from the write-ahead log. With --local, backups go to a local \
            directory encrypted with a local key file, and no emulator is started.
            """)

    @Option(help: "The store directory (created; must not exist). Default: a new temporary directory.")
    var db: String?
    @Option(help: "Backup target URL (with --local; default: file://<store>-backups).") var to: String?
    @Flag(help: "Back up to a local directory with a local key file instead of the emulator's Blob Storage and Key Vault.")
    var local = false
    @Option(help: "How many users and orders to load.") var keys: Int = 100_000
    @Flag(help: "Print a JSON summary instead of text.") var json = false
    @Flag(help: "Keep the store, backups and restored directories afterwards.") var keep = false

    func validate() throws {
        if keys < 100 { throw ValidationError("--keys must be at least 100, not \(keys)") }
        if let db, FileManager.default.fileExists(atPath: db) {
            throw ValidationError("--db \(db) already exists; the demo needs a new directory")
        }
        if to != nil && !local { throw ValidationError("--to goes with --local; without it the demo backs up to its own emulator") }
    }

    /// Where the demo's backups go and which key encrypts them.
    struct Destination {
        var engine: BackupEngine
        var description: String
        var rotate: () async throws -> any KeyEncryptionKey
        /// The emulator's endpoints, when the demo runs against it.
        var emulator: EmulatorSummary? = nil
        /// The emulator's Event Hubs namespace, to stream the changes to.
        var eventHubsConnectionString: String? = nil
    }

    func run() async throws {
        let base = db ?? FileManager.default.temporaryDirectory.appendingPathComponent("kumo-demo-\(UUID().uuidString.prefix(8))").path
        if local {
            try await run(base: base) { say in
                let targetURL = to ?? "file://\(base)-backups"
                let kek = try LocalKeyFileKEK.create(at: base + "-backup.key")
                say("0. local mode: backups to \(targetURL), encrypted with the local key file \(base)-backup.key")
                return Destination(
                    engine: BackupEngine(target: try BackupTargets.open(targetURL), keyEncryptionKey: kek),
                    description: "the local key file",
                    rotate: { try LocalKeyFileKEK.create(at: base + "-backup-2.key") })
            } cleanup: {
                try? FileManager.default.removeItem(atPath: base + "-backup.key")
                try? FileManager.default.removeItem(atPath: base + "-backup-2.key")
                let targetURL = to ?? "file://\(base)-backups"
                if targetURL.hasPrefix("file://") { try? FileManager.default.removeItem(atPath: String(targetURL.dropFirst(7))) }
            }
            return
        }
        let emulatorData = base + "-emulator"
        let (stream, continuation) = AsyncStream<EmulatorEndpoints>.makeStream()
        var configuration = EmulatorConfiguration(blobPort: 0, dataDirectory: emulatorData)
        // Shutting the in-process server down logs at error level; the demo's own output says what happened.
        configuration.logLevel = .critical
        let server = Task { [configuration] in
            defer { continuation.finish() }
            try await AzureEmulatorServer(configuration: configuration).run { (endpoints: EmulatorEndpoints) in continuation.yield(endpoints) }
        }
        defer { server.cancel() }
        var iterator = stream.makeAsyncIterator()
        guard let endpoints = await iterator.next() else {
            _ = try await server.value
            throw ValidationError("the emulator did not start")
        }
        try await run(base: base) { say in
            say("0. started the local Azure emulator: Blob Storage \(endpoints.blobHTTPSEndpoint()), Entra ID \(endpoints.authority), Key Vault \(endpoints.keyVaultURL) (CA \(endpoints.caCertificatePath))")
            let transport = try AsyncHTTPClientTransport(trustingCertificateAuthorities: [endpoints.caCertificatePath])
            // The emulator's development application; its secret is public and means nothing outside the emulator.
            let credential = try ClientSecretCredential(
                tenantID: endpoints.tenantID, clientID: ServicePrincipal.development.clientID,
                clientSecret: ServicePrincipal.development.clientSecret ?? "",
                options: TokenCredentialOptions(authorityHost: URL(string: endpoints.authorityHost), transport: transport),
                environment: [:])
            let vault = URL(string: endpoints.keyVaultURL)!
            let keys = try KeyClient(vaultURL: vault, credential: credential, transport: transport)
            let created = try await keys.createRSAKey(name: "demo-backup-kek", size: 3072)
            let keyURL = vault.appendingPathComponent("keys/demo-backup-kek")
            let kek = try await KeyVaultKeyEncryptionKey.open(keyURL, credential: credential, transport: transport)
            let service = try BlobServiceClient(
                endpoint: URL(string: endpoints.blobHTTPSEndpoint())!, credential: .token(credential), transport: transport)
            let container = service.containerClient("kumo-demo")
            _ = try await container.createIfNotExists()
            say("   signed in to Entra ID as \(ServicePrincipal.development.clientID) (client credentials); created the RSA-3072 key \(created.id?.absoluteString ?? keyURL.absoluteString) in Key Vault")
            let engine = BackupEngine(
                target: AzureBlobTarget(container: container, prefix: "kv1"), keyEncryptionKey: kek,
                keyResolver: KeyVaultKeyResolver(credential: credential, transport: transport))
            return Destination(
                engine: engine, description: "Key Vault key demo-backup-kek",
                rotate: {
                    _ = try await keys.rotateKey(name: "demo-backup-kek")
                    return try await KeyVaultKeyEncryptionKey.open(keyURL, credential: credential, transport: transport)
                },
                emulator: EmulatorSummary(
                    blobEndpoint: endpoints.blobHTTPSEndpoint(), authority: endpoints.authority,
                    keyVaultURL: endpoints.keyVaultURL, caCertificatePath: endpoints.caCertificatePath,
                    clientID: ServicePrincipal.development.clientID),
                eventHubsConnectionString: endpoints.eventHubsConnectionString(eventHubName: "kumo"))
        } cleanup: {}
        server.cancel()
        _ = await server.result
        if !keep { try? FileManager.default.removeItem(atPath: emulatorData) }
    }

    private func run(
        base: String, destination makeDestination: (@escaping (String) -> Void) async throws -> Destination,
        cleanup: () -> Void
    ) async throws {

        let restoredFull = base + "-restored-full"
        let restoredLatest = base + "-restored-latest"
        let steps = StepLog(printing: !json)
        let say: (String) -> Void = { message in steps.say(message) }
        let started = Date()
        defer {
            if !keep {
                for path in [base, restoredFull, restoredLatest, base + ".changefeed.json", base + ".changefeed.json.lock"] {
                    try? FileManager.default.removeItem(atPath: path)
                }
                cleanup()
            }
        }
        let destination = try await makeDestination(say)

        var options = StoreOptions()
        options.columnFamilies = ["users", "orders"]
        let store = try await Store.open(at: base, options: options)
        let familyNames = store.columnFamilies.map(\.name)
        say("1. created store \(base) with column families \(familyNames.joined(separator: ", "))")

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

        var engine = destination.engine
        let progress = backupProgress(json: json)
        let full = try await engine.create(store, label: "full", progress: progress)
        let atFull = try await contents(of: store)
        say("3. encrypted full backup \(full.id) to \(engine.target.description): \(full.files.count) files, \(formatBytes(full.uploadedBytes)) uploaded, sequence \(full.sequenceNumber); each file under its own AES-256-GCM data key, wrapped by \(destination.description) (\(full.files.first?.encryption?.dataKey.algorithm ?? "?"))")

        var usersUpdated = 0
        var ordersDeleted = 0
        for index in stride(from: 0, to: keys, by: 100) {
            try store.put(Array("user:\(String(format: "%08d", index))".utf8), Array("{\"plan\":\"pro\"}".utf8), in: "users")
            usersUpdated += 1
        }
        for index in stride(from: 5, to: keys, by: 500) {
            try store.delete(Array("order:\(String(format: "%08d", index))".utf8), in: "orders")
            ordersDeleted += 1
        }
        expectedChanges += usersUpdated + ordersDeleted
        try store.deleteRange(from: Array("order:00000000".utf8), to: Array("order:00000050".utf8), in: "orders")
        expectedChanges += 1
        say("4. updated every 100th user, deleted every 500th order and the range order:00000000..order:00000050")

        let incremental = try await engine.create(store, label: "incremental", progress: progress)
        let reused = incremental.files.filter { !$0.uploaded }
        say("5. incremental backup \(incremental.id): uploaded \(formatBytes(incremental.uploadedBytes)) of \(formatBytes(incremental.totalBytes)); reused \(reused.count) SST files (\(formatBytes(incremental.totalBytes - incremental.uploadedBytes))) already stored")

        let previousKeyID = engine.keyEncryptionKey?.id ?? ""
        let newKey = try await destination.rotate()
        let rewrapped = try await engine.rekey(to: newKey)
        engine.keyEncryptionKey = newKey
        say("6. rotated the key (new version \(newKey.id)) and re-wrapped \(rewrapped) data keys under it; no data uploaded again")

        let fullReport = try await engine.restore(full.id, to: restoredFull)
        try await check(restoredFull, equals: atFull, what: "the full backup")
        let latestReport = try await engine.restore("latest", to: restoredLatest)
        try await check(restoredLatest, equals: try await contents(of: store), what: "the incremental backup")
        let restoredKeys = latestReport.keyCounts.values.reduce(0, +)
        say("7. restored both backups into fresh directories; each equals the store at its sequence number (\(fullReport.sequenceNumber), \(latestReport.sequenceNumber)), key for key: \(restoredKeys) keys in the latest")

        let verification = try await engine.verify("latest", deep: true)
        guard verification.isSound else {
            throw BackupError(.verificationFailed, verification.problems.joined(separator: "; "))
        }
        say("8. deep verify of \(verification.backupID): \(verification.filesChecked) files downloaded, SHA-256 checked, restored and opened")

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
        say("9. change stream: all \(changeCount) changes since sequence \(firstSequence) read back from the write-ahead log (\(summary))")

        var streamed: StreamSummary?
        if let connectionString = destination.eventHubsConnectionString {
            let summary = try await DemoStream.publish(
                store: store, since: firstSequence, connectionString: connectionString, checkpointPath: base + ".changefeed.json")
            streamed = summary
            guard summary.received == changeCount else {
                throw KVError(.corruption, "\(changeCount) changes were written but the change feed delivered \(summary.received)")
            }
            say("10. change feed: published the \(changeCount) changes to Event Hubs as CloudEvents (hub kumo, \(summary.partitions) partitions by key prefix, \(summary.batches) batches, checkpoint \(summary.checkpoint) in \(summary.checkpointLocation)); read back, every event equals the change the store recorded")
        }

        try store.close()
        let seconds = Date().timeIntervalSince(started)
        if json {
            let restores = [(full, fullReport), (incremental, latestReport)].map { manifest, report in
                RestoreCheck(
                    backupID: report.backupID, label: manifest.label, directory: report.path,
                    sequenceNumber: report.sequenceNumber, keys: report.keyCounts.values.reduce(0, +),
                    keyCounts: report.keyCounts, bytes: report.bytes, equalsStoreAtBackup: true)
            }
            try printJSON(
                DemoSummary(
                    mode: local ? "local" : "emulator", emulator: destination.emulator, store: base,
                    columnFamilies: familyNames, target: engine.target.description,
                    keyEncryptionKey: destination.description, keysLoaded: keys * 2, fullBackup: BackupSummary(full),
                    changesMade: ChangesMade(
                        usersUpdated: usersUpdated, ordersDeleted: ordersDeleted,
                        rangeDeleted: "order:00000000..order:00000050"),
                    incrementalBackup: BackupSummary(incremental),
                    keyRotation: KeyRotation(previousKeyID: previousKeyID, newKeyID: newKey.id, rewrappedDataKeys: rewrapped),
                    restores: restores, restoredKeys: restoredKeys, deepVerify: DeepVerification(verification),
                    changeStream: ChangeStreamSummary(firstSequence: firstSequence, changes: changeCount, byOperation: operations),
                    eventHubs: streamed,
                    changes: changeCount, changesByOperation: operations, kept: keep ? [base, restoredFull, restoredLatest] : [],
                    steps: steps.lines, seconds: seconds))
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

    /// Every step's result, so a script sees what the text output shows: `steps` holds the text lines themselves.
    struct DemoSummary: Encodable {
        var mode: String
        var emulator: EmulatorSummary?
        var store: String
        var columnFamilies: [String]
        var target: String
        var keyEncryptionKey: String
        var keysLoaded: Int
        var fullBackup: BackupSummary
        var changesMade: ChangesMade
        var incrementalBackup: BackupSummary
        var keyRotation: KeyRotation
        var restores: [RestoreCheck]
        var restoredKeys: Int
        var deepVerify: DeepVerification
        var changeStream: ChangeStreamSummary
        /// The changes streamed to the emulator's Event Hubs (emulator mode).
        var eventHubs: StreamSummary?
        var changes: Int
        var changesByOperation: [String: Int]
        var kept: [String]
        var steps: [String]
        var seconds: Double
    }

    struct EmulatorSummary: Encodable {
        var blobEndpoint: String
        var authority: String
        var keyVaultURL: String
        var caCertificatePath: String
        var clientID: String
    }

    struct ChangesMade: Encodable {
        var usersUpdated: Int
        var ordersDeleted: Int
        var rangeDeleted: String
    }

    struct KeyRotation: Encodable {
        var previousKeyID: String
        var newKeyID: String
        var rewrappedDataKeys: Int
    }

    /// A restore, checked key by key against the store as it was when the backup was taken.
    struct RestoreCheck: Encodable {
        var backupID: String
        var label: String?
        var directory: String
        var sequenceNumber: UInt64
        var keys: Int
        var keyCounts: [String: Int]
        var bytes: Int64
        var equalsStoreAtBackup: Bool
    }

    struct DeepVerification: Encodable {
        var backupID: String
        var deep: Bool
        var filesChecked: Int
        var sound: Bool
        var problems: [String]

        init(_ report: VerificationReport) {
            backupID = report.backupID
            deep = report.deep
            filesChecked = report.filesChecked
            sound = report.isSound
            problems = report.problems
        }
    }

    struct ChangeStreamSummary: Encodable {
        var firstSequence: UInt64
        var changes: Int
        var byOperation: [String: Int]
    }

    /// The demo's narration: printed as it happens in text mode, kept for the summary in JSON mode.
    final class StepLog {
        private(set) var lines: [String] = []
        let printing: Bool

        init(printing: Bool) { self.printing = printing }

        func say(_ message: String) {
            lines.append(message)
            if printing { print(message) }
        }
    }
}
