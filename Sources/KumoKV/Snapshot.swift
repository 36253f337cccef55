import CRocksDB

/// A consistent, read-only view of a ``Store`` at one moment: writes made after it was taken are invisible
/// to reads through it.
///
/// A snapshot pins old versions of keys, so release it as soon as you are done: ``Store/withSnapshot(_:)``
/// does so when its closure returns; ``release()`` does so explicitly; the last reference going away does so
/// too. Reads through a released snapshot throw `.closed`.
public final class Snapshot: @unchecked Sendable {
    let store: Store
    let pointer: OpaquePointer
    let readOptions: OpaquePointer
    // Reads through the snapshot hold the shared side while they use `pointer`; release takes the
    // exclusive side, so a snapshot shared between tasks is never freed under a running read.
    private let lock = ReadWriteLock()
    private var released = false

    init(store: Store) throws {
        self.store = store
        // Created and counted under the store's lock, so a concurrent close() cannot free the database first.
        let pointer = try store.openResource { db in
            guard let snapshot = rocksdb_create_snapshot(db) else {
                throw KVError(.other, "RocksDB could not create a snapshot of \(store.path)")
            }
            return snapshot
        }
        self.pointer = pointer!
        readOptions = rocksdb_readoptions_create()
        rocksdb_readoptions_set_snapshot(readOptions, self.pointer)
    }

    /// Whether ``release()`` has run.
    public var isReleased: Bool { lock.withReadLock { released } }

    /// Releases the snapshot. Calling it again does nothing.
    public func release() {
        lock.withWriteLock {
            guard !released else { return }
            released = true
            // The store cannot close while this snapshot is counted, so the database is still open here.
            try? store.withDatabase { rocksdb_release_snapshot($0, pointer) }
            store.resourceClosed()
        }
    }

    /// Runs `body` while the snapshot is guaranteed not to be released. `body` must not call back into
    /// this snapshot's `whileLive` or `release()`: the lock prefers writers and is not recursive.
    /// - Throws: `.closed` if it was already released.
    func whileLive<T>(_ body: () throws -> T) throws -> T {
        try lock.withReadLock {
            if released { throw KVError(.closed, "the snapshot was released") }
            return try body()
        }
    }

    deinit {
        release()
        rocksdb_readoptions_destroy(readOptions)
    }
}

extension Store {
    /// Takes a snapshot. Release it with ``Snapshot/release()`` when done.
    public func snapshot() throws -> Snapshot {
        try Snapshot(store: self)
    }

    /// Runs `body` with a snapshot that is released when `body` returns or throws.
    public func withSnapshot<T>(_ body: (Snapshot) throws -> T) throws -> T {
        let snapshot = try Snapshot(store: self)
        defer { snapshot.release() }
        return try body(snapshot)
    }

    /// Runs `body` with a snapshot that is released when `body` returns or throws.
    public func withSnapshot<T>(_ body: (Snapshot) async throws -> T) async throws -> T {
        let snapshot = try Snapshot(store: self)
        defer { snapshot.release() }
        return try await body(snapshot)
    }
}
