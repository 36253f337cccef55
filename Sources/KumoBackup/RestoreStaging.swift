import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
