import CRocksDB

/// Walks a key range of one column family in order (or in reverse).
///
/// A cursor holds a RocksDB iterator, which pins the data it reads. Get one from
/// ``Store/withCursor(_:in:reverse:at:_:)``; it is closed when that closure returns, and ``next()`` on a
/// closed cursor throws `.closed`.
public final class Cursor: @unchecked Sendable {
    // Used by one task at a time (a cursor is not shared), hence @unchecked: RocksDB iterators may move
    // between threads but not be used by two at once.
    private let store: Store
    private let snapshot: Snapshot?
    private var iterator: OpaquePointer?
    private let readOptions: OpaquePointer
    private let reverse: Bool
    // RocksDB keeps the bound pointers inside the read options and reads them on every step of the
    // iterator, so the cursor owns copies that outlive both (freed after `deinit` destroys them).
    private let lowerBound: OwnedBytes?
    private let upperBound: OwnedBytes?
    private var started = false
    /// RocksDB asserts if an iterator that ran off its range is moved again, so remember that it did.
    private var exhausted = false

    init(store: Store, range: KeyRange, family: ColumnFamily, reverse: Bool, snapshot: Snapshot?) throws {
        try store.checkSnapshot(snapshot)
        self.store = store
        self.snapshot = snapshot
        self.reverse = reverse
        let readOptions = rocksdb_readoptions_create()!
        let lowerBound = range.lower.map(OwnedBytes.init(copying:))
        let upperBound = range.upper.map(OwnedBytes.init(copying:))
        if let lowerBound {
            rocksdb_readoptions_set_iterate_lower_bound(readOptions, lowerBound.pointer, lowerBound.count)
        }
        if let upperBound {
            rocksdb_readoptions_set_iterate_upper_bound(readOptions, upperBound.pointer, upperBound.count)
        }
        self.lowerBound = lowerBound
        self.upperBound = upperBound
        self.readOptions = readOptions
        // Every stored property is set from here on, so a throw runs `deinit`, which destroys the read options.
        let create = {
            // Counted open under the store's lock, so a concurrent close() cannot free the database first.
            try store.openResource(in: family) { db, cf in rocksdb_create_iterator_cf(db, readOptions, cf) }
        }
        if let snapshot {
            // Iterators need their own read options for the bounds; point them at the same snapshot, which
            // must not be released while the iterator is being created from it.
            iterator = try snapshot.whileLive {
                rocksdb_readoptions_set_snapshot(readOptions, snapshot.pointer)
                return try create()
            }
        } else {
            iterator = try create()
        }
    }

    /// The next key and value, or `nil` after the last one.
    /// - Throws: `.closed` after the cursor was closed; RocksDB's error (e.g. `.corruption`) if a read fails.
    public func next() throws -> KeyValue? {
        guard let iterator else { throw KVError(.closed, "the cursor is closed") }
        if exhausted { return nil }
        if !started {
            started = true
            if reverse { rocksdb_iter_seek_to_last(iterator) } else { rocksdb_iter_seek_to_first(iterator) }
        } else {
            if reverse { rocksdb_iter_prev(iterator) } else { rocksdb_iter_next(iterator) }
        }
        guard rocksdb_iter_valid(iterator) != 0 else {
            exhausted = true
            try rocksCall("iteration over \(store.path) failed") { rocksdb_iter_get_error(iterator, $0) }
            return nil
        }
        var keyLength = 0
        var valueLength = 0
        let key = rocksdb_iter_key(iterator, &keyLength)
        let value = rocksdb_iter_value(iterator, &valueLength)
        return KeyValue(key: [UInt8](copying: key, length: keyLength), value: [UInt8](copying: value, length: valueLength))
    }

    /// Up to `limit` entries, fewer only at the end of the range.
    func next(upTo limit: Int) throws -> [KeyValue] {
        var batch: [KeyValue] = []
        batch.reserveCapacity(limit)
        while batch.count < limit, let entry = try next() {
            batch.append(entry)
        }
        return batch
    }

    /// Releases the iterator. Calling it again does nothing.
    public func close() {
        guard let iterator else { return }
        rocksdb_iter_destroy(iterator)
        self.iterator = nil
        store.resourceClosed()
    }

    deinit {
        close()
        rocksdb_readoptions_destroy(readOptions)
    }
}

/// A heap copy of some bytes with a stable address, for C APIs that keep the pointer they are given
/// beyond the call (an array's `withUnsafeBufferPointer` address is only valid inside the closure).
final class OwnedBytes {
    let pointer: UnsafeMutablePointer<CChar>
    let count: Int

    init(copying bytes: [UInt8]) {
        count = bytes.count
        // One byte at least, so an empty bound still has a valid, unique address.
        pointer = .allocate(capacity: max(count, 1))
        bytes.withUnsafeBytes { source in
            guard let start = source.baseAddress else { return }
            UnsafeMutableRawPointer(pointer).copyMemory(from: start, byteCount: source.count)
        }
    }

    deinit { pointer.deallocate() }
}

/// The entries of a key range as an `AsyncSequence`, read in batches on threads outside the cooperative
/// pool. Each iteration opens its own RocksDB iterator, closed when the loop ends.
public struct KeyValueScan: AsyncSequence, Sendable {
    public typealias Element = KeyValue

    let store: Store
    let range: KeyRange
    let family: ColumnFamily
    let reverse: Bool
    let snapshot: Snapshot?
    let batchSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let scan: KeyValueScan
        var cursor: Cursor?
        var buffer: [KeyValue] = []
        var position = 0
        var finished = false

        public mutating func next() async throws -> KeyValue? {
            if position < buffer.count {
                defer { position += 1 }
                return buffer[position]
            }
            if finished { return nil }
            let cursor = try self.cursor ?? Cursor(
                store: scan.store, range: scan.range, family: scan.family, reverse: scan.reverse,
                snapshot: scan.snapshot)
            self.cursor = cursor
            let limit = scan.batchSize
            buffer = try await BlockingIO.run { try cursor.next(upTo: limit) }
            position = 0
            if buffer.count < limit {
                finished = true
                cursor.close()
                self.cursor = nil
            }
            guard !buffer.isEmpty else { return nil }
            position = 1
            return buffer[0]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(scan: self) }
}

extension Store {
    /// The entries of `range` in `family`, in key order (or reversed), as an `AsyncSequence`.
    public func scan(
        _ range: KeyRange = .all, in family: ColumnFamily = .default, reverse: Bool = false, at snapshot: Snapshot? = nil
    ) -> KeyValueScan {
        KeyValueScan(store: self, range: range, family: family, reverse: reverse, snapshot: snapshot, batchSize: 256)
    }

    /// Runs `body` with a cursor over `range`; the cursor is closed when `body` returns or throws.
    public func withCursor<T>(
        _ range: KeyRange = .all, in family: ColumnFamily = .default, reverse: Bool = false, at snapshot: Snapshot? = nil,
        _ body: (Cursor) throws -> T
    ) throws -> T {
        let cursor = try Cursor(store: self, range: range, family: family, reverse: reverse, snapshot: snapshot)
        defer { cursor.close() }
        return try body(cursor)
    }
}
