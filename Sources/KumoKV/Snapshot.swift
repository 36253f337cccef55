import CRocksDB
import Synchronization

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
    private let released = Mutex(false)

    init(store: Store) throws {
        self.store = store
        pointer = try store.withDatabase { db in
            guard let snapshot = rocksdb_create_snapshot(db) else {
                throw KVError(.other, "RocksDB could not create a snapshot of \(store.path)")
            }
            return snapshot
        }
        readOptions = rocksdb_readoptions_create()
        rocksdb_readoptions_set_snapshot(readOptions, pointer)
        store.resourceOpened()
    }

    /// Whether ``release()`` has run.
    public var isReleased: Bool { released.withLock { $0 } }

    /// Releases the snapshot. Calling it again does nothing.
    public func release() {
        let wasReleased = released.withLock { value in
            defer { value = true }
            return value
        }
        guard !wasReleased else { return }
        // The store cannot close while this snapshot is counted, so the database is still open here.
        try? store.withDatabase { rocksdb_release_snapshot($0, pointer) }
        store.resourceClosed()
    }

    func checkLive() throws {
        if isReleased { throw KVError(.closed, "the snapshot was released") }
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
