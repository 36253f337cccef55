import Crypto
import Foundation

/// An object stored in a backup target.
public struct StoredObject: Sendable, Hashable {
    /// The path below the target's root, with `/` separators.
    public var path: String
    public var size: Int64
}

/// Where backups are kept: a local directory or an Azure Blob Storage container prefix.
///
/// Paths are relative to the target's root. Every write of a complete object is atomic: a reader sees the
/// whole object or none of it.
public protocol BackupTarget: Sendable {
    /// A human description, e.g. `file:///backups` (never containing secrets).
    var description: String { get }

    /// Stores the file at `localPath` as `path`, replacing any object there.
    func upload(file localPath: String, to path: String) async throws

    /// Stores `data` as `path`. With `createOnly`, fails with `.locked` if `path` already exists, so two
    /// writers can never both write the same manifest.
    func write(_ data: [UInt8], to path: String, createOnly: Bool) async throws

    /// Writes the object at `path` to `localPath`.
    func download(_ path: String, to localPath: String) async throws

    func read(_ path: String) async throws -> [UInt8]

    /// The object's size, or nil when it does not exist.
    func size(of path: String) async throws -> Int64?

    /// Every object whose path starts with `prefix`.
    func list(prefix: String) async throws -> [StoredObject]

    /// Deletes `path`; deleting a missing object is not an error.
    func delete(_ path: String) async throws

    /// Takes an exclusive lock named `path` for the duration of `body`, so two backups of the same target
    /// never run at once.
    func withLock<T: Sendable>(_ path: String, _ body: @Sendable () async throws -> T) async throws -> T

    /// Stores as `path` the ``EncryptedFileFormat`` form of the local file under `key` (32 bytes). Blob Storage
    /// uploads it as it is encrypted and a local directory receives it in place; the default encrypts into a
    /// temporary file first.
    func upload(encrypting localPath: String, key: Data, to path: String) async throws

    /// Runs `body` with a local file holding the object at `path`: the stored file itself on the local file
    /// system, else a downloaded copy that is removed afterwards. `body` must not change the file.
    func withLocalFile<T: Sendable>(_ path: String, scratch: String, _ body: @escaping @Sendable (String) throws -> T) async throws -> T
}

extension BackupTarget {
    public func upload(encrypting localPath: String, key: Data, to path: String) async throws {
        let encrypted = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-upload-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: encrypted) }
        _ = try EncryptedFileFormat.encrypt(file: localPath, to: encrypted, key: SymmetricKey(data: key))
        try await upload(file: encrypted, to: path)
    }

    public func withLocalFile<T: Sendable>(_ path: String, scratch: String, _ body: @escaping @Sendable (String) throws -> T) async throws -> T {
        try await download(path, to: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        return try body(scratch)
    }
}
