import Crypto
import Foundation
import KumoKV
import Synchronization

/// Where a long backup operation is.
public struct BackupProgress: Sendable {
    public enum Phase: String, Sendable { case checkpoint, hashing, uploading, manifest, downloading, verifying, opening }
    public var phase: Phase
    public var filesDone: Int
    public var filesTotal: Int
    public var bytesDone: Int64
    public var bytesTotal: Int64
}

/// What a restore produced.
public struct RestoreReport: Sendable, Codable {
    public var backupID: String
    public var path: String
    public var sequenceNumber: UInt64
    /// Keys per column family in the restored store.
    public var keyCounts: [String: Int]
    public var bytes: Int64
}

/// What `verify` found.
public struct VerificationReport: Sendable, Codable {
    public var backupID: String
    public var deep: Bool
    public var filesChecked: Int
    /// One line per problem, each naming the file; empty when the backup is sound.
    public var problems: [String]
    public var isSound: Bool { problems.isEmpty }
}

/// What prune deleted, or would delete with `dryRun`.
public struct PruneReport: Sendable, Codable {
    public var keptBackups: [String]
    public var deletedBackups: [String]
    public var deletedObjects: [String]
    public var deletedBytes: Int64
    public var dryRun: Bool
}

/// Which backups to keep: the union of the newest `keepLast`, the newest of each of the last `keepDaily`
/// days that have backups, and the newest of each of the last `keepWeekly` ISO weeks that have backups.
public struct RetentionPolicy: Sendable {
    public var keepLast: Int
    public var keepDaily: Int
    public var keepWeekly: Int

    public init(keepLast: Int, keepDaily: Int = 0, keepWeekly: Int = 0) {
        self.keepLast = keepLast
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
    }

    /// The ids of `backups` to keep.
    public func kept(_ backups: [BackupManifest]) -> Set<String> {
        let newestFirst = backups.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
        var kept = Set(newestFirst.prefix(max(keepLast, 0)).map(\.id))
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func keepNewest(per key: (Date) -> String, count: Int) {
            var seen: [String] = []
            for backup in newestFirst {
                let bucket = key(backup.createdAt)
                if seen.contains(bucket) { continue }
                guard seen.count < count else { break }
                seen.append(bucket)
                kept.insert(backup.id)
            }
        }
        keepNewest(per: { BackupManifest.dayString($0) }, count: keepDaily)
        keepNewest(per: { date in
            let parts = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            return "\(parts.yearForWeekOfYear ?? 0)-W\(parts.weekOfYear ?? 0)"
        }, count: keepWeekly)
        return kept
    }
}

/// Consistent full and incremental backups of a KumoKV store, and verified restores.
///
/// A backup is a RocksDB checkpoint (so it is the store at one sequence number) whose SST files go to a
/// shared area, named by file number, size and SHA-256, where later backups find and reuse them; the small
/// files (MANIFEST, CURRENT, OPTIONS) go with each backup; the manifest is written last.
public struct BackupEngine: Sendable {
    public let target: any BackupTarget
    /// Files transferred or hashed at once.
    public var concurrency: Int
    /// Encrypts new backups when set (envelope encryption, a data key per file), and decrypts restores.
    public var keyEncryptionKey: (any KeyEncryptionKey)?
    /// Finds the keys of encrypted backups that `keyEncryptionKey` cannot unwrap (for example a Key Vault key
    /// named by its URL in the manifest).
    public var keyResolver: (any KeyEncryptionKeyResolver)?
    static let lockPath = "rocksdb/.lock"
    static let sharedPrefix = "rocksdb/shared/"

    public init(target: any BackupTarget, concurrency: Int = 4, keyEncryptionKey: (any KeyEncryptionKey)? = nil,
                keyResolver: (any KeyEncryptionKeyResolver)? = nil) {
        self.target = target
        self.concurrency = max(1, concurrency)
        self.keyEncryptionKey = keyEncryptionKey
        self.keyResolver = keyResolver
    }

    /// Unwraps a data key with the engine's key when it can, else with the key the resolver finds for it.
    func unwrap(_ wrapped: WrappedKey, backupID: String, file: String) async throws -> SymmetricKey {
        if let kek = keyEncryptionKey, kek.canUnwrap(keyID: wrapped.kekID) { return try await kek.unwrap(wrapped) }
        if let resolved = try await keyResolver?.resolve(wrapped.kekID) { return try await resolved.unwrap(wrapped) }
        if let kek = keyEncryptionKey {
            throw BackupError(.invalidArgument, "backup \(backupID): \(file) was encrypted with \(wrapped.kekID), not with \(kek.id)")
        }
        throw BackupError(.invalidArgument, "backup \(backupID): \(file) is encrypted with \(wrapped.kekID); give that key to read it")
    }

    // MARK: Create

    /// Backs up `store` while it keeps serving reads and writes.
    /// - Throws: ``BackupError`` `.locked` when another backup of this target is running.
    public func create(
        _ store: Store, label: String? = nil, progress: (@Sendable (BackupProgress) -> Void)? = nil
    ) async throws -> BackupManifest {
        let target = self.target
        let concurrency = self.concurrency
        return try await target.withLock(Self.lockPath) {
            let started = Date()
            let id = Self.newID(started)
            let checkpointPath = store.path + ".kumo-backup-\(id)"
            Self.removeAbandonedCheckpoints(of: store.path)
            Self.activeCheckpoints.withLock { _ = $0.insert(checkpointPath) }
            defer {
                try? FileManager.default.removeItem(atPath: checkpointPath)
                Self.activeCheckpoints.withLock { _ = $0.remove(checkpointPath) }
            }

            progress?(BackupProgress(phase: .checkpoint, filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0))
            var families: [String: String] = [:]
            for file in try store.liveFiles() { families[file.name] = file.columnFamily }
            let checkpoint = try await store.checkpoint(to: checkpointPath)
            for file in try store.liveFiles() { families[file.name] = file.columnFamily }

            let names = try FileManager.default.contentsOfDirectory(atPath: checkpointPath).sorted()
            let hashed = try await boundedMap(names, limit: concurrency) { name in
                (name, try FileHashing.sha256(ofFileAt: checkpointPath + "/" + name))
            }
            let totalBytes = hashed.reduce(0) { $0 + $1.1.size }
            progress?(BackupProgress(phase: .hashing, filesDone: hashed.count, filesTotal: hashed.count, bytesDone: totalBytes, bytesTotal: totalBytes))

            let existing = Dictionary(
                try await target.list(prefix: Self.sharedPrefix).map { ($0.path, $0.size) }, uniquingKeysWith: { a, _ in a })
            let kek = keyEncryptionKey
            // An encrypted shared SST can only be reused with the data key an earlier manifest recorded for it.
            var knownKeys: [String: BackupManifest.FileEncryption] = [:]
            if kek != nil {
                for backup in try await listWithProblems().backups {
                    for file in backup.files { if let encryption = file.encryption { knownKeys[file.path] = encryption } }
                }
            }
            let backupDirectory = "rocksdb/\(BackupManifest.dayString(started))/\(id)/"
            var planned: [BackupManifest.File] = hashed.map { name, digest in
                let kind = Self.kind(of: name)
                let suffix = kek == nil ? "" : ".kenc"
                if kind == .sst {
                    let family = families[name] ?? "unknown"
                    let number = name.replacingOccurrences(of: ".sst", with: "")
                    let path = "\(Self.sharedPrefix)\(family)/\(number)-\(digest.size)-\(digest.hex.prefix(16)).sst\(suffix)"
                    var reusable = existing[path] != nil
                    var encryption: BackupManifest.FileEncryption?
                    if kek != nil {
                        encryption = knownKeys[path]
                        reusable = reusable && encryption != nil && existing[path] == encryption?.storedSize
                            && (encryption.map { kek?.canUnwrap(keyID: $0.dataKey.kekID) ?? false } ?? false)
                    } else {
                        reusable = reusable && existing[path] == digest.size
                    }
                    return .init(name: name, kind: kind, columnFamily: family, size: digest.size, sha256: digest.hex,
                                 path: path, uploaded: !reusable, encryption: reusable ? encryption : nil)
                }
                return .init(name: name, kind: kind, columnFamily: nil, size: digest.size, sha256: digest.hex,
                             path: backupDirectory + name + suffix, uploaded: true, encryption: nil)
            }

            let toUpload = planned.filter(\.uploaded)
            let uploadTotal = toUpload.reduce(0) { $0 + $1.size }
            let counter = TransferCounter()
            let encryptions = try await boundedMap(toUpload, limit: concurrency) { file -> (String, BackupManifest.FileEncryption?) in
                let local = checkpointPath + "/" + file.name
                var encryption: BackupManifest.FileEncryption?
                if let kek {
                    let dataKey = SymmetricKey(size: .bits256)
                    try await target.upload(encrypting: local, key: dataKey.withUnsafeBytes { Data($0) }, to: file.path)
                    encryption = .init(format: "KUMOENC1", dataKey: try await kek.wrap(dataKey),
                                       storedSize: Int64(EncryptedFileFormat.encryptedSize(plaintextLength: UInt64(file.size))))
                } else {
                    try await target.upload(file: local, to: file.path)
                }
                let (done, bytes) = counter.add(file.size)
                progress?(BackupProgress(phase: .uploading, filesDone: done, filesTotal: toUpload.count, bytesDone: bytes, bytesTotal: uploadTotal))
                return (file.path, encryption)
            }
            let byPath = Dictionary(encryptions.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
            for index in planned.indices where planned[index].uploaded {
                planned[index].encryption = byPath[planned[index].path] ?? nil
            }

            let manifest = BackupManifest(
                schema: BackupManifest.currentSchema, id: id, label: label, createdAt: started,
                sequenceNumber: checkpoint.sequenceNumber, columnFamilies: store.columnFamilies.map(\.name),
                files: planned, kumoVersion: KumoBackupVersion.kumo,
                rocksDBVersion: Self.rocksDBVersion(checkpointPath: checkpointPath, names: names),
                sourceHost: ProcessInfo.processInfo.hostName, sourcePath: store.path,
                durationSeconds: Date().timeIntervalSince(started))
            progress?(BackupProgress(phase: .manifest, filesDone: toUpload.count, filesTotal: toUpload.count, bytesDone: uploadTotal, bytesTotal: uploadTotal))
            try await target.write(try manifest.encoded(), to: BackupManifest.path(id: id, createdAt: started), createOnly: true)
            return manifest
        }
    }

    /// Checkpoint directories of backups running in this process.
    static let activeCheckpoints = Mutex<Set<String>>([])

    /// Removes checkpoint directories left beside the store by backups that died (killed, crashed). Only the
    /// process that has the store open can back it up, so any directory not in use here is abandoned.
    static func removeAbandonedCheckpoints(of storePath: String) {
        let parent = (storePath as NSString).deletingLastPathComponent
        let prefix = (storePath as NSString).lastPathComponent + ".kumo-backup-"
        let active = activeCheckpoints.withLock { $0 }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
            let path = parent + "/" + name
            if !active.contains(path) { try? FileManager.default.removeItem(atPath: path) }
        }
    }

    static func newID(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        // Milliseconds keep ids in creation order even for backups taken within one second.
        formatter.dateFormat = "yyyyMMdd'T'HHmmssSSS'Z'"
        return formatter.string(from: date) + "-" + UUID().uuidString.lowercased().prefix(6)
    }

    static func kind(of name: String) -> BackupManifest.File.Kind {
        if name.hasSuffix(".sst") { return .sst }
        if name.hasPrefix("MANIFEST-") { return .manifest }
        if name == "CURRENT" { return .current }
        if name.hasPrefix("OPTIONS-") { return .options }
        if name.hasSuffix(".log") { return .wal }
        return .other
    }

    // MARK: List

    /// Every backup whose manifest reads, oldest first, and the paths of manifests that do not.
    public func listWithProblems() async throws -> (backups: [BackupManifest], unreadable: [String]) {
        let paths = try await target.list(prefix: "rocksdb/").map(\.path).filter { $0.hasSuffix("/manifest.json") }
        var backups: [BackupManifest] = []
        var unreadable: [String] = []
        for path in paths {
            do {
                backups.append(try BackupManifest.decode(try await target.read(path), path: path))
            } catch {
                unreadable.append(path)
            }
        }
        return (backups.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }, unreadable)
    }

    public func list() async throws -> [BackupManifest] { try await listWithProblems().backups }

    /// The manifest of backup `id` (`latest` for the newest).
    public func manifest(_ id: String) async throws -> BackupManifest {
        if id == "latest" {
            guard let newest = try await list().last else { throw BackupError(.notFound, "no backups in \(target.description)") }
            return newest
        }
        let paths = try await target.list(prefix: "rocksdb/").map(\.path).filter { $0.hasSuffix("/manifest.json") }
        guard let path = paths.first(where: { $0.hasSuffix("/\(id)/manifest.json") }) else {
            throw BackupError(.notFound, "no backup '\(id)' in \(target.description)")
        }
        return try BackupManifest.decode(try await target.read(path), path: path)
    }

    // MARK: Verify

    /// Checks every file the backup references: present with its recorded size; with `deep`, also
    /// downloaded and re-hashed, and the whole backup restored to a temporary directory and opened.
    public func verify(_ id: String, deep: Bool = false) async throws -> VerificationReport {
        let manifest = try await manifest(id)
        let target = self.target
        var problems: [String] = []
        if deep {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-verify-\(UUID().uuidString.prefix(8))").path
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            do {
                _ = try await restore(manifest.id, to: scratch + "/db")
            } catch let error as BackupError {
                problems.append(error.message)
            }
        } else {
            let results = try await boundedMap(manifest.files, limit: concurrency) { file -> String? in
                guard let size = try await target.size(of: file.path) else { return "\(file.name): \(file.path) is missing" }
                let expected = file.encryption?.storedSize ?? file.size
                return size == expected ? nil : "\(file.name): \(file.path) has \(size) bytes, the manifest says \(expected)"
            }
            problems = results.compactMap { $0 }
        }
        return VerificationReport(backupID: manifest.id, deep: deep, filesChecked: manifest.files.count, problems: problems)
    }

    // MARK: Restore

    /// Restores backup `id` (or `latest`) into `directory`, which must not exist or be empty.
    ///
    /// Files are downloaded into a staging directory beside `directory` and checked (size and SHA-256)
    /// before RocksDB opens anything; only a complete, checked copy is moved into place, so a failed restore
    /// writes nothing into `directory`.
    public func restore(
        _ id: String, to directory: String, progress: (@Sendable (BackupProgress) -> Void)? = nil
    ) async throws -> RestoreReport {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try FileManager.default.contentsOfDirectory(atPath: directory)).isEmpty else {
                throw BackupError(.targetNotEmpty, "\(directory) is not an empty directory; restore refuses to overwrite it")
            }
        }
        let manifest = try await manifest(id)
        let staging = (directory as NSString).deletingLastPathComponent + "/.kumo-restore-\(manifest.id)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }

        let target = self.target
        let counter = TransferCounter()
        let total = manifest.totalBytes
        _ = try await boundedMap(manifest.files, limit: concurrency) { file in
            let local = staging + "/" + file.name
            let digest: (hex: String, size: Int64)
            if let encryption = file.encryption {
                let dataKey = try await self.unwrap(encryption.dataKey, backupID: manifest.id, file: "\(file.name) (\(file.path))")
                let name = "\(file.name) (\(file.path))"
                let keyBytes = dataKey.withUnsafeBytes { Data($0) }
                let (header, hex) = try await target.withLocalFile(file.path, scratch: local + ".kenc") { stored in
                    try EncryptedFileFormat.decryptAndHash(file: stored, to: local, key: SymmetricKey(data: keyBytes), name: name)
                }
                digest = (hex, Int64(header.plaintextLength))
            } else {
                try await target.download(file.path, to: local)
                digest = try FileHashing.sha256(ofFileAt: local)
            }
            guard digest.size == file.size else {
                throw BackupError(.corrupt, "\(file.name) (\(file.path)) has \(digest.size) bytes, the manifest says \(file.size)")
            }
            guard digest.hex == file.sha256 else {
                throw BackupError(.corrupt, "\(file.name) (\(file.path)) fails its SHA-256 check: the stored copy is damaged")
            }
            let (done, bytes) = counter.add(file.size)
            progress?(BackupProgress(phase: .downloading, filesDone: done, filesTotal: manifest.files.count, bytesDone: bytes, bytesTotal: total))
            return ()
        }

        progress?(BackupProgress(phase: .opening, filesDone: manifest.files.count, filesTotal: manifest.files.count, bytesDone: total, bytesTotal: total))
        try? FileManager.default.removeItem(atPath: directory)  // an empty directory, checked above
        try FileManager.default.moveItem(atPath: staging, toPath: directory)
        var options = StoreOptions()
        options.createIfMissing = false
        let store = try await Store.open(at: directory, options: options)
        defer { try? store.close() }
        let sequence = try store.latestSequenceNumber
        guard sequence == manifest.sequenceNumber else {
            throw BackupError(.verificationFailed, "the restored store is at sequence \(sequence), the manifest says \(manifest.sequenceNumber)")
        }
        var counts: [String: Int] = [:]
        for family in store.columnFamilies {
            var count = 0
            try store.withCursor(in: family) { cursor in
                while try cursor.next() != nil { count += 1 }
            }
            counts[family.name] = count
        }
        return RestoreReport(backupID: manifest.id, path: directory, sequenceNumber: sequence, keyCounts: counts, bytes: total)
    }

    // MARK: Rekey

    /// Re-wraps every data key of every backup under `newKey` (a new KEK, or a new version of one) without
    /// touching the encrypted data; this engine's key must unwrap them. Returns how many keys were re-wrapped.
    public func rekey(to newKey: any KeyEncryptionKey) async throws -> Int {
        guard keyEncryptionKey != nil || keyResolver != nil else {
            throw BackupError(.invalidArgument, "rekey needs the current key to unwrap the data keys")
        }
        let target = self.target
        return try await target.withLock(Self.lockPath) {
            var rewrapped = 0
            for var manifest in try await list() {
                var changed = false
                for index in manifest.files.indices {
                    guard let encryption = manifest.files[index].encryption, encryption.dataKey.kekID != newKey.id else { continue }
                    let dataKey = try await unwrap(encryption.dataKey, backupID: manifest.id, file: manifest.files[index].path)
                    manifest.files[index].encryption?.dataKey = try await newKey.wrap(dataKey)
                    changed = true
                    rewrapped += 1
                }
                if changed {
                    try await target.write(try manifest.encoded(), to: BackupManifest.path(id: manifest.id, createdAt: manifest.createdAt), createOnly: false)
                }
            }
            return rewrapped
        }
    }

    // MARK: Prune and delete

    /// Deletes the backups `policy` does not keep, then every shared file no kept backup references.
    public func prune(_ policy: RetentionPolicy, dryRun: Bool = false) async throws -> PruneReport {
        let target = self.target
        return try await target.withLock(Self.lockPath) {
            let (backups, unreadable) = try await listWithProblems()
            guard unreadable.isEmpty else {
                throw BackupError(.corrupt, "cannot prune safely: manifest \(unreadable.joined(separator: ", ")) does not read, so what it references is unknown")
            }
            let kept = policy.kept(backups)
            return try await removeUnreferenced(backups: backups, keeping: kept, dryRun: dryRun)
        }
    }

    /// Deletes one backup and the shared files only it referenced.
    public func delete(_ id: String, dryRun: Bool = false) async throws -> PruneReport {
        let target = self.target
        return try await target.withLock(Self.lockPath) {
            let (backups, unreadable) = try await listWithProblems()
            guard unreadable.isEmpty else {
                throw BackupError(.corrupt, "cannot delete safely: manifest \(unreadable.joined(separator: ", ")) does not read")
            }
            guard backups.contains(where: { $0.id == id }) else { throw BackupError(.notFound, "no backup '\(id)' in \(target.description)") }
            return try await removeUnreferenced(backups: backups, keeping: Set(backups.map(\.id)).subtracting([id]), dryRun: dryRun)
        }
    }

    private func removeUnreferenced(backups: [BackupManifest], keeping kept: Set<String>, dryRun: Bool) async throws -> PruneReport {
        let referenced = Set(backups.filter { kept.contains($0.id) }.flatMap { $0.files.map(\.path) })
        let keptDirectories = backups.filter { kept.contains($0.id) }.map { "rocksdb/\(BackupManifest.dayString($0.createdAt))/\($0.id)/" }
        let all = try await target.list(prefix: "rocksdb/")
        // Manifests first, so a backup disappears before any file it needs does.
        let doomed = all.filter { object in
            guard object.path != Self.lockPath, !referenced.contains(object.path) else { return false }
            if object.path.hasPrefix(Self.sharedPrefix) { return true }
            return !keptDirectories.contains { object.path.hasPrefix($0) }
        }.sorted { ($0.path.hasSuffix("manifest.json") ? 0 : 1, $0.path) < ($1.path.hasSuffix("manifest.json") ? 0 : 1, $1.path) }
        if !dryRun {
            for object in doomed { try await target.delete(object.path) }
        }
        return PruneReport(
            keptBackups: backups.map(\.id).filter(kept.contains), deletedBackups: backups.map(\.id).filter { !kept.contains($0) },
            deletedObjects: doomed.map(\.path), deletedBytes: doomed.reduce(0) { $0 + $1.size }, dryRun: dryRun)
    }
}

/// The Kumo version recorded in manifests.
public enum KumoBackupVersion {
    public static let kumo = "0.1.0"
}

extension BackupEngine {
    /// The RocksDB version that wrote the checkpoint, from its OPTIONS file (`rocksdb_version=7.8.3`).
    static func rocksDBVersion(checkpointPath: String, names: [String]) -> String {
        for name in names where name.hasPrefix("OPTIONS-") {
            guard let text = try? String(contentsOfFile: checkpointPath + "/" + name, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("rocksdb_version=") { return String(trimmed.dropFirst("rocksdb_version=".count)) }
            }
        }
        return "unknown"
    }
}

/// Counts files and bytes finished by concurrent transfers.
final class TransferCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var files = 0
    private var bytes: Int64 = 0

    func add(_ size: Int64) -> (Int, Int64) {
        lock.withLock {
            files += 1
            bytes += size
            return (files, bytes)
        }
    }
}
