import ArgumentParser
import Foundation
import KumoBackup
import KumoKV

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up a store to a local directory or Azure Blob Storage, and verify, restore and prune backups.",
        discussion: """
            A command that writes backup data names its target with --to (create, repair); one that reads or \
            manages existing backups names it with --from. Targets are file:///path or a plain path (a relative \
            path is a directory under the working directory), azure://<container>/<prefix> (the account from \
            --connection-string, --connection-string-secret or AZURE_STORAGE_CONNECTION_STRING), or \
            https://<account>.blob.core.windows.net/<container>/<prefix>[?SAS] (a SAS, the account key from the \
            connection string, or an Entra ID token from the environment). Backups are incremental: SST files \
            already stored are never uploaded again. A backup is named by its id, a unique prefix of it, the \
            six hex digits after its dash (or a prefix of them), or 'latest'.
            """,
        subcommands: [
            BackupCreate.self, BackupList.self, BackupShow.self, BackupVerify.self, BackupRestore.self, BackupPrune.self,
            BackupDelete.self, BackupRepair.self, BackupKeygen.self, BackupRekey.self,
        ])
}

private let idHelp = ArgumentHelp("The backup: its id, a unique prefix of it or of the hex after its dash, or 'latest'.", valueName: "backup")

struct BackupCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Back up a store that no other process has open.",
        discussion: """
            The store is opened, checkpointed (a consistent copy made of hard links) and closed again when the \
            backup ends; writes are not blocked while files upload. RocksDB lets one process open a store at a \
            time, so a store that a running application holds is backed up by that application through \
            KumoBackup's library API (BackupEngine.create(store)); this command refuses it and says so.
            """)

    @Option(help: "The store directory.") var db: String
    @OptionGroup var destination: BackupDestinationOption
    @Option(name: .customLong("encrypt-with"), help: ArgumentHelp(
        "Encrypt the backup under this key-encryption key: a Key Vault key URL (https://<vault>/keys/<name>) or a local key file (a path; see 'kumo backup keygen').",
        valueName: "key"))
    var key: String?
    @Option(help: "A label recorded in the manifest.") var label: String?
    @OptionGroup var transfer: TransferOptions
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await explainingTarget(destination.target) {
            let store = try await openStoreForBackup(db)
            defer { try? store.close() }
            let engine = try await openEngine(target: destination.target, account: account, concurrency: transfer.concurrency, key: key, creating: true)
            let manifest = try await engine.create(store, label: label, progress: backupProgress(json: output.json))
            if output.json {
                try printJSON(BackupSummary(manifest))
            } else {
                let uploaded = manifest.files.filter(\.uploaded)
                print("backup \(manifest.id) at sequence \(manifest.sequenceNumber)")
                print("  \(plural(manifest.files.count, "file")), \(formatBytes(manifest.totalBytes)); uploaded \(uploaded.count) (\(formatBytes(manifest.uploadedBytes))), reused \(manifest.files.count - uploaded.count)")
                print("  \(formatDuration(manifest.durationSeconds)), \(formatBytes(Int64(Double(manifest.uploadedBytes) / max(manifest.durationSeconds, 0.001))))/s")
            }
        }
    }
}

struct BackupSummary: Encodable {
    var id: String
    var label: String?
    var createdAt: Date
    var sequenceNumber: UInt64
    var sourceHost: String
    var sourcePath: String
    var encrypted: Bool
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
        sourceHost = manifest.sourceHost
        sourcePath = manifest.sourcePath
        encrypted = manifest.files.contains { $0.encryption != nil }
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

    @OptionGroup var source: BackupSourceOption
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await explainingTarget(source.target) {
            let (backups, unreadable) = try await openEngine(target: source.target, account: account).listWithProblems()
            if output.json {
                try printJSON(backups.map(BackupSummary.init))
            } else if backups.isEmpty {
                print("no backups in \(source.target)")
            } else {
                print(pad("id", 28) + pad("created (UTC)", 22) + pad("sequence", 12) + pad("size", 12) + "new / shared files")
                let formatter = ISO8601DateFormatter()
                for backup in backups {
                    let uploaded = backup.files.filter(\.uploaded).count
                    print(pad(backup.id, 28) + pad(formatter.string(from: backup.createdAt), 22) + pad(String(backup.sequenceNumber), 12)
                          + pad(formatBytes(backup.totalBytes), 12) + "\(uploaded) / \(backup.files.count - uploaded)" + (backup.label.map { "  \($0)" } ?? ""))
                }
                print(plural(backups.count, "backup"))
            }
            for path in unreadable { printError("warning: manifest \(path) does not read; 'kumo backup verify' on its backup says why") }
        }
    }
}

struct BackupShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one backup's manifest.")

    @Argument(help: idHelp) var id: String
    @OptionGroup var source: BackupSourceOption
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await explainingTarget(source.target) {
            let engine = try await openEngine(target: source.target, account: account)
            let manifest = try await engine.manifest(try await engine.resolveID(id))
            if output.json {
                try printJSON(manifest)
                return
            }
            print("backup \(manifest.id)\(manifest.label.map { " (\($0))" } ?? "")")
            print("  created \(ISO8601DateFormatter().string(from: manifest.createdAt)) from \(manifest.sourceHost):\(manifest.sourcePath)")
            print("  sequence \(manifest.sequenceNumber); column families \(manifest.columnFamilies.joined(separator: ", "))")
            print("  RocksDB \(manifest.rocksDBVersion), Kumo \(manifest.kumoVersion)")
            print("  \(plural(manifest.files.count, "file")), \(formatBytes(manifest.totalBytes))")
            for file in manifest.files {
                print("  \(pad(file.name, 22))\(pad(file.kind.rawValue, 9))\(pad(formatBytes(file.size), 11))\(file.uploaded ? "new   " : "shared")  \(file.path)")
            }
        }
    }
}

struct BackupVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check a backup's files (exit 1 if any is bad); --deep re-hashes and test-restores.")

    @Argument(help: idHelp) var id: String
    @OptionGroup var source: BackupSourceOption
    @Flag(help: "Download and re-hash every file, then restore to a temporary directory and open it.") var deep = false
    @Option(help: ArgumentHelp("The local key file an encrypted backup needs for --deep (Key Vault keys are found from the manifest).", valueName: "key"))
    var key: String?
    @OptionGroup var transfer: TransferOptions
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await explainingTarget(source.target) {
            let engine = try await openEngine(target: source.target, account: account, concurrency: transfer.concurrency, key: key)
            let report = try await engine.verify(try await engine.resolveID(id), deep: deep)
            if output.json {
                try printJSON(report)
            } else if report.isSound {
                print("backup \(report.backupID): \(plural(report.filesChecked, "file")) \(deep ? "downloaded, re-hashed and restored" : "present with their recorded sizes")")
            } else {
                for problem in report.problems { print("BAD: \(problem)") }
                print("backup \(report.backupID): \(plural(report.problems.count, "problem")) in \(plural(report.filesChecked, "file")) checked")
            }
            if !report.isSound { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}

struct BackupRestore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore a backup into a new or empty directory, checking every file first.")

    @Argument(help: idHelp) var id: String
    @OptionGroup var source: BackupSourceOption
    @Option(help: ArgumentHelp("The directory to restore into (must not exist or be empty).", valueName: "directory")) var to: String
    @Option(help: ArgumentHelp(
        "The key the backup must be encrypted and sealed with: a local key file, or a Key Vault key URL (https://<vault>/keys/<name>) to refuse a backup sealed by any other key. Without it, Key Vault keys are found from the manifest.",
        valueName: "key"))
    var key: String?
    @OptionGroup var transfer: TransferOptions
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await explainingTarget(source.target) {
            let engine = try await openEngine(target: source.target, account: account, concurrency: transfer.concurrency, key: key)
            let report = try await engine.restore(try await engine.resolveID(id), to: absolutePath(to), progress: backupProgress(json: output.json))
            if output.json {
                try printJSON(report)
            } else {
                print("restored \(report.backupID) to \(report.path) at sequence \(report.sequenceNumber) (\(formatBytes(report.bytes)))")
                for (family, count) in report.keyCounts.sorted(by: { $0.key < $1.key }) { print("  \(pad(family, 20))\(plural(count, "key"))") }
            }
        }
    }
}

struct BackupPrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete backups outside a retention policy, then the files no kept backup needs.")

    @OptionGroup var source: BackupSourceOption
    @Option(help: "Keep the newest N backups.") var keepLast: Int
    @Option(help: "Also keep the newest backup of each of the last D days.") var keepDaily: Int = 0
    @Option(help: "Also keep the newest backup of each of the last W weeks.") var keepWeekly: Int = 0
    @Option(help: "Leave files no backup references alone until they are this old (24h, 90m, 0): a backup running elsewhere may have stored them.")
    var gracePeriod = GracePeriod(argument: "24h")!
    @Flag(help: "Only say what would be deleted.") var dryRun = false
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func validate() throws {
        if keepLast < 1 { throw ValidationError("--keep-last must be at least 1 (prune never deletes every backup)") }
        if keepDaily < 0 || keepWeekly < 0 { throw ValidationError("--keep-daily and --keep-weekly cannot be negative") }
    }

    func run() async throws {
        try await explainingTarget(source.target) {
            let report = try await openEngine(target: source.target, account: account).prune(
                RetentionPolicy(keepLast: keepLast, keepDaily: keepDaily, keepWeekly: keepWeekly), dryRun: dryRun, gracePeriod: gracePeriod.seconds)
            try printPrune(report, json: output.json)
        }
    }
}

struct BackupDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete one backup and the files only it needed.")

    @Argument(help: ArgumentHelp("The backup: its id, or a unique prefix of it or of the hex after its dash ('latest' is not accepted here).", valueName: "backup"))
    var id: String
    @OptionGroup var source: BackupSourceOption
    @Option(help: "Leave files no backup references alone until they are this old (24h, 90m, 0).")
    var gracePeriod = GracePeriod(argument: "24h")!
    @Flag(help: "Only say what would be deleted.") var dryRun = false
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func validate() throws {
        if id == "latest" { throw ValidationError("delete takes a backup id, not 'latest' (so that a mistake cannot delete the newest backup)") }
    }

    func run() async throws {
        try await explainingTarget(source.target) {
            let engine = try await openEngine(target: source.target, account: account)
            try printPrune(try await engine.delete(try await engine.resolveID(id), dryRun: dryRun, gracePeriod: gracePeriod.seconds), json: output.json)
        }
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
    @OptionGroup var destination: BackupDestinationOption
    @Option(help: ArgumentHelp("The key-encryption key of encrypted backups: a Key Vault key URL or a local key file.", valueName: "key"))
    var key: String?
    @Flag(help: "Only say what is damaged and what would be stored again.") var dryRun = false
    @OptionGroup var transfer: TransferOptions
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func run() async throws {
        try await explainingTarget(destination.target) {
            let store = try await openStoreForBackup(db)
            defer { try? store.close() }
            let engine = try await openEngine(target: destination.target, account: account, concurrency: transfer.concurrency, key: key)
            let report = try await engine.repair(from: store, dryRun: dryRun)
            if output.json {
                try printJSON(report)
            } else {
                let verb = dryRun ? "would store again" : "stored again"
                print("checked \(plural(report.filesChecked, "stored file")); \(report.damaged.count) damaged or missing; \(verb) \(report.repaired.count)")
                for path in report.repaired { print("  \(verb) \(path)") }
                for (backup, paths) in report.unrestorable.sorted(by: { $0.key < $1.key }) {
                    print("UNRESTORABLE: \(backup) needs \(paths.joined(separator: ", "))")
                }
            }
            if !report.unrestorable.isEmpty { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}

func printPrune(_ report: PruneReport, json: Bool) throws {
    if json {
        try printJSON(report)
        return
    }
    let verb = report.dryRun ? "would delete" : "deleted"
    print("kept \(plural(report.keptBackups.count, "backup")); \(verb) \(plural(report.deletedBackups.count, "backup")) and \(plural(report.deletedObjects.count, "file")) (\(formatBytes(report.deletedBytes)))")
    for id in report.deletedBackups { print("  \(verb) backup \(id)") }
    if !report.deferredObjects.isEmpty {
        print("  left \(plural(report.deferredObjects.count, "unreferenced file")) younger than the grace period (a backup may be writing them)")
    }
}

struct BackupKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Create a local key file (256-bit, mode 0600) for encrypting backups.")

    @Argument(help: "The key file to create; it must not exist.") var path: String
    @OptionGroup var output: JSONOutputOption

    func validate() throws {
        if FileManager.default.fileExists(atPath: path) { throw ValidationError("\(path) already exists; keygen never overwrites a key") }
    }

    func run() async throws {
        let path = absolutePath(self.path)
        let kek = try LocalKeyFileKEK.create(at: path)
        if output.json {
            try printJSON(["path": path, "keyID": kek.id])
        } else {
            print("created \(path) (\(kek.id)); keep a copy somewhere safe: backups encrypted with it cannot be restored without it")
        }
    }
}

struct BackupRekey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rekey", abstract: "Re-wrap every backup's data keys under a new key, without re-uploading data.")

    @OptionGroup var source: BackupSourceOption
    @Option(help: ArgumentHelp("The current key-encryption key, a local key file (Key Vault keys are found from the manifests).", valueName: "key"))
    var key: String?
    @Option(help: ArgumentHelp("The new key-encryption key: a Key Vault key URL (its latest version, e.g. after a rotation) or a local key file.", valueName: "key"))
    var newKey: String
    @OptionGroup var account: StorageAccountOptions
    @OptionGroup var output: JSONOutputOption

    func validate() throws {
        if key == nil && !newKey.hasPrefix("https://") {
            throw ValidationError("rekey needs the current key (--key) to unwrap the data keys (Key Vault keys are found from the manifests)")
        }
    }

    func run() async throws {
        try await explainingTarget(source.target) {
            let engine = try await openEngine(target: source.target, account: account, key: key)
            let count = try await engine.rekey(to: try await openKEK(newKey))
            if output.json {
                try printJSON(RekeySummary(rewrappedKeys: count, newKey: newKey))
            } else {
                print("re-wrapped \(plural(count, "data key")) under \(newKey)")
            }
        }
    }

    struct RekeySummary: Encodable {
        var rewrappedKeys: Int
        var newKey: String
    }
}
