import Testing

@testable import KumoKV

@Suite("cursor, snapshot and change stream lifetimes")
struct ResourceLifetimeTests {
    private static let keyCount = 40

    private static func key(_ index: Int) -> [UInt8] { bytes("k" + (index < 10 ? "0" : "") + String(index)) }
    private static func value(_ index: Int) -> [UInt8] { bytes("v\(index)") }

    private enum Outcome: Sendable {
        case read
        case closed
    }

    /// One open-and-read of a cursor, snapshot or change stream; it must either read exactly what was
    /// written or report that the store is closed.
    private static func openAndRead(_ kind: UInt64, _ store: Store) async throws -> Outcome {
        do {
            switch kind % 3 {
            case 0:
                let entries = try store.withCursor { cursor in try cursor.next(upTo: keyCount + 1) }
                #expect(entries.map(\.key) == (0..<keyCount).map(key))
            case 1:
                let values = try store.withSnapshot { snapshot in
                    try [0, keyCount - 1].map { try store.get(key($0), at: snapshot) }
                }
                #expect(values == [value(0), value(keyCount - 1)])
            default:
                var sequences: [UInt64] = []
                for try await record in store.changes(since: 1) { sequences.append(record.sequenceNumber) }
                #expect(sequences == (1...UInt64(keyCount)).map { $0 })
            }
            return .read
        } catch let error as KVError where error.code == .closed {
            return .closed
        }
    }

    /// Races `close()` against tasks opening cursors, snapshots and change streams. Before the fix a
    /// resource was counted only after the store's lock was released, so `close()` could free the database
    /// under an iterator being created (a crash, or an AddressSanitizer report).
    @Test(arguments: [UInt64(1), 2, 3])
    func closeRacingOpensNeverFreesTheDatabaseUnderThem(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let dir = TemporaryDirectory()
        var tally: [Outcome: Int] = [:]
        for round in 0..<12 {
            let store = try await openStore(dir, name: "db\(round)")
            for index in 0..<Self.keyCount { try store.put(Self.key(index), Self.value(index)) }
            let readers = 6
            let opensPerReader = 12
            let kinds = (0..<readers).map { _ in (0..<opensPerReader).map { _ in random.next() } }
            let closeAfterYields = Int(random.next() % 40)

            let outcomes = try await withThrowingTaskGroup(of: [Outcome].self) { group in
                for readerKinds in kinds {
                    group.addTask {
                        var outcomes: [Outcome] = []
                        for kind in readerKinds {
                            let outcome = try await Self.openAndRead(kind, store)
                            outcomes.append(outcome)
                            // Once closed, a store stays closed: every later open must say so.
                            if let previous = outcomes.dropLast().last, previous == .closed {
                                #expect(outcome == .closed)
                            }
                            await Task.yield()
                        }
                        return outcomes
                    }
                }
                group.addTask {
                    for _ in 0..<closeAfterYields { await Task.yield() }
                    while true {
                        do {
                            try store.close()
                            return []
                        } catch let error as KVError where error.code == .busy {
                            await Task.yield()
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(outcomes.count == readers * opensPerReader)
            for outcome in outcomes { tally[outcome, default: 0] += 1 }
            #expect(store.isClosed)
            #expect(throws: KVError.self) { try store.snapshot() }
        }
        // Both sides of the race happened: opens before the close, and opens that met a closed store.
        #expect(tally[.read, default: 0] > 0)
        #expect(tally[.closed, default: 0] > 0)
    }

    /// Builds a cursor whose range bounds are arrays that nothing else references, so they are freed when
    /// this function returns.
    private func cursorWithTemporaryBounds(_ store: Store, reverse: Bool) throws -> Cursor {
        let lower = Self.key(10).map { $0 }
        let upper = Self.key(20).map { $0 }
        return try Cursor(
            store: store, range: KeyRange(lower: lower, upper: upper), family: .default, reverse: reverse,
            snapshot: nil)
    }

    @Test(arguments: [false, true])
    func boundsOutliveTheCallersArrays(reverse: Bool) async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        for index in 0..<Self.keyCount { try store.put(Self.key(index), Self.value(index)) }

        let cursor = try cursorWithTemporaryBounds(store, reverse: reverse)
        // Allocations of the same size as the freed bound arrays reuse their memory; filled with bytes that
        // sort before and after every key, they would widen the range if the cursor still pointed there.
        let churn = (0..<2000).map { index in [UInt8](repeating: index % 2 == 0 ? 0x00 : 0xFF, count: 3) }
        let entries = try cursor.next(upTo: Self.keyCount + 1)
        cursor.close()
        let expected = (10..<20).map(Self.key)
        #expect(entries.map(\.key) == (reverse ? expected.reversed() : expected))
        #expect(churn.count == 2000)
        try store.close()
    }

    @Test func emptyBoundsAreValid() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        // An empty upper bound excludes every key; an empty lower bound excludes none.
        let none = try store.withCursor(KeyRange(lower: nil, upper: [])) { try $0.next(upTo: 10) }
        let all = try store.withCursor(KeyRange(lower: [], upper: nil)) { try $0.next(upTo: 10) }
        #expect(none.isEmpty)
        #expect(all.map(\.key) == [bytes("a")])
        try store.close()
    }

    @Test func snapshotReleaseWaitsForReadsAndLaterReadsSayClosed() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        let snapshot = try store.snapshot()
        try store.put(bytes("a"), bytes("2"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<200 {
                        do {
                            let value = try store.get(bytes("a"), at: snapshot)
                            #expect(value == bytes("1"))
                            let scanned = try store.withCursor(at: snapshot) { try $0.next(upTo: 2) }
                            #expect(scanned.map(\.value) == [bytes("1")])
                        } catch let error as KVError where error.code == .closed {
                            return
                        }
                    }
                }
            }
            group.addTask {
                await Task.yield()
                snapshot.release()
            }
            try await group.waitForAll()
        }
        #expect(snapshot.isReleased)
        try store.close()
    }
}
