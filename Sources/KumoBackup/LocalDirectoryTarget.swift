import Crypto
import Foundation

/// Backups in a local directory (the embedded default): `file:///var/backups/kumo`.
///
/// Every path is checked to be a relative path with no `..` before it is joined to the root; reads open
/// regular files only, without following links; every write is fsynced, and so is the directory that names
/// it, before the call returns.
public struct LocalDirectoryTarget: BackupTarget {
    public let root: String

    /// A target at `root`, created when `create` is true (for commands that write backups).
    /// - Throws: ``BackupError`` `.notFound` when `root` does not exist and `create` is false.
    public init(root: String, create: Bool = true) throws {
        self.root = root
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw BackupError(.invalidArgument, "\(root) is not a directory") }
        } else {
            guard create else { throw BackupError(.notFound, "no backup directory at \(root)") }
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        }
    }

    public var description: String { "file://\(root)" }

    /// `path` joined to the root, once it is known to stay below it.
    private func full(_ path: String) throws -> String {
        guard BackupManifest.isSafeRelativePath(path) else {
            throw BackupError(.invalidArgument, "'\(BackupManifest.printable(path))' is not a path inside \(description)")
        }
        return root + "/" + path
    }

    /// Creates the directories above `path`, each made durable in its parent.
    private func prepareParent(_ path: String) throws {
        var directory = root
        for component in path.split(separator: "/").dropLast() {
            let next = directory + "/" + component
            if mkdir(next, 0o755) == 0 {
                try LocalFileIO.sync(path: directory)
            } else if errno != EEXIST {
                throw LocalFileIO.failure("create directory", next)
            }
            directory = next
        }
    }

    /// A temporary name beside `path`, so the final rename stays on one file system and is atomic.
    private func temporary(_ path: String) throws -> String {
        try full(path) + ".tmp-\(UUID().uuidString.prefix(8))"
    }

    /// Moves a synced temporary file into place and makes the new name durable.
    private func publish(_ temporary: String, as path: String) throws {
        let final = try full(path)
        guard rename(temporary, final) == 0 else { throw LocalFileIO.failure("move \(temporary) to", final) }
        try LocalFileIO.syncParent(of: final)
    }

    public func upload(file localPath: String, to path: String) async throws -> [UInt8]? {
        try prepareParent(path)
        let temporary = try temporary(path)
        do {
            // One pass of large sendfile calls and an fsync, off the cooperative pool.
            try await LocalFileIO.run { try LocalFileIO.copy(from: localPath, to: temporary, sync: true) }
            try publish(temporary, as: path)
            return nil
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Encrypts straight into the target (a temporary name, synced, then renamed), so no copy is made.
    public func upload(encrypting localPath: String, key: Data, to path: String) async throws -> [UInt8]? {
        try prepareParent(path)
        let temporary = try temporary(path)
        do {
            try await LocalFileIO.run {
                _ = try EncryptedFileFormat.encrypt(file: localPath, to: temporary, key: SymmetricKey(data: key))
                try LocalFileIO.sync(path: temporary)
            }
            try publish(temporary, as: path)
            return nil
        } catch {
            unlink(temporary)
            throw error
        }
    }

    public func withLocalFile<T: Sendable>(
        _ path: String, scratch: String, expectedSize: Int64, _ body: @escaping @Sendable (FileHandle) throws -> T
    ) async throws -> T {
        let root = self.root
        _ = try full(path)
        return try await LocalFileIO.run {
            let handle = FileHandle(fileDescriptor: try Self.openExisting(root: root, path: path, expectedSize: expectedSize), closeOnDealloc: true)
            defer { try? handle.close() }
            return try body(handle)
        }
    }

    /// Opens a stored file that a manifest says holds `expectedSize` bytes; a missing file or another size is
    /// damage (`.corrupt`).
    private static func openExisting(root: String, path: String, expectedSize: Int64) throws -> Int32 {
        let opened: (descriptor: Int32, size: Int64)
        do {
            opened = try LocalFileIO.openRegularFile(root: root, relative: path)
        } catch let error as BackupError where error.code == .notFound {
            throw BackupError(.corrupt, "\(path) is missing from file://\(root)")
        }
        guard opened.size == expectedSize else {
            close(opened.descriptor)
            throw BackupError(.corrupt, "\(path) has \(opened.size) bytes, the manifest says \(expectedSize)")
        }
        return opened.descriptor
    }

    public func write(_ data: [UInt8], to path: String, createOnly: Bool) async throws {
        try prepareParent(path)
        let final = try full(path)
        let temporary = try temporary(path)
        do {
            try await LocalFileIO.run {
                let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard descriptor >= 0 else { throw LocalFileIO.failure("create", temporary) }
                defer { close(descriptor) }
                try data.withUnsafeBytes { bytes in
                    guard let base = bytes.baseAddress else { return }
                    try LocalFileIO.writeAll(descriptor, UnsafeMutableRawPointer(mutating: base), bytes.count, destination: temporary)
                }
                try LocalFileIO.sync(descriptor, temporary)
            }
            if createOnly {
                // link() fails if the name exists: the create-only rename POSIX lacks.
                guard link(temporary, final) == 0 else {
                    let code = errno
                    if code == EEXIST { throw BackupError(.locked, "\(final) already exists") }
                    throw LocalFileIO.failure("create", final, code)
                }
                unlink(temporary)
                try LocalFileIO.syncParent(of: final)
            } else {
                try publish(temporary, as: path)
            }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    public func download(_ path: String, to localPath: String, expectedSize: Int64) async throws {
        let root = self.root
        _ = try full(path)
        unlink(localPath)
        do {
            try await LocalFileIO.run {
                let descriptor = try Self.openExisting(root: root, path: path, expectedSize: expectedSize)
                defer { close(descriptor) }
                try LocalFileIO.copy(from: descriptor, source: path, expectedSize: expectedSize, to: localPath, sync: false)
            }
        } catch {
            unlink(localPath)
            throw error
        }
    }

    public func read(_ path: String, limit: Int) async throws -> [UInt8] {
        let root = self.root
        _ = try full(path)
        return try await LocalFileIO.run {
            let (descriptor, size) = try LocalFileIO.openRegularFile(root: root, relative: path)
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            defer { try? handle.close() }
            guard size <= Int64(limit) else {
                throw BackupError(.corrupt, "\(path) has \(size) bytes; at most \(limit) are read")
            }
            let data = try handle.read(upToCount: limit + 1) ?? Data()
            guard data.count <= limit else { throw BackupError(.corrupt, "\(path) grew past \(limit) bytes while it was read") }
            return Array(data)
        }
    }

    public func size(of path: String) async throws -> Int64? {
        var info = stat()
        guard lstat(try full(path), &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw LocalFileIO.failure("stat", try full(path))
        }
        return Int64(info.st_size)
    }

    public func list(prefix: String) async throws -> [StoredObject] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else {
            throw BackupError(.notFound, "no backup directory at \(root)")
        }
        var objects: [StoredObject] = []
        while let relative = enumerator.nextObject() as? String {
            // A name Kumo never writes (control characters, say) is not an object of this target.
            guard relative.hasPrefix(prefix), !relative.contains(".tmp-"), BackupManifest.isSafeRelativePath(relative),
                let attributes = enumerator.fileAttributes, attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            objects.append(StoredObject(
                path: relative, size: (attributes[.size] as? NSNumber)?.int64Value ?? 0,
                lastModified: attributes[.modificationDate] as? Date))
        }
        return objects.sorted { $0.path < $1.path }
    }

    public func delete(_ path: String) async throws {
        let file = try full(path)
        if let code = LocalFileIO.injectedFailure(.delete, file) { throw LocalFileIO.failure("delete", file, code) }
        guard unlink(file) == 0 else {
            if errno == ENOENT { return }
            throw LocalFileIO.failure("delete", file)
        }
        try LocalFileIO.syncParent(of: file)
    }

    /// An exclusive `flock` on the lock file is the lock; a held lock fails at once, naming the holder that
    /// the file records (host, pid, command, start; written by the holder after it took the lock).
    public func withLock<T: Sendable>(_ path: String, _ body: @Sendable () async throws -> T) async throws -> T {
        try prepareParent(path)
        let file = try full(path)
        let descriptor = open(file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw LocalFileIO.failure("open the lock file", file) }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.recordedHolder(descriptor).map { " by \($0)" } ?? ""
            throw BackupError(.locked, "another backup of \(description) is running (lock \(file) is held\(holder))")
        }
        defer { flock(descriptor, LOCK_UN) }
        Self.record(LockHolder.current(), in: descriptor)
        return try await body()
    }

    /// Writes `holder` as `key=value` lines. The record only names the holder to runs that find the lock
    /// taken; the flock alone is the lock, so a failed write changes nothing but that message.
    private static func record(_ holder: LockHolder, in descriptor: Int32) {
        let text = holder.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
        guard ftruncate(descriptor, 0) == 0 else { return }
        _ = Array(text.utf8).withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    private static func recordedHolder(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: buffer.prefix(count), as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return LockHolder(metadata: fields)?.description
    }
}
