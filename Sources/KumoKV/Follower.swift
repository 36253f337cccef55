import CRocksDB
import Foundation

extension Store {
    /// Opens the store another process owns, read-only, as a RocksDB secondary instance keeping its own small files
    /// in `scratchDirectory`. Reads and ``changes(since:)`` see the owner's writes up to the last
    /// ``catchUpWithPrimary()``; writes are refused.
    public static func follow(at path: String, scratchDirectory: String) async throws -> Store {
        try await BlockingIO.run {
            try FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
            var options = StoreOptions()
            options.createIfMissing = false
            // A secondary needs every file open (RocksDB's rule for secondaries).
            options.maxOpenFiles = -1
            return try Store(path: path, options: options, followerDirectory: scratchDirectory)
        }
    }

    /// Whether this store follows another process's (``follow(at:scratchDirectory:)``).
    public var isFollower: Bool { followerDirectory != nil }

    /// Brings a follower up to its owner's latest writes (new MANIFEST entries and write-ahead log); nothing for a
    /// store opened as owner.
    public func catchUpWithPrimary() throws {
        guard followerDirectory != nil else { return }
        try withDatabase { db in
            try rocksCall("cannot catch up with the owner of \(path)") { rocksdb_try_catch_up_with_primary(db, $0) }
        }
    }
}
