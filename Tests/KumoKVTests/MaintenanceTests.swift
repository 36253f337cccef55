import Foundation
import KumoKV
import Testing

@Suite("Flush, compaction, checkpoints, live files, SST ingestion, statistics")
struct MaintenanceTests {
    @Test func checkpointOpensWithIdenticalContents() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir) { $0.columnFamilies = ["users"] }
        for index in 0..<2000 {
            try store.put(bytes("k\(index)"), bytes("v\(index)"))
            if index % 3 == 0 { try store.put(bytes("u\(index)"), bytes("user \(index)"), in: "users") }
        }
        try await store.flush()
        for index in 0..<100 { try store.put(bytes("late\(index)"), bytes("unflushed")) }  // still in the memtable
        let info = try await store.checkpoint(to: dir.child("checkpoint"))
        #expect(info.sequenceNumber == (try store.latestSequenceNumber))
        try store.put(bytes("after"), bytes("not in checkpoint"))

        let copy = try await Store.open(at: info.path)
        #expect(copy.columnFamilies.map(\.name) == ["default", "users"])
        let copied = try await contents(of: copy)
        #expect(copied.count == 2100)
        #expect(try copy.get(bytes("after")) == nil)
        try store.delete(bytes("after"))
        #expect(copied == (try await contents(of: store)))
        #expect(try await contents(of: copy, family: "users") == (try await contents(of: store, family: "users")))

        let existing = try await #require(throws: KVError.self) { try await store.checkpoint(to: info.path) }
        #expect(existing.code == .invalidArgument)
    }

    @Test func liveFilesAgreeWithTheDirectory() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir) { $0.columnFamilies = ["other"] }
        for round in 0..<3 {
            for index in 0..<500 {
                try store.put(bytes(String(format: "key%05d", index * 3 + round)), bytes("value"))
                try store.put(bytes("o\(index)"), bytes("\(round)"), in: "other")
            }
            try await store.flush()
        }
        let files = try store.liveFiles()
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: dir.child("db")).filter { $0.hasSuffix(".sst") }
        #expect(Set(files.map(\.name)) == Set(onDisk))
        #expect(files.filter { $0.columnFamily == "default" }.count == 3)
        #expect(files.filter { $0.columnFamily == "other" }.count == 3)
        for file in files {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir.child("db/\(file.name)"))
            #expect((attributes[.size] as? NSNumber)?.uint64Value == file.size)
            #expect(file.entries == 500)
            #expect(!file.largestKey.lexicographicallyPrecedes(file.smallestKey))
        }
        let defaultFiles = files.filter { $0.columnFamily == "default" }
        #expect(defaultFiles.map(\.smallestKey).min { $0.lexicographicallyPrecedes($1) } == bytes("key00000"))

        try await store.compactRange(in: "default")
        let compacted = try store.liveFiles().filter { $0.columnFamily == "default" }
        #expect(compacted.count == 1)
        #expect(compacted[0].entries == 1500)
        #expect(compacted[0].level > 0)
        let stats = try store.statistics()
        #expect(stats.columnFamilies.map(\.name) == ["default", "other"])
        #expect(stats.columnFamilies[0].sstFileCount == 1)
        #expect(stats.columnFamilies[0].estimatedKeys == 1500)
        #expect(stats.latestSequenceNumber == 3000)
        #expect(try store.property("rocksdb.stats")?.contains("Compaction") == true)
        #expect(try store.property("rocksdb.no-such-property") == nil)
    }

    @Test func pausedDeletionsKeepEveryListedFileUntilTheBodyEnds() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        for round in 0..<3 {
            for index in 0..<300 { try store.put(bytes("k\(index)"), bytes("round \(round)")) }
            try await store.flush()
        }
        for index in 0..<10 { try store.put(bytes("wal\(index)"), bytes("only in the log")) }
        let dbPath = dir.child("db")
        let copyPath = dir.child("copy")
        try FileManager.default.createDirectory(atPath: copyPath, withIntermediateDirectories: true)
        let set = try await store.withFileDeletionsDisabled { set in
            #expect(set.sstFiles.count == 3)
            #expect(Set(set.files.map(\.kind)) == [.sst, .current, .manifest, .options, .wal])
            try await store.compactRange()  // replaces the three SSTs
            let live = Set(try store.liveFiles().map(\.name))
            #expect(live.isDisjoint(with: set.sstFiles.map(\.name)), "compaction replaced every captured SST")
            try store.put(bytes("k0"), bytes("written after the capture"))
            // Every listed file is still there; copied at its listed length it forms the database as captured.
            for file in set.files {
                let data = try Data(contentsOf: URL(fileURLWithPath: dbPath + "/" + file.name))
                #expect(data.count >= Int(file.size))
                try data.prefix(Int(file.size)).write(to: URL(fileURLWithPath: copyPath + "/" + file.name))
            }
            return set
        }
        #expect(set.sequenceNumber == 910)
        let copy = try await Store.open(at: copyPath)
        #expect(try copy.latestSequenceNumber == 910)
        #expect(try copy.get(bytes("k0")) == bytes("round 2"))
        #expect(try copy.get(bytes("wal9")) == bytes("only in the log"))
        #expect(try await contents(of: copy).count == 310)
    }

    @Test func sstFilesWriteAndIngest() async throws {
        let dir = TemporaryDirectory()
        let sstPath = dir.child("bulk.sst")
        let writer = try SSTFileWriter(path: sstPath)
        for index in 0..<1000 { try writer.put(bytes(String(format: "bulk%04d", index)), bytes("v\(index)")) }
        try writer.delete(bytes("bulk9999"))
        let outOfOrder = try #require(throws: KVError.self) { try writer.put(bytes("bulk0001"), bytes("late")) }
        #expect(outOfOrder.code == .keyOrder)
        #expect(outOfOrder.message.contains("0x62756c6b30303031"))
        let (size, entries) = try writer.finish()
        #expect(entries == 1001)
        #expect(size > 0)
        #expect(throws: KVError.self) { try writer.put(bytes("z"), bytes("z")) }

        let store = try await openStore(dir) { $0.columnFamilies = ["bulk"] }
        try store.put(bytes("bulk0005"), bytes("older value"), in: "bulk")
        try store.put(bytes("bulk9999"), bytes("deleted by the ingested file"), in: "bulk")
        try await store.ingest([sstPath], into: "bulk")
        #expect(try store.get(bytes("bulk0005"), in: "bulk") == bytes("v5"))
        #expect(try store.get(bytes("bulk9999"), in: "bulk") == nil)
        #expect(try await contents(of: store, family: "bulk").count == 1000)
        #expect(try store.liveFiles().contains { $0.columnFamily == "bulk" && $0.entries == 1001 })

        let missing = try await #require(throws: KVError.self) {
            try await store.ingest([dir.child("missing.sst")], into: "bulk")
        }
        #expect(missing.message.contains("missing.sst"))
        let empty = try SSTFileWriter(path: dir.child("empty.sst"))
        #expect(throws: KVError.self) { try empty.finish() }
    }
}
