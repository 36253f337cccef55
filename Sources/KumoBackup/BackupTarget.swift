import Crypto
import Foundation

/// An object stored in a backup target.
public struct StoredObject: Sendable, Hashable {
    /// The path below the target's root, with `/` separators.
    public var path: String
    public var size: Int64
    /// When the object was last written, when the target knows.
    public var lastModified: Date?
    /// The MD5 the target keeps for the object's content (Blob Storage's Content-MD5), when it keeps one.
    public var contentMD5: [UInt8]?

    public init(path: String, size: Int64, lastModified: Date? = nil, contentMD5: [UInt8]? = nil) {
        self.path = path
        self.size = size
        self.lastModified = lastModified
        self.contentMD5 = contentMD5
    }
}

/// Where backups are kept: a local directory or an Azure Blob Storage container prefix.
///
/// Paths are relative to the target's root. Every write of a complete object is atomic: a reader sees the
/// whole object or none of it. What a target holds is untrusted: reads are bounded by the size the caller
/// expects, and only regular objects are read.
public protocol BackupTarget: Sendable {
    /// A human description, e.g. `file:///backups` (never containing secrets).
    var description: String { get }

    /// Stores the file at `localPath` as `path`, replacing any object there; durable when this returns.
    /// Returns the MD5 of the stored bytes when the target keeps one for the object.
    func upload(file localPath: String, to path: String) async throws -> [UInt8]?

    /// Stores `data` as `path`. With `createOnly`, fails with `.locked` if `path` already exists, so two
    /// writers can never both write the same manifest. Durable when this returns.
    func write(_ data: [UInt8], to path: String, createOnly: Bool) async throws

    /// Writes the object at `path`, which must hold exactly `expectedSize` bytes, to `localPath`.
    /// - Throws: ``BackupError`` `.corrupt` when the object is missing, not a regular file, or of another size,
    ///   before anything more than `expectedSize + 1` bytes is copied.
    func download(_ path: String, to localPath: String, expectedSize: Int64) async throws

    /// The object at `path`, at most `limit` bytes.
    /// - Throws: ``BackupError`` `.notFound` when it does not exist, `.corrupt` when it is larger than `limit`.
    func read(_ path: String, limit: Int) async throws -> [UInt8]

    /// The object's size, or nil when it does not exist.
    func size(of path: String) async throws -> Int64?

    /// Every object whose path starts with `prefix`.
    func list(prefix: String) async throws -> [StoredObject]

    /// Deletes `path`; deleting a missing object is not an error, any other failure is.
    func delete(_ path: String) async throws

    /// Takes an exclusive lock named `path` for the duration of `body`, so two backups of the same target
    /// never run at once. If the lock is lost while `body` runs, `body` is cancelled and this throws
    /// ``BackupError`` `.lockLost`.
    func withLock<T: Sendable>(_ path: String, _ body: @Sendable () async throws -> T) async throws -> T

    /// Stores as `path` the ``EncryptedFileFormat`` form of the local file under `key` (32 bytes). Blob Storage
    /// uploads it as it is encrypted and a local directory receives it in place; the default encrypts into a
    /// temporary file first. Returns the MD5 of the stored bytes when the target keeps one for the object.
    func upload(encrypting localPath: String, key: Data, to path: String) async throws -> [UInt8]?

    /// Runs `body` with the object at `path` open for reading, after checking it is a regular object of exactly
    /// `expectedSize` bytes: the stored file itself on the local file system, else a downloaded copy at
    /// `scratch` that is removed afterwards. `body` must not change the file.
    func withLocalFile<T: Sendable>(
        _ path: String, scratch: String, expectedSize: Int64, _ body: @escaping @Sendable (FileHandle) throws -> T
    ) async throws -> T
}

extension BackupTarget {
    /// The object at `path`, at most ``BackupManifest/maximumEncodedSize`` bytes.
    public func read(_ path: String) async throws -> [UInt8] {
        try await read(path, limit: BackupManifest.maximumEncodedSize)
    }

    public func upload(encrypting localPath: String, key: Data, to path: String) async throws -> [UInt8]? {
        let encrypted = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-upload-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: encrypted) }
        _ = try EncryptedFileFormat.encrypt(file: localPath, to: encrypted, key: SymmetricKey(data: key))
        return try await upload(file: encrypted, to: path)
    }

    public func withLocalFile<T: Sendable>(
        _ path: String, scratch: String, expectedSize: Int64, _ body: @escaping @Sendable (FileHandle) throws -> T
    ) async throws -> T {
        try await download(path, to: scratch, expectedSize: expectedSize)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        return try await LocalFileIO.run {
            guard let handle = FileHandle(forReadingAtPath: scratch) else { throw LocalFileIO.failure("read", scratch) }
            defer { try? handle.close() }
            return try body(handle)
        }
    }
}
