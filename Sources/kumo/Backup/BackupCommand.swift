import ArgumentParser
import Foundation
import KumoBackup
import KumoKV

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up a store to a local directory or Azure Blob Storage, and verify, restore and prune backups.",
        discussion: """
            Targets are URLs: file:///path (or a plain path), azure://<container>/<prefix> (account from \
            AZURE_STORAGE_CONNECTION_STRING or --connection-string-secret), or \
            https://<account>.blob.core.windows.net/<container>/<prefix>[?SAS] (SAS, account key, or an Entra ID \
            token from the environment). Backups are incremental: SST files already stored are never uploaded again. \
            --encrypt-with takes a Key Vault key URL (https://<vault>/keys/<name>) or a local key file; restores \
            find Key Vault keys from the manifest.
            """,
        subcommands: [
            BackupCreate.self, BackupList.self, BackupShow.self, BackupVerify.self, BackupRestore.self, BackupPrune.self,
            BackupDelete.self, BackupRepair.self, BackupKeygen.self, BackupRekey.self,
        ])
}

struct BackupTargetOptions: ParsableArguments {
    @Option(name: [.customLong("to"), .customLong("from")], help: "The backup target URL.")
    var target: String

    @Option(help: "Files transferred at once.") var concurrency: Int = 4

    @Option(name: [.customLong("key"), .customLong("encrypt-with")],
            help: "The key-encryption key: a Key Vault key URL (https://<vault>/keys/<name>) or a local key file (file:///path or a path; see 'kumo backup keygen'). Encrypts new backups; a local key file is needed to read backups encrypted with it.")
    var key: String?

    @Option(help: "A Key Vault secret (https://<vault>/secrets/<name>) holding the storage connection string, instead of AZURE_STORAGE_CONNECTION_STRING.")
    var connectionStringSecret: String?

    @Flag(help: "Print JSON instead of text.") var json = false

    func validate() throws {
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
    }

    /// An engine for the target; only commands that write a backup (`creating`) may create a local directory.
    func engine(creating: Bool = false) async throws -> BackupEngine {
        try await openEngine(target: target, concurrency: concurrency, key: key, connectionStringSecret: connectionStringSecret, creating: creating)
    }
}

/// `--grace-period`: a duration such as `24h`, `90m`, `3600s`, `2d` or `0`.
struct GracePeriod: ExpressibleByArgument {
    var seconds: TimeInterval

    init?(argument: String) {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        if let last = text.last, let unit = units[last], let value = Double(text.dropLast()), value >= 0, value.isFinite {
            seconds = value * unit
        } else if let value = Double(text), value >= 0, value.isFinite {
            seconds = value
        } else {
            return nil
        }
    }

    static let defaultValueDescription = "24h"
}

/// An engine for `target`, with the key named on the command line (if any) and Key Vault keys found from
/// manifests.
func openEngine(target: String, concurrency: Int, key: String?, connectionStringSecret: String?, creating: Bool = false) async throws -> BackupEngine {
    var connectionString: String?
    if let connectionStringSecret {
        connectionString = try await AzureAccess.secret(at: connectionStringSecret, option: "--connection-string-secret")
    }
    let opened = try BackupTargets.open(
        target, createIfMissing: creating, connectionString: connectionString, tokenCredential: AzureAccess.credential, transport: AzureAccess.transport)
    var kek: (any KeyEncryptionKey)?
    if let key { kek = try await openKEK(key) }
    return BackupEngine(
        target: opened, concurrency: concurrency, keyEncryptionKey: kek,
        keyResolver: KeyVaultKeyResolver(credential: AzureAccess.credential, transport: AzureAccess.transport))
}

/// Opens a key-encryption key named on the command line: a Key Vault key URL or a local key file.
func openKEK(_ reference: String) async throws -> any KeyEncryptionKey {
    if reference.hasPrefix("file://") { return try LocalKeyFileKEK(path: String(reference.dropFirst("file://".count))) }
    if reference.hasPrefix("https://") {
        guard let url = URL(string: reference) else { throw ValidationError("'\(reference)' is not a URL") }
        return try await KeyVaultKeyEncryptionKey.open(url, credential: AzureAccess.credential, transport: AzureAccess.transport)
    }
    if reference.hasPrefix("http://") {
        throw ValidationError("Key Vault is reached over https only, not '\(reference)'")
    }
    return try LocalKeyFileKEK(path: reference)
}


/// Prints progress for long backup operations on a terminal.
func backupProgress(json: Bool) -> (@Sendable (BackupProgress) -> Void)? {
    guard !json, FileHandleOutput.standardErrorIsTerminal else { return nil }
    let bars = BackupProgressBars()
    return { progress in bars.show(progress) }
}

final class BackupProgressBars: Sendable {
    func show(_ progress: BackupProgress) {
        guard progress.bytesTotal > 0 else {
            FileHandleOutput.writeToStandardError("\r\(progress.phase.rawValue)...")
            return
        }
        let bar = ProgressBar(pad(progress.phase.rawValue, 11), total: Int(progress.bytesTotal))
        bar.update(Int(progress.bytesDone))
        if progress.bytesDone >= progress.bytesTotal { FileHandleOutput.writeToStandardError("\n") }
    }
}

func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

struct BackupCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Back up a store (it may keep running).")

    @Option(help: "The store directory.") var db: String
    @OptionGroup var options: BackupTargetOptions
    @Option(help: "A label recorded in the manifest.") var label: String?

    func run() async throws {
        var storeOptions = StoreOptions()
        storeOptions.createIfMissing = false
        let store = try await Store.open(at: db, options: storeOptions)
        defer { try? store.close() }
        let manifest = try await options.engine(creating: true).create(store, label: label, progress: backupProgress(json: options.json))
        if options.json {
            try printJSON(BackupSummary(manifest))
        } else {
            let uploaded = manifest.files.filter(\.uploaded)
            print("backup \(manifest.id) at sequence \(manifest.sequenceNumber)")
            print("  \(manifest.files.count) files, \(formatBytes(manifest.totalBytes)); uploaded \(uploaded.count) (\(formatBytes(manifest.uploadedBytes))), reused \(manifest.files.count - uploaded.count)")
            print(String(format: "  %.2f s, %@/s", manifest.durationSeconds, formatBytes(Int64(Double(manifest.uploadedBytes) / max(manifest.durationSeconds, 0.001)))))
        }
    }
}

struct BackupSummary: Encodable {
    var id: String
    var label: String?
    var createdAt: Date
    var sequenceNumber: UInt64
    var files: Int
    var filesUploaded: Int
    var filesReused: Int
    var bytes: Int64
    var bytesUploaded: Int64
    var bytesReused: Int64
    var seconds: Double
    var bytesPerSecond: Double

    init(_ manifest: BackupManifest) {
        id = manifest.id
        label = manifest.label
        createdAt = manifest.createdAt
        sequenceNumber = manifest.sequenceNumber
        files = manifest.files.count
        filesUploaded = manifest.files.filter(\.uploaded).count
        filesReused = files - filesUploaded
        bytes = manifest.totalBytes
        bytesUploaded = manifest.uploadedBytes
        bytesReused = bytes - bytesUploaded
        seconds = manifest.durationSeconds
        bytesPerSecond = Double(bytesUploaded) / max(seconds, 0.001)
    }
}

struct BackupList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List backups, oldest first.")

    @OptionGroup var options: BackupTargetOptions

    func run() async throws {
        let (backups, unreadable) = try await options.engine().listWithProblems()
        if options.json {
            try printJSON(backups.map(BackupSummary.init))
        } else {
            print(pad("id", 28) + pad("created (UTC)", 26) + pad("sequence", 12) + pad("size", 12) + "new / shared files")
            for backup in backups {
                let uploaded = backup.files.filter(\.uploaded).count
                print(pad(backup.id, 28) + pad(ISO8601DateFormatter().string(from: backup.createdAt), 26) + pad(String(backup.sequenceNumber), 12)
                      + pad(formatBytes(backup.totalBytes), 12) + "\(uploaded) / \(backup.files.count - uploaded)" + (backup.label.map { "  \($0)" } ?? ""))
            }
        }
        for path in unreadable { printError("warning: manifest \(path) does not read; run 'kumo backup verify' on it") }
    }
}

struct BackupShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one backup's manifest.")

    @OptionGroup var options: BackupTargetOptions
    @Argument(help: "The backup id, or 'latest'.") var id: String

    func run() async throws {
        let manifest = try await options.engine().manifest(id)
        if options.json {
            try printJSON(manifest)
            return
        }
        print("backup \(manifest.id)\(manifest.label.map { " (\($0))" } ?? "")")
        print("  created \(manifest.createdAt) from \(manifest.sourceHost):\(manifest.sourcePath)")
        print("  sequence \(manifest.sequenceNumber); column families \(manifest.columnFamilies.joined(separator: ", "))")
        print("  RocksDB \(manifest.rocksDBVersion), Kumo \(manifest.kumoVersion)")
        for file in manifest.files {
            print("  \(pad(file.name, 22))\(pad(file.kind.rawValue, 9))\(pad(formatBytes(file.size), 11))\(file.uploaded ? "new   " : "shared")  \(file.path)")
        }
    }
}

struct BackupVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check a backup's files (exit 1 if any is bad); --deep re-hashes and test-restores.")

    @OptionGroup var options: BackupTargetOptions
    @Argument(help: "The backup id, or 'latest'.") var id: String
    @Flag(help: "Download and re-hash every file, then restore to a temporary directory and open it.") var deep = false

    func run() async throws {
        let report = try await options.engine().verify(id, deep: deep)
        if options.json {
            try printJSON(report)
        } else if report.isSound {
            print("backup \(report.backupID): \(report.filesChecked) files \(deep ? "downloaded, re-hashed and restored" : "present with their recorded sizes")")
        } else {
            for problem in report.problems { print("BAD: \(problem)") }
        }
        if !report.isSound { throw ExitCode(1) }
    }
}

struct BackupRestore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore a backup into a new or empty directory, checking every file first.")

    @Option(help: "The backup target URL.") var from: String
    @Option(help: "Files transferred at once.") var concurrency: Int = 4
    @Option(help: "The key the backup must be encrypted and sealed with: a local key file, or a Key Vault key URL (https://<vault>/keys/<name>) to refuse a backup sealed by any other key. Without it, Key Vault keys are found from the manifest.")
    var key: String?
    @Option(help: "A Key Vault secret (https://<vault>/secrets/<name>) holding the storage connection string.")
    var connectionStringSecret: String?
    @Flag(help: "Print JSON instead of text.") var json = false
    @Argument(help: "The backup id, or 'latest'.") var id: String
    @Option(help: "The directory to restore into (must not exist or be empty).") var to: String

    func run() async throws {
        let engine = try await openEngine(target: from, concurrency: concurrency, key: key, connectionStringSecret: connectionStringSecret)
        let report = try await engine.restore(id, to: to, progress: backupProgress(json: json))
        if json {
            try printJSON(report)
        } else {
            print("restored \(report.backupID) to \(report.path) at sequence \(report.sequenceNumber) (\(formatBytes(report.bytes)))")
            for (family, count) in report.keyCounts.sorted(by: { $0.key < $1.key }) { print("  \(pad(family, 20))\(count) keys") }
        }
    }
}

struct BackupPrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete backups outside a retention policy, then the files no kept backup needs.")

    @OptionGroup var options: BackupTargetOptions
    @Option(help: "Keep the newest N backups.") var keepLast: Int
    @Option(help: "Also keep the newest backup of each of the last D days.") var keepDaily: Int = 0
    @Option(help: "Also keep the newest backup of each of the last W weeks.") var keepWeekly: Int = 0
    @Option(help: "Leave files no backup references alone until they are this old (24h, 90m, 0): a backup running elsewhere may have stored them.")
    var gracePeriod = GracePeriod(argument: "24h")!
    @Flag(help: "Only say what would be deleted.") var dryRun = false

    func validate() throws {
        if keepLast < 1 { throw ValidationError("--keep-last must be at least 1 (prune never deletes every backup)") }
    }

    func run() async throws {
        let report = try await options.engine().prune(
            RetentionPolicy(keepLast: keepLast, keepDaily: keepDaily, keepWeekly: keepWeekly), dryRun: dryRun, gracePeriod: gracePeriod.seconds)
        try printPrune(report, json: options.json)
    }
}

struct BackupDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete one backup and the files only it needed.")

    @OptionGroup var options: BackupTargetOptions
    @Argument(help: "The backup id.") var id: String
    @Option(help: "Leave files no backup references alone until they are this old (24h, 90m, 0).")
    var gracePeriod = GracePeriod(argument: "24h")!
    @Flag(help: "Only say what would be deleted.") var dryRun = false

    func run() async throws {
        try printPrune(try await options.engine().delete(id, dryRun: dryRun, gracePeriod: gracePeriod.seconds), json: options.json)
    }
}

struct BackupRepair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Read back every stored file; store damaged or missing ones again from the live store, and name the backups the rest leaves unrestorable (exit 1).",
        discussion: """
            Every object the backups reference is downloaded and checked against its SHA-256 (encrypted ones are \
            decrypted and authenticated). A damaged or missing object is stored again when the store at --db still \
            has an identical file; encrypted objects get a new data key and the manifests that use them are sealed \
            again (give --key). Exit 0 when every backup restores afterwards, 1 when some cannot.
            """)

    @Option(help: "The live store directory.") var db: String
    @OptionGroup var options: BackupTargetOptions
    @Flag(help: "Only say what is damaged and what would be stored again.") var dryRun = false

    func run() async throws {
        var storeOptions = StoreOptions()
        storeOptions.createIfMissing = false
        let store = try await Store.open(at: db, options: storeOptions)
        defer { try? store.close() }
        let report = try await options.engine().repair(from: store, dryRun: dryRun)
        if options.json {
            try printJSON(report)
        } else {
            let verb = dryRun ? "would store again" : "stored again"
            print("checked \(report.filesChecked) stored \(report.filesChecked == 1 ? "file" : "files"); \(report.damaged.count) damaged or missing; \(verb) \(report.repaired.count)")
            for path in report.repaired { print("  \(verb) \(path)") }
            for (backup, paths) in report.unrestorable.sorted(by: { $0.key < $1.key }) {
                print("UNRESTORABLE: \(backup) needs \(paths.joined(separator: ", "))")
            }
        }
        if !report.unrestorable.isEmpty { throw ExitCode(1) }
    }
}

func printPrune(_ report: PruneReport, json: Bool) throws {
    if json {
        try printJSON(report)
        return
    }
    let verb = report.dryRun ? "would delete" : "deleted"
    print("kept \(report.keptBackups.count) backups; \(verb) \(report.deletedBackups.count) backups and \(report.deletedObjects.count) files (\(formatBytes(report.deletedBytes)))")
    for id in report.deletedBackups { print("  \(verb) backup \(id)") }
    if !report.deferredObjects.isEmpty {
        print("  left \(report.deferredObjects.count) unreferenced files younger than the grace period (a backup may be writing them)")
    }
}

struct BackupKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Create a local key file (256-bit, mode 0600) for encrypting backups.")

    @Argument(help: "The key file to create; it must not exist.") var path: String

    func validate() throws {
        if FileManager.default.fileExists(atPath: path) { throw ValidationError("\(path) already exists; keygen never overwrites a key") }
    }

    func run() async throws {
        let kek = try LocalKeyFileKEK.create(at: path)
        print("created \(path) (\(kek.id)); keep a copy somewhere safe: backups encrypted with it cannot be restored without it")
    }
}

struct BackupRekey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rekey", abstract: "Re-wrap every backup's data keys under a new key, without re-uploading data.")

    @OptionGroup var options: BackupTargetOptions
    @Option(help: "The new key-encryption key: a Key Vault key URL (its latest version, e.g. after a rotation) or a local key file.")
    var newKey: String

    func validate() throws {
        if options.key == nil && !newKey.hasPrefix("https://") {
            throw ValidationError("rekey needs the current key (--key) to unwrap the data keys (Key Vault keys are found from the manifests)")
        }
    }

    func run() async throws {
        let count = try await options.engine().rekey(to: try await openKEK(newKey))
        print(options.json ? "{\"rewrappedKeys\":\(count)}" : "re-wrapped \(count) data keys under \(newKey)")
    }
}
