import Crypto
import Foundation
import KumoKV

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BackupEngine {
    // MARK: Verify

    /// Checks every file the backup references: present with its recorded size; with `deep`, also
    /// downloaded and re-hashed, and the whole backup restored to a temporary directory and opened.
    /// - Throws: ``BackupError`` `.interrupted` when the task is cancelled (after the scratch copy is removed).
    public func verify(_ id: String, deep: Bool = false) async throws -> VerificationReport {
        let ledger = InterruptionLedger()
        return try await interruptible(ledger) {
            let manifest = try await authenticated(try await storedManifest(id))
            let target = self.target
            let checked = WorkTally()
            checked.begin(total: manifest.files.count)
            var problems: [String] = []
            if deep {
                let scratch = try RestoreStaging.create(beside: RestoreStaging.scratchParent + "/kumo-verify")
                do {
                    do {
                        _ = try await restore(manifest.id, to: scratch.path + "/db", downloads: checked, ledger: InterruptionLedger(), progress: nil)
                    } catch let error as BackupError
                        where error.code != .lockLost && error.code != .io && error.code != .interrupted && !Task.isCancelled {
                        problems.append(error.message)
                    }
                } catch {
                    ledger.note("backup \(manifest.id) was not verified (\(checked.text("file")) downloaded and checked)")
                    ledger.note(scratch.removalNote("scratch directory"))
                    throw error
                }
                scratch.remove()
            } else {
                do {
                    let results = try await boundedMap(manifest.files, limit: concurrency) { file -> String? in
                        guard let size = try await target.size(of: file.path) else { return "\(file.name): \(file.path) is missing" }
                        checked.add()
                        let expected = file.encryption?.storedSize ?? file.size
                        return size == expected ? nil : "\(file.name): \(file.path) has \(size) bytes, the manifest says \(expected)"
                    }
                    problems = results.compactMap { $0 }
                } catch {
                    ledger.note("backup \(manifest.id) was not verified (\(checked.text("file")) checked)")
                    throw error
                }
            }
            return VerificationReport(backupID: manifest.id, deep: deep, filesChecked: manifest.files.count, problems: problems)
        }
    }

    // MARK: Restore

    /// Restores backup `id` (or `latest`) into `directory`, which must not exist or be empty.
    ///
    /// Files are downloaded into a staging directory beside `directory` and checked (size and SHA-256)
    /// before RocksDB opens anything; only a complete, checked copy is moved into place, so a failed or
    /// interrupted restore writes nothing into `directory`, and removes its staging directory.
    /// - Throws: ``BackupError`` `.interrupted` when the task is cancelled, saying how many files had arrived.
    public func restore(
        _ id: String, to directory: String, progress: (@Sendable (BackupProgress) -> Void)? = nil
    ) async throws -> RestoreReport {
        let ledger = InterruptionLedger()
        let downloads = WorkTally()
        return try await interruptible(ledger) {
            try await restore(id, to: directory, downloads: downloads, ledger: ledger, progress: progress)
        }
    }

    func restore(
        _ id: String, to directory: String, downloads: WorkTally, ledger: InterruptionLedger,
        progress: (@Sendable (BackupProgress) -> Void)?
    ) async throws -> RestoreReport {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try FileManager.default.contentsOfDirectory(atPath: directory)).isEmpty else {
                throw BackupError(.targetNotEmpty, "\(directory) is not an empty directory; restore refuses to overwrite it")
            }
        }
        let manifest = try await authenticated(try await storedManifest(id))
        let staging = try RestoreStaging.create(beside: directory)
        do {
            let report = try await restore(manifest, staging: staging, to: directory, downloads: downloads, progress: progress)
            staging.remove()
            return report
        } catch {
            let count = downloads.current
            if count.started { ledger.note("downloaded and checked \(downloads.text("file"))") }
            ledger.note("nothing was restored into \(directory) (the store moves there only once every file has arrived and checks out)")
            ledger.note(staging.removalNote("staging directory"))
            throw error
        }
    }

    private func restore(
        _ manifest: BackupManifest, staging: RestoreStaging, to directory: String, downloads: WorkTally,
        progress: (@Sendable (BackupProgress) -> Void)?
    ) async throws -> RestoreReport {
        let target = self.target
        let total = manifest.totalBytes
        downloads.begin(total: manifest.files.count, bytes: total)
        _ = try await boundedMap(manifest.files, limit: concurrency) { file in
            try Task.checkCancellation()
            // Names were validated as plain file names when the manifest was read.
            let local = staging.data + "/" + file.name
            let name = "\(file.name) (\(file.path))"
            let digest: (hex: String, size: Int64)
            if let encryption = file.encryption {
                let dataKey = try await self.unwrap(encryption.dataKey, backupID: manifest.id, file: name)
                let keyBytes = dataKey.withUnsafeBytes { Data($0) }
                let (header, hex) = try await target.withLocalFile(file.path, scratch: local + ".kenc", expectedSize: encryption.storedSize) { stored in
                    try EncryptedFileFormat.decryptAndHash(
                        stored, storedSize: UInt64(encryption.storedSize), to: local, key: SymmetricKey(data: keyBytes), name: name)
                }
                digest = (hex, Int64(clamping: header.plaintextLength))
            } else {
                try await target.download(file.path, to: local, expectedSize: file.size)
                digest = try FileHashing.sha256(ofFileAt: local)
            }
            guard digest.size == file.size else {
                throw BackupError(.corrupt, "\(name) has \(digest.size) bytes, the manifest says \(file.size)")
            }
            guard digest.hex == file.sha256 else {
                throw BackupError(.corrupt, "\(name) fails its SHA-256 check: the stored copy is damaged")
            }
            let (done, bytes) = downloads.add(file.size)
            progress?(BackupProgress(phase: .downloading, filesDone: done, filesTotal: manifest.files.count, bytesDone: bytes, bytesTotal: total))
            return ()
        }

        progress?(BackupProgress(phase: .opening, filesDone: manifest.files.count, filesTotal: manifest.files.count, bytesDone: total, bytesTotal: total))
        // The store is opened and checked while it is still staged: a backup whose files check out but do not
        // make a store (an unsealed manifest can rename them) fails without touching `directory`.
        let (sequence, counts) = try await Self.openAndCount(staging.data, backupID: manifest.id)
        guard sequence == manifest.sequenceNumber else {
            throw BackupError(.verificationFailed, "backup \(manifest.id): the restored store is at sequence \(sequence), the manifest says \(manifest.sequenceNumber)")
        }
        try await LocalFileIO.run { try LocalFileIO.syncTree(staging.data) }
        // rename(2) replaces an empty directory and refuses a non-empty one, so a file that appeared in
        // `directory` since the check above is never removed.
        guard rename(staging.data, directory) == 0 else {
            let code = errno
            if code == ENOTEMPTY || code == EEXIST || code == ENOTDIR {
                throw BackupError(.targetNotEmpty, "\(directory) is no longer an empty directory; nothing was restored into it")
            }
            throw LocalFileIO.failure("move the restored store to", directory, code)
        }
        try LocalFileIO.syncParent(of: directory)
        return RestoreReport(backupID: manifest.id, path: directory, sequenceNumber: sequence, keyCounts: counts, bytes: total)
    }

    /// Opens the store at `path` read-write (as its owner will), and returns its sequence number and the keys in
    /// each column family.
    static func openAndCount(_ path: String, backupID: String) async throws -> (UInt64, [String: Int]) {
        var options = StoreOptions()
        options.createIfMissing = false
        do {
            let store = try await Store.open(at: path, options: options)
            defer { try? store.close() }
            var counts: [String: Int] = [:]
            for family in store.columnFamilies {
                var count = 0
                try store.withCursor(in: family) { cursor in
                    while try cursor.next() != nil { count += 1 }
                }
                counts[family.name] = count
            }
            let sequence = try store.latestSequenceNumber
            try store.close()
            return (sequence, counts)
        } catch let error as KVError {
            throw BackupError(.verificationFailed, "backup \(backupID): its files check out but RocksDB cannot open them as a store: \(error.message)")
        }
    }
}

/// The private directory a restore downloads into, beside its destination so the finished store can be renamed
/// into place: `<parent>/.kumo-restore-<random>/` (mode 0700) holding `db/`, the store being assembled, and
/// `.lock`, held with `flock` for as long as the restore runs.
///
/// Decrypted data never sits in a directory others can read. A restore that is interrupted removes its staging
/// directory on the way out; one that dies (killed, crashed, power lost) leaves a directory whose lock nobody
/// holds, and the next restore beside it, or any restore, deep verify or repair (which sweep the temporary
/// directory their own scratch goes to), removes it and says so through ``BackupEngine/leftoverRemoved``.
struct RestoreStaging: Sendable {
    static let prefix = ".kumo-restore-"

    /// The staging directory.
    let path: String
    /// `path/db`: the store as it is assembled, renamed to the destination when complete.
    var data: String { path + "/db" }
    private let lock: Int32

    private init(path: String, lock: Int32) {
        self.path = path
        self.lock = lock
    }

    /// Creates a staging directory beside `destination`, first removing those of restores that died.
    /// - Throws: ``BackupError`` `.io` when the directory or its lock cannot be made.
    static func create(beside destination: String) throws -> RestoreStaging {
        let parent = (destination as NSString).deletingLastPathComponent.isEmpty ? "." : (destination as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        removeAbandoned(in: parent)
        // An interrupted deep verify or repair staged under the temporary directory, which no later restore
        // into a directory of the operator's names: every restore sweeps it too.
        if (scratchParent as NSString).standardizingPath != (parent as NSString).standardizingPath {
            removeAbandoned(in: scratchParent)
        }
        let path = parent + "/" + prefix + UUID().uuidString.lowercased().prefix(12)
        guard mkdir(path, 0o700) == 0 else { throw LocalFileIO.failure("create the staging directory", path) }
        let lock = open(path + "/.lock", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard lock >= 0, flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            let failure = LocalFileIO.failure("lock the staging directory", path)
            if lock >= 0 { close(lock) }
            try? FileManager.default.removeItem(atPath: path)
            throw failure
        }
        guard mkdir(path + "/db", 0o700) == 0 else {
            let failure = LocalFileIO.failure("create the staging directory", path + "/db")
            close(lock)
            try? FileManager.default.removeItem(atPath: path)
            throw failure
        }
        return RestoreStaging(path: path, lock: lock)
    }

    /// Removes the staging directory and releases its lock; returns why the directory could not be removed, or
    /// nil when it is gone. The lock is held until the directory is gone, so no sweep takes it for abandoned
    /// while it is being removed; one that stays is swept by a later restore.
    @discardableResult
    func remove() -> String? {
        defer { close(lock) }
        do {
            try FileManager.default.removeItem(atPath: path)
            return nil
        } catch {
            return FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : nil
        }
    }

    /// A clause for an interrupted operation's message: the directory removed, or left for a later sweep.
    func removalNote(_ what: String) -> String {
        if let failure = remove() {
            return "could not remove the \(what) \(path) (\(failure)); the next restore beside it removes it"
        }
        return "removed the \(what) \(path)"
    }

    /// Staging directories in `parent` whose restore is no longer running: their lock is free (the process
    /// died), or they have no lock and are over an hour old (left by a Kumo that staged without one).
    static func abandoned(in parent: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        return names.filter { $0.hasPrefix(prefix) }.map { parent + "/" + $0 }.filter { candidate in
            let lock = open(candidate + "/.lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC)
            guard lock >= 0 else {
                // errno first: the attribute lookup below may change it.
                let missing = errno == ENOENT
                let modified = (try? FileManager.default.attributesOfItem(atPath: candidate)[.modificationDate]) as? Date
                return missing && (modified.map { $0 < Date(timeIntervalSinceNow: -3600) } ?? false)
            }
            defer { close(lock) }
            return flock(lock, LOCK_EX | LOCK_NB) == 0
        }
    }

    /// Removes ``abandoned(in:)`` directories, telling ``BackupEngine/leftoverRemoved`` of each; returns their
    /// paths.
    @discardableResult
    static func removeAbandoned(in parent: String) -> [String] {
        abandoned(in: parent).filter { BackupEngine.removeLeftover($0, kind: .restoreStaging) }
    }

    /// Where verify `deep` and repair stage their scratch copies.
    static var scratchParent: String { FileManager.default.temporaryDirectory.path }
}

/// A manifest as read from a target: the decoded, validated value and the exact bytes its seal covers.
struct StoredManifest: Sendable {
    var manifest: BackupManifest
    var bytes: [UInt8]
    var path: String
}
