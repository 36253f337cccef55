import KumoKV
import Testing

@Suite("Change stream from the write-ahead log")
struct ChangeStreamTests {
    func changes(_ store: Store, since: UInt64) async throws -> [ChangeRecord] {
        var records: [ChangeRecord] = []
        for try await change in store.changes(since: since) { records.append(change) }
        return records
    }

    /// Writes every kind of record through the public API into a fresh store and returns what the stream
    /// must yield: each record takes the next sequence number, starting at 1.
    func writeMixedHistory(_ store: Store) throws -> [ChangeRecord] {
        var expected: [ChangeRecord] = []
        func expect(_ op: ChangeRecord.Operation, _ family: String, _ key: String, value: [UInt8]? = nil, end: String? = nil) {
            expected.append(
                ChangeRecord(
                    sequenceNumber: UInt64(expected.count + 1), columnFamilyID: family == "default" ? 0 : 1,
                    columnFamily: family, operation: op, key: bytes(key), value: value, endKey: end.map(bytes)))
        }
        try store.put(bytes("k1"), bytes("v1"))
        expect(.put, "default", "k1", value: bytes("v1"))
        try store.put(bytes("u1"), bytes("alice"), in: "users")
        expect(.put, "users", "u1", value: bytes("alice"))
        try store.delete(bytes("k1"))
        expect(.delete, "default", "k1")
        try store.deleteRange(from: bytes("a"), to: bytes("m"), in: "users")
        expect(.deleteRange, "users", "a", end: "m")
        // One batch: consecutive sequence numbers, in batch order, across families.
        var batch = WriteBatch()
        batch.put(bytes("b1"), bytes("x"))
        expect(.put, "default", "b1", value: bytes("x"))
        batch.put(bytes("b2"), bytes("y"), in: "users")
        expect(.put, "users", "b2", value: bytes("y"))
        batch.delete(bytes("b3"), in: "users")
        expect(.delete, "users", "b3")
        batch.deleteRange(from: bytes("c"), to: bytes("d"))
        expect(.deleteRange, "default", "c", end: "d")
        try store.write(batch)
        // The batch's four records share its sequence number and size.
        for index in expected.count - 4..<expected.count {
            expected[index].batchSequenceNumber = expected[expected.count - 4].sequenceNumber
            expected[index].batchSize = 4
        }
        try store.put(bytes("bin"), [0x00, 0x01, 0xFF])
        expect(.put, "default", "bin", value: [0x00, 0x01, 0xFF])
        return expected
    }

    @Test func yieldsExactlyTheWritesInOrder() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir) { $0.columnFamilies = ["users"] }
        let expected = try writeMixedHistory(store)
        let seen = try await changes(store, since: 0)
        #expect(seen == expected)
        #expect(seen.map(\.sequenceNumber) == Array(1...UInt64(expected.count)))
        #expect(try store.latestSequenceNumber == UInt64(expected.count))
    }

    @Test func resumesFromEverySequenceNumber() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir) { $0.columnFamilies = ["users"] }
        let all = try writeMixedHistory(store)
        for since in 0...UInt64(all.count + 2) {
            let seen = try await changes(store, since: since)
            #expect(seen == all.filter { $0.sequenceNumber >= since }, "since \(since)")
        }
    }

    @Test func survivesFlushAndReopenWithinRetention() async throws {
        let dir = TemporaryDirectory()
        var store: Store? = try await openStore(dir)
        for index in 0..<200 { try store!.put(bytes("k\(index)"), bytes("v\(index)")) }
        try await store!.flush()  // the WAL file is archived, not deleted, under the default retention
        for index in 200..<300 { try store!.put(bytes("k\(index)"), bytes("v\(index)")) }
        try store!.close()
        store = try await openStore(dir)
        for index in 300..<350 { try store!.put(bytes("k\(index)"), bytes("v\(index)")) }
        let seen = try await changes(store!, since: 1)
        #expect(seen.count == 350)
        #expect(seen.map(\.sequenceNumber) == Array(1...350))
        #expect(seen.last?.key == bytes("k349"))
        #expect(seen.allSatisfy { $0.operation == .put && $0.columnFamily == "default" })
    }

    @Test func sequenceOlderThanTheRetainedLogIsAWALGap() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir) { $0.walRetention = .none }
        for index in 0..<100 { try store.put(bytes("k\(index)"), bytes("v")) }
        try await store.flush()  // with no retention the old log file is deleted
        for index in 100..<110 { try store.put(bytes("k\(index)"), bytes("v")) }
        await #expect {
            _ = try await changes(store, since: 5)
        } throws: { error in
            let kvError = error as? KVError
            return kvError?.code == .walGap && kvError?.lostRange == 5...100 && kvError!.message.contains("sequences 5–100")
        }
        // The part still in the log reads fine.
        let tail = try await changes(store, since: 101)
        #expect(tail.map(\.sequenceNumber) == Array(101...110))
    }

    @Test func emptyStoreAndFutureSequenceYieldNothing() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        #expect(try await changes(store, since: 0).isEmpty)
        try store.put(bytes("a"), bytes("b"))
        #expect(try await changes(store, since: 2).isEmpty)
        #expect(try await changes(store, since: 1).count == 1)
    }

    @Test func unloggedWritesShowAsAGap() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        try store.put(bytes("b"), bytes("2"), options: WriteOptions(disableWAL: true))
        try store.put(bytes("c"), bytes("3"))
        await #expect {
            _ = try await changes(store, since: 1)
        } throws: { ($0 as? KVError)?.code == .walGap }
    }
}

@Suite("Change stream beside a writer")
struct ChangeStreamTailTests {
    /// Reading up to the log's live tail while another task writes: RocksDB answers TryAgain there ("create a new
    /// iterator to fetch the new tail"), which is the end of the log for now, not a failure.
    @Test func readingTheLiveTailWhileWritingNeverFails() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        let writer = Task.detached {
            for index in 0..<4000 {
                try store.put(bytes("k\(index % 100)"), bytes("v\(index)"))
                if index % 50 == 0 { try await Task.sleep(for: .milliseconds(1)) }
            }
        }
        var next: UInt64 = 1
        while true {
            let done = writer.isCancelled
            for try await change in store.changes(since: next) {
                #expect(change.sequenceNumber == next)
                next = change.sequenceNumber + 1
            }
            if next > 4000 { break }
            if done { break }
            try await Task.sleep(for: .milliseconds(1))
        }
        try await writer.value
        #expect(next == 4001)
        try store.close()
    }
}
