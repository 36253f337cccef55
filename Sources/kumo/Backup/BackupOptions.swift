import ArgumentParser
import AzureCore
import Foundation
import KumoBackup
import KumoKV

/// Help for the target options; the URL forms are the same for reading and writing.
private let targetForms = "file:///path, a plain path (relative to the working directory), azure://<container>/<prefix>, or https://<account>.blob.core.windows.net/<container>/<prefix>[?SAS]"

/// `--from`: the backup target a command reads or manages existing backups in.
struct BackupSourceOption: ParsableArguments {
    @Option(name: .customLong("from"), help: ArgumentHelp("The backup target: \(targetForms).", valueName: "target"))
    var target: String
}

/// `--to`: the backup target a command writes backup data to.
struct BackupDestinationOption: ParsableArguments {
    @Option(name: .customLong("to"), help: ArgumentHelp("The backup target: \(targetForms).", valueName: "target"))
    var target: String
}

/// How a command that talks to Azure Storage finds the account when the target URL carries no credential.
struct StorageAccountOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A storage connection string for azure:// targets (default: $AZURE_STORAGE_CONNECTION_STRING; for the emulator: UseDevelopmentStorage=true).",
        valueName: "connection-string"))
    var connectionString: String?

    @Option(help: ArgumentHelp("A Key Vault secret (https://<vault>/secrets/<name>) holding the storage connection string.", valueName: "secret-url"))
    var connectionStringSecret: String?

    func validate() throws {
        if connectionString != nil && connectionStringSecret != nil {
            throw ValidationError("give --connection-string or --connection-string-secret, not both")
        }
    }

    /// The connection string named on the command line (directly or through Key Vault), or nil for the
    /// environment's.
    func resolve() async throws -> String? {
        if let connectionString { return connectionString }
        if let connectionStringSecret {
            return try await AzureAccess.secret(at: connectionStringSecret, option: "--connection-string-secret")
        }
        return nil
    }
}

/// `--concurrency`, for commands that move files.
struct TransferOptions: ParsableArguments {
    @Option(help: "Files transferred at once.") var concurrency: Int = 4

    func validate() throws {
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1, not \(concurrency)") }
    }
}

/// `--json`.
struct JSONOutputOption: ParsableArguments {
    @Flag(help: "Print JSON on standard output instead of text.") var json = false
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
/// manifests. Only commands that write a backup (`creating`) may create a local directory.
func openEngine(
    target: String, account: StorageAccountOptions, concurrency: Int = 4, key: String? = nil, creating: Bool = false
) async throws -> BackupEngine {
    let opened = try BackupTargets.open(
        target, createIfMissing: creating, connectionString: try await account.resolve(), tokenCredential: AzureAccess.credential,
        transport: AzureAccess.transport)
    var kek: (any KeyEncryptionKey)?
    if let key { kek = try await openKEK(key) }
    return BackupEngine(
        target: opened, concurrency: concurrency, keyEncryptionKey: kek,
        keyResolver: KeyVaultKeyResolver(credential: AzureAccess.credential, transport: AzureAccess.transport))
}

/// Opens a key-encryption key named on the command line: a Key Vault key URL or a local key file.
func openKEK(_ reference: String) async throws -> any KeyEncryptionKey {
    if reference.hasPrefix("file://") {
        let path = String(reference.dropFirst("file://".count))
        guard path.hasPrefix("/") else {
            throw ValidationError("'\(reference)': a file URL needs an absolute path (file:///path); give a relative key file as a plain path")
        }
        return try LocalKeyFileKEK(path: path)
    }
    if reference.hasPrefix("https://") {
        guard let url = URL(string: reference) else { throw ValidationError("'\(reference)' is not a URL") }
        return try await KeyVaultKeyEncryptionKey.open(url, credential: AzureAccess.credential, transport: AzureAccess.transport)
    }
    if reference.hasPrefix("http://") {
        throw ValidationError("Key Vault is reached over https only, not '\(reference)'")
    }
    return try LocalKeyFileKEK(path: absolutePath(reference))
}

/// Progress for long backup operations, one line per phase (see ``ProgressStyle``).
func backupProgress(json: Bool) -> (@Sendable (BackupProgress) -> Void)? {
    let reporter = ProgressReporter(style: .forCommand(json: json))
    guard reporter.style != .off else { return nil }
    return { progress in
        switch progress.phase {
        case .checkpoint, .manifest, .opening:
            reporter.update(phase: progress.phase.rawValue)
        case .hashing:
            reporter.update(phase: progress.phase.rawValue, filesDone: progress.filesDone, filesTotal: progress.filesTotal)
        case .uploading, .downloading, .verifying:
            reporter.update(
                phase: progress.phase.rawValue, bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal,
                filesDone: progress.filesDone, filesTotal: progress.filesTotal)
        }
        if progress.phase == .opening || progress.phase == .manifest { reporter.finish() }
    }
}

/// Opens the store a backup reads from, explaining a store held open by another process: RocksDB lets one
/// process open a store, so a running application takes its own backups.
func openStoreForBackup(_ db: String) async throws -> Store {
    var storeOptions = StoreOptions()
    storeOptions.createIfMissing = false
    do {
        return try await Store.open(at: absolutePath(db), options: storeOptions)
    } catch let error as KVError where error.code == .locked {
        throw CommandFailure(
            .locked,
            "the store \(absolutePath(db)) is open in another process. RocksDB lets one process open a store at a time: the process that has it open must take the backup itself (with KumoBackup's BackupEngine.create(store) in that application), or it must be stopped before this command runs.")
    }
}

/// Runs `body` for `target`, turning a missing container into a message that names it and says how to make
/// it: the service's own ContainerNotFound names neither.
func explainingTarget<T>(_ target: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as AzureError where error.errorCode == "ContainerNotFound" {
        guard let container = containerName(in: target) else { throw error }
        throw CommandFailure(
            .notFound,
            "the container '\(container)' of \(Redaction.redact(target)) does not exist; create it with: kumo blob container create \(container) (with the same account)")
    }
}

/// The container a Blob Storage target URL names, if it names one.
func containerName(in target: String) -> String? {
    if target.hasPrefix("azure://") {
        return target.dropFirst("azure://".count).split(separator: "/").first.map(String.init)
    }
    guard target.hasPrefix("https://") || target.hasPrefix("http://"), let components = URLComponents(string: target),
        let host = components.host
    else { return nil }
    let segments = components.path.split(separator: "/").map(String.init)
    let pathStyle = host == "127.0.0.1" || host == "localhost" || !host.contains(".blob.")
    let index = pathStyle ? 1 : 0
    return segments.count > index ? segments[index] : nil
}
