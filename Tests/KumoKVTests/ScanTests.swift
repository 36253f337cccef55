import KumoKV
import Testing

@Suite("Scans, cursors and snapshots")
struct ScanTests {
    static let keys: [[UInt8]] = [
        [], [0x00], [0x00, 0x00], [0x01], bytes("a"), bytes("ab"), bytes("abc"), bytes("abd"), bytes("ac"),
        bytes("b"), [0x61, 0xFF], [0x61, 0xFF, 0xFF], [0xFF], [0xFF, 0xFF],
    ]

    func filledStore(_ dir: TemporaryDirectory) async throws -> Store {
        let store = try await openStore(dir)
        // Insert in a scrambled order; RocksDB must hand them back sorted byte-wise.
        for key in Self.keys.reversed() { try store.put(key, key + [0x2A]) }
        return store
    }

    static let ranges: [KeyRange] = [
        .all,
        KeyRange(lower: bytes("ab"), upper: bytes("b")),
        KeyRange(lower: bytes("ab")),
        KeyRange(upper: bytes("ab")),
        KeyRange(lower: bytes("zz"), upper: nil),
        KeyRange(lower: bytes("ab"), upper: bytes("ab")),
        .prefix(bytes("ab")),
        .prefix([0x61, 0xFF]),
        .prefix([0xFF]),
        .prefix([]),
    ]

    @Test(arguments: ranges, [false, true])
    func scanMatchesTheSortedModel(range: KeyRange, reverse: Bool) async throws {
        let dir = TemporaryDirectory()
        let store = try await filledStore(dir)
        var expected = Self.keys.sorted { $0.lexicographicallyPrecedes($1) }.filter(range.contains)
        if reverse { expected.reverse() }
        var seen: [KeyValue] = []
        for try await entry in store.scan(range, reverse: reverse) { seen.append(entry) }
        #expect(seen.map(\.key) == expected)
        #expect(seen.allSatisfy { $0.value == $0.key + [0x2A] })

        let viaCursor = try store.withCursor(range, reverse: reverse) { cursor in
            var keys: [[UInt8]] = []
            while let entry = try cursor.next() { keys.append(entry.key) }
            #expect(try cursor.next() == nil, "a finished cursor stays finished")
            return keys
        }
        #expect(viaCursor == expected)
    }

    @Test func prefixRangeBounds() {
        #expect(KeyRange.prefix(bytes("ab")) == KeyRange(lower: bytes("ab"), upper: bytes("ac")))
        #expect(KeyRange.prefix([0x61, 0xFF]) == KeyRange(lower: [0x61, 0xFF], upper: [0x62]))
        #expect(KeyRange.prefix([0xFF, 0xFF]) == KeyRange(lower: [0xFF, 0xFF], upper: nil))
    }

    @Test func scansCrossManyBatchesAndFlushedFiles() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        var generator = SplitMix64(seed: 7)
        var model: [[UInt8]: [UInt8]] = [:]
        for round in 0..<3 {
            for _ in 0..<1500 {
                let key = withUnsafeBytes(of: generator.next() % 5000) { Array($0) }
                let value = bytes("r\(round)")
                model[key] = value
                try store.put(key, value)
            }
            try await store.flush()
        }
        let expected = model.keys.sorted { $0.lexicographicallyPrecedes($1) }
        let seen = try await contents(of: store)
        #expect(seen.map(\.key) == expected)
        #expect(seen.allSatisfy { model[$0.key] == $0.value })
    }

    @Test func snapshotHidesLaterWrites() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        try store.put(bytes("b"), bytes("1"))
        try await store.withSnapshot { snapshot in
            try store.put(bytes("a"), bytes("2"))
            try store.delete(bytes("b"))
            try store.put(bytes("c"), bytes("2"))
            try await store.flush()  // flushed data must not leak into the snapshot either
            #expect(try store.get(bytes("a"), at: snapshot) == bytes("1"))
            #expect(try store.get(bytes("b"), at: snapshot) == bytes("1"))
            #expect(try store.get(bytes("c"), at: snapshot) == nil)
            #expect(try await contents(of: store, at: snapshot) == [
                KeyValue(key: bytes("a"), value: bytes("1")), KeyValue(key: bytes("b"), value: bytes("1")),
            ])
            #expect(try await contents(of: store) == [
                KeyValue(key: bytes("a"), value: bytes("2")), KeyValue(key: bytes("c"), value: bytes("2")),
            ])
        }
    }

    @Test func snapshotOfAnotherStoreIsRejected() async throws {
        let dir = TemporaryDirectory()
        let first = try await openStore(dir, name: "one")
        let second = try await openStore(dir, name: "two")
        let snapshot = try first.snapshot()
        defer { snapshot.release() }
        let error = try #require(throws: KVError.self) { try second.get(bytes("a"), at: snapshot) }
        #expect(error.code == .invalidArgument)
    }

    @Test func cursorIsClosedAfterItsClosure() async throws {
        let dir = TemporaryDirectory()
        let store = try await filledStore(dir)
        let escaped = try store.withCursor { $0 }
        let error = try #require(throws: KVError.self) { try escaped.next() }
        #expect(error.code == .closed)
        try store.close()  // nothing is left open
    }
}
