import AzureStorageBlobs
import Foundation
import KumoChangeFeed
import Testing

@Suite("Change feed checkpoints", .timeLimit(.minutes(3)))
struct CheckpointStoreTests {
    func record(_ sequence: UInt64, holder: String = "host-a:/data/db", updated: Date = Date()) -> ChangeFeedCheckpoint {
        ChangeFeedCheckpoint(storeID: "store-1", sequenceNumber: sequence, eventHub: "ns/changes", holder: holder, updated: updated)
    }

    @Test func aFileCheckpointIsWrittenAtomicallyAndReadBack() async throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanUp() }
        let store = FileCheckpointStore(path: directory.child("nested/feed.json"))
        #expect(try await store.claim(holder: "a", staleAfter: .seconds(60), takeOver: false) == nil)
        try await store.save(record(41))
        try await store.save(record(42))
        let read = try #require(try await store.read())
        #expect(read.sequenceNumber == 42)
        #expect(read.storeID == "store-1")
        #expect(!FileManager.default.fileExists(atPath: directory.child("nested/feed.json.tmp")))
        await store.release()
    }

    @Test func aSecondFeedOnTheSameFileIsRefusedNamingTheHolder() async throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanUp() }
        let first = FileCheckpointStore(path: directory.child("feed.json"))
        _ = try await first.claim(holder: "host-a:/data/db", staleAfter: .seconds(60), takeOver: false)
        let second = FileCheckpointStore(path: directory.child("feed.json"))
        await #expect {
            _ = try await second.claim(holder: "host-b:/data/db", staleAfter: .seconds(60), takeOver: true)
        } throws: { error in
            let error = error as? ChangeFeedError
            return error?.code == .checkpointHeld && error?.holder?.hasPrefix("host-a:/data/db (pid ") == true
        }
        // Released (as a killed process's lock is), it can be claimed.
        await first.release()
        _ = try await second.claim(holder: "host-b:/data/db", staleAfter: .seconds(60), takeOver: false)
        await second.release()
    }

    @Test(arguments: [
        ("", "is damaged (0 bytes): not JSON"),
        ("{\"formatVersion\":1}", "storeID is missing"),
        ("{\"formatVersion\":1,\"storeID\":\"s\",\"sequenceNumber\":\"x\",\"eventHub\":\"h\",\"holder\":\"a\",\"processID\":1,\"updated\":\"2026-01-01T00:00:00Z\",\"eventsPublished\":0,\"eventsPerSecond\":0}", "sequenceNumber"),
        ("{\"formatVersion\":1,\"storeID\":\"s\",\"sequenceNumber\":1,\"eventHub\":\"h\",\"holder\":\"a\",\"processID\":1,\"updated\":\"later\",\"eventsPublished\":0,\"eventsPerSecond\":0}", "not an RFC 3339 time"),
        ("{\"formatVersion\":9,\"storeID\":\"s\",\"sequenceNumber\":1,\"eventHub\":\"h\",\"holder\":\"a\",\"processID\":1,\"updated\":\"2026-01-01T00:00:00Z\",\"eventsPublished\":0,\"eventsPerSecond\":0}", "format version 9"),
    ])
    func aDamagedCheckpointIsRefusedNotReset(content: String, expected: String) async throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanUp() }
        let path = directory.child("feed.json")
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        let store = FileCheckpointStore(path: path)
        await #expect {
            _ = try await store.claim(holder: "a", staleAfter: .seconds(60), takeOver: false)
        } throws: { error in
            let error = error as? ChangeFeedError
            return error?.code == .checkpointInvalid && error?.message.contains(expected) == true
                && error?.message.contains(path) == true
        }
        // The damaged file is left as it was, for the operator to look at.
        #expect(try String(contentsOfFile: path, encoding: .utf8) == content)
    }

    @Test func aBlobCheckpointIsGuardedByItsETagAndNamesItsHolder() async throws {
        try await withFeedEnvironment(partitions: 1) { environment in
            let container = environment.blobService.containerClient("feeds")
            try await container.create()
            let blob = container.blobClient("store-1/checkpoint.json")
            let first = BlobChangeFeedCheckpointStore(blob: blob, location: "azure://feeds/store-1/checkpoint.json")
            #expect(try await first.claim(holder: "host-a:/db", staleAfter: .seconds(60), takeOver: false) == nil)
            try await first.save(record(10, holder: "host-a:/db"))
            try await first.save(record(11, holder: "host-a:/db"))

            // A second holder is refused while the first writes.
            let second = BlobChangeFeedCheckpointStore(blob: blob, location: "azure://feeds/store-1/checkpoint.json")
            await #expect {
                _ = try await second.claim(holder: "host-b:/db", staleAfter: .seconds(60), takeOver: false)
            } throws: { error in
                let error = error as? ChangeFeedError
                return error?.code == .checkpointHeld && error?.holder == "host-a:/db"
                    && error?.message.contains("azure://feeds/store-1/checkpoint.json") == true
            }
            // The same holder restarted after a crash takes it back at once.
            let restarted = BlobChangeFeedCheckpointStore(blob: blob, location: "azure://feeds/store-1/checkpoint.json")
            #expect(try await restarted.claim(holder: "host-a:/db", staleAfter: .seconds(60), takeOver: false)?.sequenceNumber == 11)
            // An explicit take-over wins, and the feed it displaced stops at its next write, naming the new holder.
            #expect(try await second.claim(holder: "host-b:/db", staleAfter: .seconds(60), takeOver: true)?.sequenceNumber == 11)
            await #expect {
                try await restarted.save(record(12, holder: "host-a:/db"))
            } throws: { error in
                let error = error as? ChangeFeedError
                return error?.code == .checkpointLost && error?.holder == "host-b:/db"
            }
            try await second.save(record(12, holder: "host-b:/db"))
            #expect(try await second.read()?.holder == "host-b:/db")
        }
    }

    @Test func aStaleBlobCheckpointCanBeClaimedByAnotherHolder() async throws {
        try await withFeedEnvironment(partitions: 1) { environment in
            let container = environment.blobService.containerClient("feeds")
            try await container.create()
            let blob = container.blobClient("cp.json")
            let old = BlobChangeFeedCheckpointStore(blob: blob, location: "azure://feeds/cp.json")
            _ = try await old.claim(holder: "gone-host:/db", staleAfter: .seconds(60), takeOver: false)
            try await old.save(record(5, holder: "gone-host:/db", updated: Date(timeIntervalSinceNow: -600)))
            let next = BlobChangeFeedCheckpointStore(blob: blob, location: "azure://feeds/cp.json")
            #expect(try await next.claim(holder: "new-host:/db", staleAfter: .seconds(60), takeOver: false)?.sequenceNumber == 5)
        }
    }
}

@Suite("Change feed checkpoint records")
struct CheckpointRecordTests {
    @Test func roundTripsAndRandomDamageIsRefusedNeverTrapping() throws {
        let original = ChangeFeedCheckpoint(
            storeID: "3c1d-77", sequenceNumber: 9_000_000_000_123, eventHub: "ns.servicebus.windows.net/kv", holder: "host:/data/kv",
            processID: 4242, updated: Date(timeIntervalSince1970: 1_764_900_000.5), eventsPublished: 77, eventsPerSecond: 1234.5)
        let bytes = original.encoded()
        let decoded = try ChangeFeedCheckpoint.decode(bytes, location: "file:///cp.json")
        #expect(decoded.sequenceNumber == original.sequenceNumber)
        #expect(decoded.storeID == original.storeID && decoded.holder == original.holder && decoded.eventsPublished == 77)
        #expect(abs(decoded.updated.timeIntervalSince(original.updated)) < 0.001)

        var random = SeededRandom(seed: 99)
        for _ in 0..<3000 {
            var damaged = bytes
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0: damaged[Int.random(in: 0..<damaged.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1: damaged.removeSubrange(Int.random(in: 0..<damaged.count, using: &random)..<damaged.count)
                default: damaged.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...damaged.count, using: &random))
                }
                if damaged.isEmpty { break }
            }
            do {
                _ = try ChangeFeedCheckpoint.decode(damaged, location: "file:///cp.json")
            } catch let error as ChangeFeedError {
                #expect(error.code == .checkpointInvalid)
                #expect(error.message.contains("file:///cp.json"))
            }
        }
    }
}
