import Foundation
import Synchronization
import Testing

@testable import AzureEmulator

/// The maintenance sweep against a real store in a temporary directory, with a clock the test moves.
@Suite("Storage maintenance sweep")
struct BlobStorageSweepTests {
    final class Clock: Sendable {
        let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        func advance(days: Double) { now.withLock { $0 = $0.addingTimeInterval(days * 86_400) } }
        var read: @Sendable () -> Date { { self.now.withLock { $0 } } }
    }

    static func withStorage(versioned: Bool = false, _ body: (BlobStorage, Clock) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-sweep-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = Clock()
        let storage = try await BlobStorage(dataDirectory: directory, versionedAccounts: versioned ? ["acct"] : [], clock: clock.read)
        _ = try await storage.createContainer("acct", "box", metadata: [:])
        try await body(storage, clock)
    }

    static func stage(_ storage: BlobStorage, _ blob: String, _ id: String, _ bytes: String = "data") async throws -> String {
        let file = storage.newDataFile()
        FileManager.default.createFile(atPath: storage.path(of: file), contents: Data(bytes.utf8))
        try await storage.stageBlock(
            "acct", "box", blob, block: BlockRecord(id: id, part: DataPart(file: file, length: Int64(bytes.utf8.count))),
            leaseID: nil)
        return file
    }

    @Test func uncommittedBlocksGoAWeekAfterTheLastPutBlock() async throws {
        try await Self.withStorage { storage, clock in
            let oldFile = try await Self.stage(storage, "stale", "QQ==")
            clock.advance(days: 6)
            _ = try await Self.stage(storage, "fresh", "QQ==")
            // The fresh blob's second block keeps its first one alive too.
            clock.advance(days: 0.5)
            #expect(try await storage.sweep() == BlobStorage.SweepReport())
            clock.advance(days: 0.5)
            let report = try await storage.sweep()
            #expect(report.discardedBlockLists == 1)
            #expect(report.discardedBlocks == 1)
            #expect(try await storage.uncommittedBlocks("acct", "box", "stale").isEmpty)
            #expect(try await storage.uncommittedBlocks("acct", "box", "fresh").count == 1)
            #expect(!FileManager.default.fileExists(atPath: storage.path(of: oldFile)))
            clock.advance(days: 6.9)
            _ = try await Self.stage(storage, "fresh", "Qg==")
            clock.advance(days: 6.9)
            #expect(try await storage.sweep() == BlobStorage.SweepReport())
            #expect(try await storage.uncommittedBlocks("acct", "box", "fresh").count == 2)
            clock.advance(days: 0.2)
            #expect(try await storage.sweep().discardedBlocks == 2)
        }
    }

    @Test func committedBlocksSurviveTheSweep() async throws {
        try await Self.withStorage { storage, clock in
            let file = try await Self.stage(storage, "done", "QQ==")
            let list = try RequestedBlockList.parse(Data("<BlockList><Latest>QQ==</Latest></BlockList>".utf8))
            _ = try await storage.commitBlockList(
                "acct", "box", "done", list: list, properties: BlobHTTPProperties(), metadata: [:], leaseID: nil
            ) { _ in }
            clock.advance(days: 30)
            #expect(try await storage.sweep() == BlobStorage.SweepReport())
            #expect(try await storage.blob("acct", "box", "done")?.size == 4)
            #expect(FileManager.default.fileExists(atPath: storage.path(of: file)))
        }
    }

    @Test func softDeletedBlobsArePurgedAfterTheirRetention() async throws {
        try await Self.withStorage { storage, clock in
            try await storage.setServiceSettings("acct", ServiceSettings(deleteRetentionDays: 2))
            let file = storage.newDataFile()
            FileManager.default.createFile(atPath: storage.path(of: file), contents: Data("gone".utf8))
            _ = try await storage.putBlob(
                "acct", "box", "doc", part: DataPart(file: file, length: 4), properties: BlobHTTPProperties(),
                metadata: [:], leaseID: nil
            ) { _ in }
            let result = try await storage.deleteBlob(
                "acct", "box", "doc", version: nil, leaseID: nil, snapshotsOnly: false) { _ in }
            #expect(!result.permanent)
            let include = BlobStorage.ListingInclude(deleted: true)
            #expect(try await storage.listBlobs("acct", "box", prefix: "", delimiter: nil, marker: nil, limit: 10, include: include).0.count == 1)

            clock.advance(days: 1.9)
            #expect(try await storage.sweep().purgedBlobs == 0)
            #expect(FileManager.default.fileExists(atPath: storage.path(of: file)))
            clock.advance(days: 0.1)
            // Past its retention the blob is hidden at once, and the sweep removes it with its data.
            #expect(try await storage.listBlobs("acct", "box", prefix: "", delimiter: nil, marker: nil, limit: 10, include: include).0.isEmpty)
            await #expect(throws: EmulatorError.self) { try await storage.undeleteBlob("acct", "box", "doc") }
            #expect(try await storage.sweep().purgedBlobs == 1)
            #expect(!FileManager.default.fileExists(atPath: storage.path(of: file)))
        }
    }

    static func put(_ storage: BlobStorage, _ name: String, _ bytes: String) async throws -> (BlobRecord, String) {
        let file = storage.newDataFile()
        FileManager.default.createFile(atPath: storage.path(of: file), contents: Data(bytes.utf8))
        let record = try await storage.putBlob(
            "acct", "box", name, part: DataPart(file: file, length: Int64(bytes.utf8.count)), properties: BlobHTTPProperties(),
            metadata: [:], leaseID: nil
        ) { _ in }
        return (record, file)
    }

    @Test func softDeletedVersionsArePurgedWithTheirDataOnly() async throws {
        try await Self.withStorage(versioned: true) { storage, clock in
            try await storage.setServiceSettings("acct", ServiceSettings(deleteRetentionDays: 1))
            let (first, firstFile) = try await Self.put(storage, "doc", "one")
            let (_, secondFile) = try await Self.put(storage, "doc", "two")
            let version = try #require(first.versionID)
            let result = try await storage.deleteBlob("acct", "box", "doc", version: version, leaseID: nil, snapshotsOnly: false) { _ in }
            #expect(!result.permanent)
            #expect(try await storage.blob("acct", "box", "doc", version: version) == nil)
            clock.advance(days: 1)
            #expect(try await storage.sweep().purgedBlobs == 1)
            #expect(!FileManager.default.fileExists(atPath: storage.path(of: firstFile)))
            // The current version's data stays.
            #expect(FileManager.default.fileExists(atPath: storage.path(of: secondFile)))
            #expect(try await storage.blob("acct", "box", "doc")?.size == 3)
            await #expect(throws: EmulatorError.self) { try await storage.undeleteBlob("acct", "box", "missing") }
        }
    }
}
