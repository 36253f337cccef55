import CRocksDB

/// Reads write-ahead log batches and turns them into ``ChangeRecord``s, checking that sequence numbers
/// follow on without a gap.
final class WALReader: @unchecked Sendable {
    // Used by one task at a time, like a cursor.
    private let store: Store
    private let since: UInt64
    private var iterator: OpaquePointer?
    private var started = false
    /// The sequence number the next batch must start at; `nil` before the first batch.
    private var expectedSequence: UInt64?

    init(store: Store, since: UInt64) throws {
        self.store = store
        self.since = since
        let latest = try store.latestSequenceNumber
        // RocksDB answers NotFound for a sequence not yet written; for a reader that is simply "no changes yet".
        guard since <= latest, latest > 0 else { return }
        // Created and counted under the store's lock, so a concurrent close() cannot free the database first.
        iterator = try store.openResource { db in
            try rocksCall("cannot read the write-ahead log of \(store.path) from sequence \(since)") {
                rocksdb_get_updates_since(db, max(since, 1), nil, $0)
            }
        }
    }

    /// The records of the next write-ahead log batch at or after `since`, or `nil` at the end of the log.
    func nextBatch() throws -> [ChangeRecord]? {
        while let iterator {
            if started { rocksdb_wal_iter_next(iterator) }
            started = true
            guard rocksdb_wal_iter_valid(iterator) != 0 else {
                do {
                    try rocksCall("reading the write-ahead log of \(store.path) failed") {
                        rocksdb_wal_iter_status(iterator, $0)
                    }
                } catch let error as KVError where error.code == .notFound && expectedSequence == nil {
                    throw gapError(firstAvailable: nil, detail: error.message)
                } catch let error as KVError where error.code == .tryAgain {
                    // The iterator reached a log file still being written ("create a new iterator to fetch the new
                    // tail"): the end of the log for now. The next read opens a new iterator.
                    _ = error
                }
                close()
                return nil
            }
            var batchSequence: UInt64 = 0
            let writeBatch = rocksdb_wal_iter_get_batch(iterator, &batchSequence)
            defer { rocksdb_writebatch_destroy(writeBatch) }
            var length = 0
            let data = rocksdb_writebatch_data(writeBatch, &length)
            let decoded: WriteBatchFormat.Decoded
            do {
                decoded = try WriteBatchFormat.decode(UnsafeRawBufferPointer(start: data, count: length))
            } catch {
                throw KVError(.corruption, "write-ahead log batch at sequence \(batchSequence) in \(store.path): \(error)")
            }
            if let expected = expectedSequence, batchSequence != expected {
                throw KVError(
                    .walGap,
                    "write-ahead log of \(store.path) jumps from sequence \(expected) to \(batchSequence): writes in between are missing (written with the WAL disabled?)"
                )
            }
            if expectedSequence == nil, batchSequence > max(since, 1) {
                throw gapError(firstAvailable: batchSequence, detail: nil)
            }
            expectedSequence = batchSequence + UInt64(decoded.count)
            var records: [ChangeRecord] = []
            records.reserveCapacity(decoded.records.count)
            for (index, record) in decoded.records.enumerated() {
                let sequence = batchSequence + UInt64(index)
                guard sequence >= since else { continue }
                records.append(
                    ChangeRecord(
                        sequenceNumber: sequence, columnFamilyID: record.columnFamilyID,
                        columnFamily: store.familyName(forID: record.columnFamilyID), operation: record.operation,
                        key: record.key, value: record.value, endKey: record.endKey,
                        batchSequenceNumber: batchSequence, batchSize: decoded.records.count))
            }
            if !records.isEmpty { return records }
        }
        return nil
    }

    private func gapError(firstAvailable: UInt64?, detail: String?) -> KVError {
        // Without a batch to tell, the log files say where what is left starts.
        let oldest = firstAvailable ?? (try? Store.walFiles(at: store.path))?.compactMap(\.firstSequence).min()
        let since = max(self.since, 1)
        var message: String
        var lost: ClosedRange<UInt64>?
        if let oldest, oldest > since {
            lost = since...(oldest - 1)
            message = "sequences \(since)–\(oldest - 1) are no longer in the write-ahead log of \(store.path) (the oldest retained is \(oldest))"
        } else {
            message = "sequence \(since) is no longer in the write-ahead log of \(store.path)"
        }
        message += "; keep the log with StoreOptions.walRetention = .untilReleased (a change feed's mark does it), or recover by starting from a backup's sequence number"
        if let detail { message += ": \(detail)" }
        return KVError(.walGap, message, lostRange: lost)
    }

    func close() {
        guard let iterator else { return }
        rocksdb_wal_iter_destroy(iterator)
        self.iterator = nil
        store.resourceClosed()
    }

    deinit { close() }
}

/// The changes recorded in the write-ahead log from a sequence number up to the latest write, as an
/// `AsyncSequence` of ``ChangeRecord``s in sequence order. Log files are read on threads outside the
/// cooperative pool.
public struct ChangeStream: AsyncSequence, Sendable {
    public typealias Element = ChangeRecord

    let store: Store
    let since: UInt64

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: ChangeStream
        var reader: WALReader?
        var buffer: [ChangeRecord] = []
        var position = 0
        var finished = false

        public mutating func next() async throws -> ChangeRecord? {
            while position >= buffer.count {
                if finished { return nil }
                let reader = try self.reader ?? WALReader(store: stream.store, since: stream.since)
                self.reader = reader
                // Read several log batches per hop to the I/O threads.
                let records = try await BlockingIO.run { () throws -> [ChangeRecord]? in
                    var collected: [ChangeRecord] = []
                    while collected.count < 1024, let batch = try reader.nextBatch() {
                        collected.append(contentsOf: batch)
                    }
                    return collected.isEmpty ? nil : collected
                }
                guard let records else {
                    finished = true
                    reader.close()
                    self.reader = nil
                    return nil
                }
                buffer = records
                position = 0
            }
            defer { position += 1 }
            return buffer[position]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

extension Store {
    /// Every change recorded in the write-ahead log with a sequence number `>= since`, in order, up to the
    /// latest write at the time the stream reaches the end of the log.
    ///
    /// Resume after a processed record with `since: record.sequenceNumber + 1`. Column family names come
    /// from this store; writes made with ``WriteOptions/disableWAL`` are not in the log.
    ///
    /// - Throws (while iterating): `.walGap` when `since` is older than the log RocksDB still keeps
    ///   (see ``StoreOptions/walRetention``) or the log skips sequence numbers; `.corruption` when a log
    ///   record cannot be decoded.
    public func changes(since: UInt64) -> ChangeStream {
        ChangeStream(store: self, since: since)
    }
}
