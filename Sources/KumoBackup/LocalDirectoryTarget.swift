import Crypto
import Foundation

/// Backups in a local directory (the embedded default): `file:///var/backups/kumo`.
public struct LocalDirectoryTarget: BackupTarget {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    public var description: String { "file://\(root)" }

    private func full(_ path: String) -> String { root + "/" + path }

    private func prepareParent(_ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (full(path) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    }

    /// A temporary name beside `path`, so the final rename stays on one file system and is atomic.
    private func temporary(_ path: String) -> String {
        full(path) + ".tmp-\(UUID().uuidString.prefix(8))"
    }

    public func upload(file localPath: String, to path: String) async throws {
        try prepareParent(path)
        let temporary = temporary(path)
        do {
            // One pass of large sendfile calls and an fsync, off the cooperative pool.
            try await LocalFileIO.run { try LocalFileIO.copy(from: localPath, to: temporary, sync: true) }
            guard rename(temporary, full(path)) == 0 else {
                throw BackupError(.invalidArgument, "cannot move \(temporary) to \(full(path)) (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Encrypts straight into the target (a temporary name, synced, then renamed), so no copy is made.
    public func upload(encrypting localPath: String, key: Data, to path: String) async throws {
        try prepareParent(path)
        let temporary = temporary(path)
        let final = full(path)
        do {
            try await LocalFileIO.run {
                _ = try EncryptedFileFormat.encrypt(file: localPath, to: temporary, key: SymmetricKey(data: key))
                try Self.sync(temporary)
            }
            guard rename(temporary, final) == 0 else {
                throw BackupError(.invalidArgument, "cannot move \(temporary) to \(final) (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    public func withLocalFile<T: Sendable>(_ path: String, scratch: String, _ body: @escaping @Sendable (String) throws -> T) async throws -> T {
        let stored = full(path)
        guard FileManager.default.fileExists(atPath: stored) else {
            throw BackupError(.corrupt, "\(path) is missing from \(description)")
        }
        return try await LocalFileIO.run { try body(stored) }
    }

    public func write(_ data: [UInt8], to path: String, createOnly: Bool) async throws {
        try prepareParent(path)
        let temporary = temporary(path)
        do {
            try Data(data).write(to: URL(fileURLWithPath: temporary))
            try Self.sync(temporary)
            if createOnly {
                // link() fails if the name exists: the create-only rename POSIX lacks.
                guard link(temporary, full(path)) == 0 else {
                    let code = errno
                    try? FileManager.default.removeItem(atPath: temporary)
                    if code == EEXIST { throw BackupError(.locked, "\(full(path)) already exists") }
                    throw BackupError(.invalidArgument, "cannot create \(full(path)) (errno \(code))")
                }
                try FileManager.default.removeItem(atPath: temporary)
            } else {
                guard rename(temporary, full(path)) == 0 else {
                    throw BackupError(.invalidArgument, "cannot move \(temporary) to \(full(path)) (errno \(errno))")
                }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    public func download(_ path: String, to localPath: String) async throws {
        guard FileManager.default.fileExists(atPath: full(path)) else {
            throw BackupError(.corrupt, "\(path) is missing from \(description)")
        }
        try? FileManager.default.removeItem(atPath: localPath)
        let source = full(path)
        do {
            try await LocalFileIO.run { try LocalFileIO.copy(from: source, to: localPath, sync: false) }
        } catch {
            try? FileManager.default.removeItem(atPath: localPath)
            throw error
        }
    }

    public func read(_ path: String) async throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: full(path)) else {
            throw BackupError(.notFound, "\(path) is missing from \(description)")
        }
        return Array(data)
    }

    public func size(of path: String) async throws -> Int64? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: full(path)) else { return nil }
        return (attributes[.size] as? NSNumber)?.int64Value
    }

    public func list(prefix: String) async throws -> [StoredObject] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        var objects: [StoredObject] = []
        while let relative = enumerator.nextObject() as? String {
            guard relative.hasPrefix(prefix), !relative.contains(".tmp-"),
                let attributes = enumerator.fileAttributes, attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            objects.append(StoredObject(path: relative, size: (attributes[.size] as? NSNumber)?.int64Value ?? 0))
        }
        return objects.sorted { $0.path < $1.path }
    }

    public func delete(_ path: String) async throws {
        try? FileManager.default.removeItem(atPath: full(path))
    }

    public func withLock<T: Sendable>(_ path: String, _ body: @Sendable () async throws -> T) async throws -> T {
        try prepareParent(path)
        let descriptor = open(full(path), O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw BackupError(.invalidArgument, "cannot open lock file \(full(path))") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            throw BackupError(.locked, "another backup of \(description) is running (lock \(full(path)) is held)")
        }
        defer { flock(descriptor, LOCK_UN) }
        return try await body()
    }

    static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        fsync(descriptor)
    }
}
