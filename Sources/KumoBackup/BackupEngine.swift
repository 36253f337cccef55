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
    /// Unreferenced objects left in place because they are younger than the grace period: they may belong to
    /// a backup still being written.
    public var deferredObjects: [String] = []
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
    /// - Throws: ``BackupError`` `.locked` when another backup of this target is running; `.interrupted` when the
    ///   task is cancelled, after the checkpoint is removed and the lock released, saying how far it got (no
    ///   backup is recorded unless its manifest was written).
    public func create(
        _ store: Store, label: String? = nil, progress: (@Sendable (BackupProgress) -> Void)? = nil
    ) async throws -> BackupManifest {
        let ledger = InterruptionLedger()
        return try await interruptible(ledger) {
            try await withTargetLock(ledger) {
                let started = Date()
                let id = Self.newID(started)
                let checkpointPath = store.path + ".kumo-backup-\(id)"
                Self.beginCheckpoint(checkpointPath, of: store)
                let uploads = WorkTally()
                let manifestWrite = WorkTally()
                do {
                    let manifest = try await backUp(
                        store, id: id, started: started, checkpointPath: checkpointPath, label: label, uploads: uploads,
                        manifestWrite: manifestWrite, progress: progress)
                    Self.endCheckpoint(checkpointPath)
                    return manifest
                } catch {
                    let uploaded = uploads.current
                    ledger.note(uploaded.started ? "uploaded \(uploads.text("file"))" : "no file was uploaded")
                    if manifestWrite.current.started {
                        ledger.note("backup \(id) may or may not have been recorded: its manifest was being written ('kumo backup list' shows whether it was)")
                    } else {
                        ledger.note("no backup was recorded (the manifest is written last)" + (uploaded.done > 0
                            ? "; the next backup reuses the uploaded SST files and prune removes what no backup uses" : ""))
                    }
                    if let removal = Self.endCheckpoint(checkpointPath) { ledger.note(removal) }
                    throw error
                }
            }
        }
    }

    /// The work of ``create(_:label:progress:)`` once the lock is held and the checkpoint path claimed.
    private func backUp(
        _ store: Store, id: String, started: Date, checkpointPath: String, label: String?, uploads: WorkTally,
        manifestWrite: WorkTally, progress: (@Sendable (BackupProgress) -> Void)?
    ) async throws -> BackupManifest {
        let target = self.target
        let concurrency = self.concurrency
        progress?(BackupProgress(phase: .checkpoint, filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0))
        var families: [String: String] = [:]
        for file in try store.liveFiles() { families[file.name] = file.columnFamily }
        let checkpoint = try await store.checkpoint(to: checkpointPath)
        for file in try store.liveFiles() { families[file.name] = file.columnFamily }

        let names = try FileManager.default.contentsOfDirectory(atPath: checkpointPath).sorted()
        let hashed = try await boundedMap(names, limit: concurrency) { name in
            try Task.checkCancellation()
            return (name, try FileHashing.sha256(ofFileAt: checkpointPath + "/" + name))
        }
        let totalBytes = hashed.reduce(0) { $0 + $1.1.size }
        progress?(BackupProgress(phase: .hashing, filesDone: hashed.count, filesTotal: hashed.count, bytesDone: totalBytes, bytesTotal: totalBytes))

        let existing = Dictionary(
            try await target.list(prefix: Self.sharedPrefix).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let kek = keyEncryptionKey
        // An encrypted shared SST can only be reused with the data key an earlier manifest recorded for it,
        // and only a manifest whose seal verifies under this key is believed about that. A stored object's
        // recorded MD5 comes along, so the reuse check can compare it with the target's listing.
        var knownKeys: [String: BackupManifest.FileEncryption] = [:]
        var knownMD5: [String: String] = [:]
        for stored in try await storedManifests().readable {
            guard kek != nil else {
                for file in stored.manifest.files where file.encryption == nil { knownMD5[file.path] = file.storedMD5 ?? knownMD5[file.path] }
                continue
            }
            let backup: BackupManifest
            do {
                backup = try await authenticated(stored)
            } catch let error as BackupError where error.code == .corrupt || error.code == .invalidArgument {
                continue  // not sealed by this key (or damaged): its data keys are not believed
            }
            for file in backup.files {
                guard let encryption = file.encryption else { continue }
                knownKeys[file.path] = encryption
                knownMD5[file.path] = file.storedMD5 ?? knownMD5[file.path]
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
                return .init(name: name, kind: kind, columnFamily: family, size: digest.size, sha256: digest.hex,
                             path: path, uploaded: true, encryption: kek == nil ? nil : knownKeys[path], storedMD5: knownMD5[path])
            }
            return .init(name: name, kind: kind, columnFamily: nil, size: digest.size, sha256: digest.hex,
                         path: backupDirectory + name + suffix, uploaded: true, encryption: nil)
        }
        // A stored SST is reused only once it is checked (ReuseCheck): damage at rest must not spread to every
        // later backup. One that exists but fails the check is never overwritten, since older backups may
        // still restore from it; a fresh copy goes beside it under a name of this backup's.
        let checks = try await boundedMap(planned, limit: concurrency) { file -> Bool in
            guard file.kind == .sst, let stored = existing[file.path] else { return false }
            return try await ReuseCheck(engine: self, target: target).isReusable(
                file, stored: stored, local: checkpointPath + "/" + file.name)
        }
        for index in planned.indices {
            if checks[index] {
                planned[index].uploaded = false
            } else {
                planned[index].encryption = nil
                planned[index].storedMD5 = nil
                if existing[planned[index].path] != nil {
                    planned[index].path = Self.freshCopyPath(planned[index].path, backupID: id)
                }
            }
        }

        let toUpload = planned.filter(\.uploaded)
        let uploadTotal = toUpload.reduce(0) { $0 + $1.size }
        uploads.begin(total: toUpload.count, bytes: uploadTotal)
        let stored = try await boundedMap(toUpload, limit: concurrency) { file -> (String, BackupManifest.FileEncryption?, [UInt8]?) in
            try Task.checkCancellation()
            let local = checkpointPath + "/" + file.name
            var encryption: BackupManifest.FileEncryption?
            let md5: [UInt8]?
            if let kek {
                let dataKey = SymmetricKey(size: .bits256)
                md5 = try await target.upload(encrypting: local, key: dataKey.withUnsafeBytes { Data($0) }, to: file.path)
                encryption = .init(format: "KUMOENC1", dataKey: try await kek.wrap(dataKey),
                                   storedSize: Int64(EncryptedFileFormat.encryptedSize(plaintextLength: UInt64(file.size))))
            } else {
                md5 = try await target.upload(file: local, to: file.path)
            }
            let (done, bytes) = uploads.add(file.size)
            progress?(BackupProgress(phase: .uploading, filesDone: done, filesTotal: toUpload.count, bytesDone: bytes, bytesTotal: uploadTotal))
            return (file.path, encryption, md5)
        }
        let byPath = Dictionary(stored.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { a, _ in a })
        for index in planned.indices where planned[index].uploaded {
            planned[index].encryption = byPath[planned[index].path]?.0 ?? nil
            planned[index].storedMD5 = byPath[planned[index].path]?.1.map { Data($0).base64EncodedString() }
        }

        let manifest = BackupManifest(
            schema: BackupManifest.currentSchema, id: id, label: label, createdAt: started,
            sequenceNumber: checkpoint.sequenceNumber, columnFamilies: store.columnFamilies.map(\.name),
            files: planned, kumoVersion: KumoBackupVersion.kumo,
            rocksDBVersion: Self.rocksDBVersion(checkpointPath: checkpointPath, names: names),
            sourceHost: ProcessInfo.processInfo.hostName, sourcePath: store.path,
            durationSeconds: Date().timeIntervalSince(started))
        progress?(BackupProgress(phase: .manifest, filesDone: toUpload.count, filesTotal: toUpload.count, bytesDone: uploadTotal, bytesTotal: uploadTotal))
        // The lock may have been lost while the files went up: no manifest lands without it.
        try Task.checkCancellation()
        let encoded = try await Self.encode(manifest, sealedBy: kek)
        try Task.checkCancellation()
        manifestWrite.begin(total: 1)
        try await target.write(encoded, to: BackupManifest.path(id: id, createdAt: started), createOnly: true)
        return manifest
    }

    /// Checkpoint directories of backups running in this process.
    static let activeCheckpoints = Mutex<Set<String>>([])

    /// Claims `checkpointPath` beside `store` for a checkpoint, first removing those that died.
    static func beginCheckpoint(_ checkpointPath: String, of store: Store) {
        removeAbandonedCheckpoints(of: store.path)
        activeCheckpoints.withLock { _ = $0.insert(checkpointPath) }
    }

    /// Removes the checkpoint; returns what became of it for an interrupted backup's message (nil when none was
    /// made). One that cannot be removed is no longer claimed, so the store's next backup sweeps it.
    @discardableResult
    static func endCheckpoint(_ checkpointPath: String) -> String? {
        defer { activeCheckpoints.withLock { _ = $0.remove(checkpointPath) } }
        guard FileManager.default.fileExists(atPath: checkpointPath) else { return nil }
        do {
            try FileManager.default.removeItem(atPath: checkpointPath)
            return "removed the checkpoint \(checkpointPath)"
        } catch {
            return "could not remove the checkpoint \(checkpointPath) (\(error.localizedDescription)); the store's next backup removes it"
        }
    }

    /// Removes checkpoint directories left beside the store by backups that died (killed, crashed). Only the
    /// process that has the store open can back it up, so any directory not in use here is abandoned.
    static func removeAbandonedCheckpoints(of storePath: String) {
        let parent = (storePath as NSString).deletingLastPathComponent
        let prefix = (storePath as NSString).lastPathComponent + ".kumo-backup-"
        let active = activeCheckpoints.withLock { $0 }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
            let path = parent + "/" + name
            if !active.contains(path) { removeLeftover(path, kind: .checkpoint) }
        }
    }

    /// Where a fresh copy of an SST goes when its usual path holds a copy that failed its check:
    /// `<number>-<size>-<hash16>-<backup id suffix>.sst`.
    static func freshCopyPath(_ path: String, backupID: String) -> String {
        let marker = ".sst"
        guard let range = path.range(of: marker, options: .backwards) else { return path + "-" + backupID.suffix(6) }
        return path.replacingCharacters(in: range, with: "-\(backupID.suffix(6))\(marker)")
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

    /// The paths of every manifest in the target, oldest backup first (ids sort by creation time).
    func manifestPaths() async throws -> [String] {
        try await target.list(prefix: "rocksdb/").map(\.path).filter { $0.hasSuffix("/manifest.json") && !$0.hasPrefix(Self.sharedPrefix) }
            .sorted { ($0 as NSString).deletingLastPathComponent.split(separator: "/").last ?? "" < ($1 as NSString).deletingLastPathComponent.split(separator: "/").last ?? "" }
    }

    /// Reads, decodes and validates the manifest at `path`.
    func readManifest(at path: String) async throws -> StoredManifest {
        let bytes = try await target.read(path, limit: BackupManifest.maximumEncodedSize)
        return StoredManifest(manifest: try BackupManifest.decode(bytes, path: path), bytes: bytes, path: path)
    }

    /// Every backup whose manifest reads, oldest first, and the paths of manifests that do not.
    public func listWithProblems() async throws -> (backups: [BackupManifest], unreadable: [String]) {
        let (stored, unreadable) = try await storedManifests()
        return (stored.map(\.manifest), unreadable.map(\.path))
    }

    /// Every manifest that reads, oldest first, and the errors of those that do not.
    func storedManifests() async throws -> (readable: [StoredManifest], unreadable: [(path: String, error: any Error)]) {
        var readable: [StoredManifest] = []
        var unreadable: [(path: String, error: any Error)] = []
        for path in try await manifestPaths() {
            do {
                readable.append(try await readManifest(at: path))
            } catch let error as BackupError where error.code == .corrupt || error.code == .notFound {
                unreadable.append((path, error))
            }
        }
        return (readable.sorted { ($0.manifest.createdAt, $0.manifest.id) < ($1.manifest.createdAt, $1.manifest.id) }, unreadable)
    }

    public func list() async throws -> [BackupManifest] { try await listWithProblems().backups }

    /// The manifest of backup `id` (`latest` for the newest).
    /// - Throws: ``BackupError`` `.notFound` when there is no such backup; `.corrupt` when its manifest does not
    ///   read, also for `latest` when the newest manifest is damaged (an older backup is never silently used).
    public func manifest(_ id: String) async throws -> BackupManifest {
        try await storedManifest(id).manifest
    }

    func storedManifest(_ id: String) async throws -> StoredManifest {
        let paths = try await manifestPaths()
        let path: String
        if id == "latest" {
            guard let newest = paths.last else { throw BackupError(.notFound, "no backups in \(target.description)") }
            path = newest
        } else {
            guard BackupManifest.isValidID(id) else {
                throw BackupError(.notFound, "'\(BackupManifest.printable(id))' is not a backup id (yyyyMMddTHHmmssSSSZ-<6 hex>) in \(target.description)")
            }
            guard let found = paths.first(where: { $0.hasSuffix("/\(id)/manifest.json") }) else {
                throw BackupError(.notFound, "no backup '\(id)' in \(target.description)")
            }
            path = found
        }
        do {
            return try await readManifest(at: path)
        } catch let error as BackupError where error.code == .notFound {
            throw BackupError(.corrupt, "manifest \(path) is listed but cannot be read: \(error.message)")
        }
    }

    /// `stored`, once its seal (if any) verifies. With a key-encryption key given to the engine, the manifest
    /// must be sealed by that key (any version of it): an attacker who strips the encryption, or seals with a
    /// key of their own, is refused.
    func authenticated(_ stored: StoredManifest) async throws -> BackupManifest {
        let manifest = stored.manifest
        guard let authentication = manifest.authentication else {
            if let kek = keyEncryptionKey {
                throw BackupError(.corrupt, "manifest \(stored.path) is not sealed, but backups read with \(kek.id) must be: its encryption may have been removed (a backup made before manifests were sealed is sealed by 'kumo backup rekey')")
            }
            return manifest
        }
        if let kek = keyEncryptionKey {
            guard kek.canUnwrap(keyID: authentication.key.kekID) else {
                throw BackupError(.corrupt, "manifest \(stored.path) is sealed by \(authentication.key.kekID), not by \(kek.id)")
            }
            // A seal weaker than the key's own (an HMAC whose key was wrapped with an RSA public key) is forged.
            guard authentication.algorithm == kek.manifestSealAlgorithm else {
                throw BackupError(.corrupt, "manifest \(stored.path) is sealed with \(BackupManifest.printable(authentication.algorithm)), but \(kek.id) seals with \(kek.manifestSealAlgorithm)")
            }
        }
        let (seal, covered) = try BackupManifest.sealParts(of: stored.bytes, path: stored.path)
        let authentic: Bool
        switch authentication.algorithm {
        case BackupManifest.macAlgorithm:
            let macKey = try await unwrap(authentication.key, backupID: manifest.id, file: "its seal")
            authentic = HMAC<SHA256>.isValidAuthenticationCode(seal, authenticating: covered, using: macKey)
        default:
            let signer: (any KeyEncryptionKey)?
            if let kek = keyEncryptionKey { signer = kek } else { signer = try await keyResolver?.resolve(authentication.key.kekID) }
            guard let signer else {
                throw BackupError(.corrupt, "manifest \(stored.path) is sealed with \(BackupManifest.printable(authentication.algorithm)) by \(authentication.key.kekID), which this Kumo cannot check")
            }
            authentic = try await signer.verifyManifest(digest: Array(SHA256.hash(data: covered)), signature: seal, keyID: authentication.key.kekID)
        }
        guard authentic else {
            throw BackupError(.corrupt, "manifest \(stored.path) fails authentication: it was altered after it was written")
        }
        return manifest
    }

    /// The stored form of `manifest`: sealed under a new MAC key wrapped by `kek`, or plain JSON without one.
    static func encode(_ manifest: BackupManifest, sealedBy kek: (any KeyEncryptionKey)?) async throws -> [UInt8] {
        guard let kek else { return try manifest.encoded() }
        if kek.manifestSealAlgorithm == BackupManifest.macAlgorithm {
            let macKey = SymmetricKey(size: .bits256)
            let input = try manifest.sealInput(.init(algorithm: BackupManifest.macAlgorithm, key: try await kek.wrap(macKey), manifestMAC: ""))
            return try BackupManifest.insertSeal(Array(HMAC<SHA256>.authenticationCode(for: input, using: macKey)), into: input)
        }
        let signer = WrappedKey(kekID: kek.id, algorithm: kek.manifestSealAlgorithm, wrapped: "")
        let input = try manifest.sealInput(.init(algorithm: kek.manifestSealAlgorithm, key: signer, manifestMAC: ""))
        return try BackupManifest.insertSeal(try await kek.signManifest(digest: Array(SHA256.hash(data: input))), into: input)
    }

    // MARK: Rekey

    /// Re-wraps every data key of every backup under `newKey` (a new KEK, or a new version of one) without
    /// touching the encrypted data; this engine's key must unwrap them. Returns how many keys were re-wrapped.
    /// - Throws: ``BackupError`` `.interrupted` when the task is cancelled, saying how many manifests were already
    ///   rewritten (each is rewritten whole, so every backup opens with the old key or the new one).
    public func rekey(to newKey: any KeyEncryptionKey) async throws -> Int {
        guard keyEncryptionKey != nil || keyResolver != nil else {
            throw BackupError(.invalidArgument, "rekey needs the current key to unwrap the data keys")
        }
        let target = self.target
        let ledger = InterruptionLedger()
        let rewritten = WorkTally()
        return try await interruptible(ledger) {
            try await withTargetLock(ledger) {
                do {
                    return try await rekey(to: newKey, target: target, rewritten: rewritten)
                } catch {
                    let count = rewritten.current
                    ledger.note(count.done == 0 ? "no manifest was rewritten" : "rekeyed \(rewritten.text("manifest")) to \(newKey.id)")
                    if count.started && count.done < count.total {
                        ledger.note("the other backups still open with the old key; run rekey again to finish")
                    }
                    throw error
                }
            }
        }
    }

    private func rekey(to newKey: any KeyEncryptionKey, target: any BackupTarget, rewritten: WorkTally) async throws -> Int {
        var rewrapped = 0
        let (stored, unreadable) = try await storedManifests()
        guard unreadable.isEmpty else {
            throw BackupError(.corrupt, "cannot rekey: manifest \(unreadable.map(\.path).joined(separator: ", ")) does not read")
        }
        rewritten.begin(total: stored.count)
        for entry in stored {
            var manifest = entry.manifest
            // A sealed manifest must verify before it is re-sealed; one from before seals is sealed now, as
            // long as every data key it holds unwraps with the current key.
            var changed = false
            if manifest.authentication != nil {
                _ = try await authenticated(entry)
            } else if !manifest.files.isEmpty, manifest.files.allSatisfy({ $0.encryption != nil }) {
                for file in manifest.files {
                    guard let encryption = file.encryption, encryption.dataKey.kekID == newKey.id else { continue }
                    _ = try await newKey.unwrap(encryption.dataKey)
                }
                changed = true
            }
            for index in manifest.files.indices {
                guard let encryption = manifest.files[index].encryption, encryption.dataKey.kekID != newKey.id else { continue }
                let dataKey = try await unwrap(encryption.dataKey, backupID: manifest.id, file: manifest.files[index].path)
                manifest.files[index].encryption?.dataKey = try await newKey.wrap(dataKey)
                changed = true
                rewrapped += 1
            }
            if manifest.authentication != nil && manifest.authentication?.key.kekID != newKey.id { changed = true }
            if changed {
                try Task.checkCancellation()
                manifest.authentication = nil
                try await target.write(try await Self.encode(manifest, sealedBy: newKey), to: entry.path, createOnly: false)
            }
            rewritten.add()
        }
        return rewrapped
    }

    // MARK: Prune and delete

    /// How long an object that no manifest references is left alone by prune and delete: a backup running
    /// elsewhere may have stored it and not yet written the manifest that references it.
    public static let defaultGracePeriod: TimeInterval = 24 * 3600

    /// Deletes the backups `policy` does not keep, then every shared file no kept backup references, except
    /// objects no manifest references that are younger than `gracePeriod` seconds.
    /// - Throws: ``BackupError`` when a manifest does not read or a delete fails; manifests go first, so a failure
    ///   never leaves a listed backup without its files.
    /// - Throws: ``BackupError`` `.interrupted` when the task is cancelled, saying how many objects were deleted.
    public func prune(_ policy: RetentionPolicy, dryRun: Bool = false, gracePeriod: TimeInterval = defaultGracePeriod) async throws -> PruneReport {
        let ledger = InterruptionLedger()
        return try await interruptible(ledger) {
            try await withTargetLock(ledger) {
                let (backups, unreadable) = try await listWithProblems()
                guard unreadable.isEmpty else {
                    throw BackupError(.corrupt, "cannot prune safely: manifest \(unreadable.joined(separator: ", ")) does not read, so what it references is unknown")
                }
                let kept = policy.kept(backups)
                return try await removeUnreferenced(backups: backups, keeping: kept, dryRun: dryRun, gracePeriod: gracePeriod, ledger: ledger)
            }
        }
    }

    /// Deletes one backup and the shared files only it referenced.
    /// - Throws: ``BackupError`` `.interrupted` when the task is cancelled, saying how many objects were deleted.
    public func delete(_ id: String, dryRun: Bool = false, gracePeriod: TimeInterval = defaultGracePeriod) async throws -> PruneReport {
        let target = self.target
        let ledger = InterruptionLedger()
        return try await interruptible(ledger) {
            try await withTargetLock(ledger) {
                let (backups, unreadable) = try await listWithProblems()
                guard unreadable.isEmpty else {
                    throw BackupError(.corrupt, "cannot delete safely: manifest \(unreadable.joined(separator: ", ")) does not read")
                }
                guard backups.contains(where: { $0.id == id }) else { throw BackupError(.notFound, "no backup '\(id)' in \(target.description)") }
                return try await removeUnreferenced(
                    backups: backups, keeping: Set(backups.map(\.id)).subtracting([id]), dryRun: dryRun, gracePeriod: gracePeriod,
                    ledger: ledger)
            }
        }
    }

    private func removeUnreferenced(
        backups: [BackupManifest], keeping kept: Set<String>, dryRun: Bool, gracePeriod: TimeInterval, ledger: InterruptionLedger
    ) async throws -> PruneReport {
        let referenced = Set(backups.filter { kept.contains($0.id) }.flatMap { $0.files.map(\.path) })
        let referencedByAny = Set(backups.flatMap { $0.files.map(\.path) })
        let manifestPaths = Set(backups.map { BackupManifest.path(id: $0.id, createdAt: $0.createdAt) })
        let graceStart = Date(timeIntervalSinceNow: -gracePeriod)
        var deferred: [String] = []
        let keptDirectories = backups.filter { kept.contains($0.id) }.map { "rocksdb/\(BackupManifest.dayString($0.createdAt))/\($0.id)/" }
        let all = try await target.list(prefix: "rocksdb/")
        // Manifests first, so a backup disappears before any file it needs does.
        let doomed = all.filter { object in
            guard object.path != Self.lockPath, !referenced.contains(object.path) else { return false }
            guard object.path.hasPrefix(Self.sharedPrefix) || !keptDirectories.contains(where: { object.path.hasPrefix($0) }) else { return false }
            // An object no manifest references may be an in-flight backup's: only an old one can be garbage.
            if !referencedByAny.contains(object.path), !manifestPaths.contains(object.path), (object.lastModified ?? .distantPast) > graceStart {
                deferred.append(object.path)
                return false
            }
            return true
        }.sorted { ($0.path.hasSuffix("manifest.json") ? 0 : 1, $0.path) < ($1.path.hasSuffix("manifest.json") ? 0 : 1, $1.path) }
        if !dryRun {
            let deleted = WorkTally()
            deleted.begin(total: doomed.count, bytes: doomed.reduce(0) { $0 + $1.size })
            do {
                for object in doomed {
                    try Task.checkCancellation()
                    try await target.delete(object.path)
                    deleted.add(object.size)
                }
            } catch {
                ledger.note(deleted.current.done == 0 ? "nothing was deleted" : "deleted \(deleted.text("object"))")
                if deleted.current.done > 0 {
                    ledger.note("manifests go first, so every backup still listed has all its files; run the command again to delete the rest")
                }
                throw error
            }
        }
        return PruneReport(
            keptBackups: backups.map(\.id).filter(kept.contains), deletedBackups: backups.map(\.id).filter { !kept.contains($0) },
            deletedObjects: doomed.map(\.path), deletedBytes: doomed.reduce(0) { $0 + $1.size }, deferredObjects: deferred, dryRun: dryRun)
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
