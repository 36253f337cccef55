import Foundation
import KumoKV
import Testing

@Suite("Store: reads, writes, column families")
struct StoreTests {
    @Test func putGetDeleteRoundTrip() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        #expect(try store.get(bytes("missing")) == nil)
        try store.put(bytes("k1"), bytes("v1"))
        try store.put([0x00, 0xFF], [])  // binary key, empty value
        #expect(try store.get(bytes("k1")) == bytes("v1"))
        #expect(try store.get([0x00, 0xFF]) == [])
        try store.put(bytes("k1"), bytes("v2"), options: .durable)
        #expect(try store.get(bytes("k1")) == bytes("v2"))
        try store.delete(bytes("k1"))
        #expect(try store.get(bytes("k1")) == nil)
        try store.delete(bytes("never-written"))  // deleting a missing key is not an error
        #expect(try store.latestSequenceNumber == 5)
    }

    @Test func dataSurvivesCloseAndReopen() async throws {
        let dir = TemporaryDirectory()
        do {
            let store = try await openStore(dir) { $0.columnFamilies = ["meta"] }
            try store.put(bytes("a"), bytes("1"))
            try store.put(bytes("b"), bytes("2"), in: "meta")
            try store.close()
            try store.close()  // a second close is harmless
            #expect(store.isClosed)
            #expect(throws: KVError.self) { try store.get(bytes("a")) }
        }
        let reopened = try await openStore(dir)  // existing families open without being named
        #expect(reopened.columnFamilies.map(\.name) == ["default", "meta"])
        #expect(try reopened.get(bytes("a")) == bytes("1"))
        #expect(try reopened.get(bytes("b"), in: "meta") == bytes("2"))
        #expect(try reopened.get(bytes("b")) == nil)
    }

    @Test func operationsOnAClosedStoreThrowClosed() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.close()
        let error = try #require(throws: KVError.self) { try store.put(bytes("a"), bytes("b")) }
        #expect(error.code == .closed)
    }

    @Test func deleteRangeRemovesExactlyTheHalfOpenRange() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        for key in ["a", "b", "c", "d", "e"] { try store.put(bytes(key), bytes(key)) }
        try store.deleteRange(from: bytes("b"), to: bytes("d"))
        #expect(try await contents(of: store).map(\.key) == [bytes("a"), bytes("d"), bytes("e")])
        let error = try #require(throws: KVError.self) { try store.deleteRange(from: bytes("d"), to: bytes("b")) }
        #expect(error.code == .invalidArgument)
    }

    @Test func columnFamiliesCreateListDrop() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        #expect(store.columnFamilies == [.default])
        let users = try store.createColumnFamily("users")
        try store.createColumnFamily("orders")
        #expect(store.columnFamilies.map(\.name) == ["default", "users", "orders"])
        try store.put(bytes("k"), bytes("in users"), in: users)
        try store.put(bytes("k"), bytes("in default"))
        #expect(try store.get(bytes("k"), in: users) == bytes("in users"))
        #expect(try store.get(bytes("k")) == bytes("in default"))

        let duplicate = try #require(throws: KVError.self) { try store.createColumnFamily("users") }
        #expect(duplicate.code == .columnFamilyExists)

        try store.dropColumnFamily(users)
        #expect(store.columnFamilies.map(\.name) == ["default", "orders"])
        let afterDrop = try #require(throws: KVError.self) { try store.get(bytes("k"), in: users) }
        #expect(afterDrop.code == .unknownColumnFamily)
        let dropDefault = try #require(throws: KVError.self) { try store.dropColumnFamily(.default) }
        #expect(dropDefault.code == .invalidArgument)
        try store.close()
        #expect(try Store.columnFamilies(at: dir.child("db")) == ["default", "orders"])
    }

    @Test func unknownColumnFamilyIsNamedInTheError() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        let error = try #require(throws: KVError.self) { try store.put(bytes("k"), bytes("v"), in: "nope") }
        #expect(error.code == .unknownColumnFamily)
        #expect(error.message.contains("'nope'"))
        var batch = WriteBatch()
        batch.put(bytes("k"), bytes("v"))
        batch.put(bytes("k"), bytes("v"), in: "nope")
        let batchError = try #require(throws: KVError.self) { try store.write(batch) }
        #expect(batchError.code == .unknownColumnFamily)
        #expect(try store.get(bytes("k")) == nil, "a batch that fails applies nothing")
    }

    @Test func writeBatchIsAtomicAcrossColumnFamilies() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir) { $0.columnFamilies = ["accounts", "ledger"] }
        try store.put(bytes("alice"), bytes("100"), in: "accounts")
        try store.put(bytes("old"), bytes("x"), in: "ledger")
        var batch = WriteBatch()
        batch.put(bytes("alice"), bytes("70"), in: "accounts")
        batch.put(bytes("bob"), bytes("30"), in: "accounts")
        batch.put(bytes("tx1"), bytes("alice->bob 30"), in: "ledger")
        batch.delete(bytes("old"), in: "ledger")
        batch.deleteRange(from: bytes("a"), to: bytes("b"))
        #expect(batch.count == 5)

        let before = try store.latestSequenceNumber
        // A reader holding a snapshot taken before the batch sees none of it; one taken after sees all of it.
        let snapshot = try store.snapshot()
        try store.write(batch, options: .durable)
        #expect(try store.latestSequenceNumber == before + 5, "each operation takes one sequence number")
        #expect(try store.get(bytes("alice"), in: "accounts", at: snapshot) == bytes("100"))
        #expect(try store.get(bytes("bob"), in: "accounts", at: snapshot) == nil)
        #expect(try store.get(bytes("old"), in: "ledger", at: snapshot) == bytes("x"))
        snapshot.release()
        #expect(try store.get(bytes("alice"), in: "accounts") == bytes("70"))
        #expect(try store.get(bytes("bob"), in: "accounts") == bytes("30"))
        #expect(try store.get(bytes("tx1"), in: "ledger") == bytes("alice->bob 30"))
        #expect(try store.get(bytes("old"), in: "ledger") == nil)
    }

    @Test func concurrentReadersAndWritersSeeConsistentData() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir) { $0.columnFamilies = ["other"] }
        let writers = 8
        let perWriter = 500
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for index in 0..<perWriter {
                        let key = bytes("w\(writer)-\(index)")
                        var batch = WriteBatch()
                        batch.put(key, bytes("\(index)"))
                        batch.put(key, bytes("\(index)"), in: "other")
                        try store.write(batch)
                        // Each batch is atomic, so a reader never sees one half without the other.
                        let a = try store.get(key)
                        let b = try store.get(key, in: "other")
                        #expect(a == b)
                    }
                }
                group.addTask {
                    for _ in 0..<50 {
                        try await store.withSnapshot { snapshot in
                            let left = try await contents(of: store, at: snapshot).count
                            let right = try await contents(of: store, family: "other", at: snapshot).count
                            #expect(left == right)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await contents(of: store).count == writers * perWriter)
        #expect(try store.latestSequenceNumber == UInt64(writers * perWriter * 2))
    }

    @Test func closeRefusesWhileCursorsOrSnapshotsAreOpen() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        let snapshot = try store.snapshot()
        let busy = try #require(throws: KVError.self) { try store.close() }
        #expect(busy.code == .busy)
        snapshot.release()
        #expect(snapshot.isReleased)
        let afterRelease = try #require(throws: KVError.self) { try store.get(bytes("a"), at: snapshot) }
        #expect(afterRelease.code == .closed)
        try store.withCursor { cursor throws in
            let first = try cursor.next()
            #expect(first?.key == bytes("a"))
            #expect(throws: KVError.self) { try store.close() }
        }
        try store.close()
        #expect(store.isClosed)
    }
}
