import Foundation
import KumoKV
import Testing

@testable import KumoKV

@Suite("Write-ahead log kept for a change feed, and following another process's store")
struct WALHoldAndFollowerTests {
    func changes(_ store: Store, since: UInt64) async throws -> [ChangeRecord] {
        var records: [ChangeRecord] = []
        for try await change in store.changes(since: since) { records.append(change) }
        return records
    }

    /// Writes `count` puts in rounds, flushing after each so RocksDB archives the finished log files.
    func writeAndFlush(_ store: Store, rounds: Int, perRound: Int) async throws {
        for round in 0..<rounds {
            for index in 0..<perRound { try store.put(bytes("r\(round)-k\(index)"), bytes("v")) }
            try await store.flush()
        }
    }

    @Test func untilReleasedKeepsEveryLogFileAcrossFlushesAndReopen() async throws {
        let dir = TemporaryDirectory()
        var store: Store? = try await openStore(dir) { $0.walRetention = .untilReleased }
        try await writeAndFlush(store!, rounds: 4, perRound: 25)
        try store!.close()
        store = try await openStore(dir) { $0.walRetention = .untilReleased }
        #expect(try await changes(store!, since: 1).map(\.sequenceNumber) == Array(1...100))
        let files = try Store.walFiles(at: dir.child("db"))
        #expect(files.filter(\.archived).count >= 4)
        #expect(files.compactMap(\.firstSequence).contains(1))
        try store!.close()
    }

    @Test func releaseDeletesExactlyTheFilesWhollyBelowTheSequence() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir) { $0.walRetention = .untilReleased }
        try await writeAndFlush(store, rounds: 4, perRound: 25)  // files start at 1, 26, 51, 76
        let before = try Store.walFiles(at: dir.child("db"))
        let starts = before.compactMap(\.firstSequence)
        #expect(Array(starts.prefix(4)) == [1, 26, 51, 76])

        // Through 50: the files starting at 1 and 26 end at 50; the one starting at 51 stays.
        let released = try store.releaseWAL(through: 50)
        #expect(released.filesDeleted == 2)
        #expect(released.bytesDeleted > 0)
        let after = try Store.walFiles(at: dir.child("db"))
        #expect(after.compactMap(\.firstSequence).min() == 51)
        #expect(try await changes(store, since: 51).map(\.sequenceNumber) == Array(51...100))
        await #expect {
            _ = try await changes(store, since: 1)
        } throws: { error in
            let error = error as? KVError
            return error?.code == .walGap && error?.lostRange == 1...50 && error?.message.contains("sequences 1–50") == true
        }
        // Releasing again, or below what is left, deletes nothing; live files are never touched.
        #expect(try store.releaseWAL(through: 50).filesDeleted == 0)
        #expect(try store.releaseWAL(through: 1_000).filesDeleted >= 1)
        #expect(try Store.walFiles(at: dir.child("db")).contains { !$0.archived })
        try store.close()
    }

    @Test func aFeedsMarkKeepsTheLogWhateverTheOpenersOptionsSay() async throws {
        let dir = TemporaryDirectory()
        var store: Store? = try await openStore(dir)
        try store!.holdWAL(holder: "host:/db")
        try store!.close()
        #expect(try Store.walHold(at: dir.child("db")) == WALHold(holder: "host:/db", releasedThrough: 0))

        // Opened with no retention at all, the mark still keeps every file.
        store = try await openStore(dir) { $0.walRetention = .none }
        #expect(store!.options.walRetention == .untilReleased)
        try await writeAndFlush(store!, rounds: 3, perRound: 10)
        #expect(try await changes(store!, since: 1).count == 30)
        _ = try store!.releaseWAL(through: 10)
        #expect(try Store.walHold(at: dir.child("db"))?.releasedThrough == 10)
        try store!.close()

        try Store.removeWALHold(at: dir.child("db"))
        #expect(try Store.walHold(at: dir.child("db")) == nil)
        store = try await openStore(dir) { $0.walRetention = .none }
        #expect(store!.options.walRetention == .none)
        try store!.close()
    }

    @Test func aDamagedMarkIsReportedByName() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.child("db"), withIntermediateDirectories: true)
        try "{not json".write(toFile: dir.child("db/KUMO-WAL-HOLD"), atomically: true, encoding: .utf8)
        #expect { try Store.walHold(at: dir.child("db")) } throws: { error in
            (error as? KVError)?.code == .corruption && "\(error)".contains("KUMO-WAL-HOLD is damaged")
        }
    }

    @Test func theLogHeaderParserNeverTrapsOnDamagedFiles() {
        // A real first record: FULL, 12-byte WriteBatch header with sequence 0x0102 and count 1.
        var block: [UInt8] = [0, 0, 0, 0, 12, 0, 1]
        block += [0x02, 0x01, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
        #expect(WALLogFormat.firstSequence(inFirstBlock: block) == 0x0102)
        // Recyclable FULL has a 4-byte log number after the type.
        #expect(WALLogFormat.firstSequence(inFirstBlock: [0, 0, 0, 0, 12, 0, 5, 9, 0, 0, 0] + Array(block[7...])) == 0x0102)
        #expect(WALLogFormat.firstSequence(inFirstBlock: []) == nil)
        #expect(WALLogFormat.firstSequence(inFirstBlock: [UInt8](repeating: 0, count: 64)) == nil)
        #expect(WALLogFormat.firstSequence(inFirstBlock: [0, 0, 0, 0, 0xFF, 0xFF, 1, 1, 2]) == nil)
        #expect(WALLogFormat.firstSequence(inFirstBlock: [0, 0, 0, 0, 12, 0, 3] + Array(block[7...])) == nil)  // a MIDDLE first
        for length in 0..<block.count {
            _ = WALLogFormat.firstSequence(inFirstBlock: Array(block.prefix(length)))
        }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let noise = (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = WALLogFormat.firstSequence(inFirstBlock: noise)
        }
    }

    @Test func aFollowerSeesTheOwnersWritesAfterCatchingUp() async throws {
        let dir = TemporaryDirectory()
        let owner = try await openStore(dir) {
            $0.walRetention = .untilReleased
            $0.columnFamilies = ["users"]
        }
        for index in 0..<10 { try owner.put(bytes("a\(index)"), bytes("1")) }
        let follower = try await Store.follow(at: dir.child("db"), scratchDirectory: dir.child("follower"))
        #expect(follower.isFollower)
        #expect(try await changes(follower, since: 1).count == 10)

        var batch = WriteBatch()
        batch.put(bytes("u1"), bytes("x"), in: "users")
        batch.delete(bytes("a1"))
        try owner.write(batch)
        try await owner.flush()  // a new log file, the old one archived
        for index in 0..<5 { try owner.put(bytes("b\(index)"), bytes("2")) }

        try follower.catchUpWithPrimary()
        #expect(try follower.latestSequenceNumber == 17)
        let seen = try await changes(follower, since: 1)
        #expect(seen.map(\.sequenceNumber) == Array(1...17))
        #expect(seen[10].columnFamily == "users" && seen[10].batchSize == 2)
        #expect(try follower.get(bytes("b4")) == bytes("2"))
        #expect(throws: KVError.self) { try follower.put(bytes("no"), bytes("writes")) }
        try follower.close()
        try owner.close()
    }
}
