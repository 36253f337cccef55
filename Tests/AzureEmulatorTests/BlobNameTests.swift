import Foundation
import KumoKV
import NIOHTTP1
import Testing

@testable import AzureEmulator

/// Names reach the metadata store's keys; no name may reach into another record's key, and names Azure
/// refuses are refused.
@Suite("Blob names and metadata keys")
struct BlobNameTests {
    @Test(arguments: [
        ["acct", "box", "doc"], ["acct", "box", "victim\u{0}d"], ["", "", ""], ["a\u{0}", "\u{0}\u{0}b"],
        ["acct", "box", "ünïcödé/😀", "v", "2023-01-12T02:30:38.1593995Z"],
    ])
    func keysRoundTrip(_ parts: [String]) {
        #expect(MetadataKey.decode(MetadataKey.encode(parts)) == parts)
    }

    @Test func aNameCannotForgeAnotherRecordsKey() {
        let deletedRecord = MetadataKey.encode(["acct", "box", "victim", "d"])
        let forged = MetadataKey.encode(["acct", "box", "victim\u{0}d"])
        #expect(deletedRecord != forged)
        #expect(!forged.starts(with: MetadataKey.encode(["acct", "box", "victim"])))
        #expect(MetadataKey.encode(["ab", "c"]) != MetadataKey.encode(["a", "bc"]))
    }

    @Test func malformedKeysDoNotDecode() {
        #expect(MetadataKey.decode(Array("acct".utf8)) == nil)
        #expect(MetadataKey.decode([0x61, 0]) == nil)
        #expect(MetadataKey.decode([0x61, 0, 0xFF]) == nil)
        #expect(MetadataKey.decode([0x61, 0, 2]) == nil)
        #expect(MetadataKey.decode([0xC3, 0, 1]) == nil)
        #expect(MetadataKey.decode([]) == [])
    }

    /// Listings rely on keys sorting as their names do and on a name prefix being a key prefix.
    @Test func keysKeepTheOrderAndPrefixesOfNames() {
        var random = SequenceGenerator(state: 11)
        let alphabet: [Character] = ["a", "b", "/", "-", "\u{0}", "é", "~"]
        func name() -> String {
            String((0..<Int.random(in: 0...5, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
        }
        for _ in 0..<2_000 {
            let (x, y) = (name(), name())
            let keyOrder = MetadataKey.encode(["acct", "box", x]).lexicographicallyPrecedes(
                MetadataKey.encode(["acct", "box", y]))
            #expect(keyOrder == x.utf8.lexicographicallyPrecedes(y.utf8), "\(x.debugDescription) vs \(y.debugDescription)")
            let isPrefix = MetadataKey.encode(["acct", "box", y]).starts(
                with: MetadataKey.prefix(["acct", "box"], partial: x))
            #expect(isPrefix == y.utf8.starts(with: x.utf8), "\(x.debugDescription) prefix of \(y.debugDescription)")
        }
    }

    /// The storage layer alone (below name validation): a blob whose name carries a NUL and `d` must not
    /// replace the soft-deleted record of the blob it imitates.
    @Test func aForgedNameDoesNotReplaceASoftDeletedBlob() async throws {
        try await BlobStorageSweepTests.withStorage { storage, _ in
            try await storage.setServiceSettings("acct", ServiceSettings(deleteRetentionDays: 7))
            _ = try await BlobStorageSweepTests.put(storage, "victim", "original")
            _ = try await storage.deleteBlob("acct", "box", "victim", version: nil, leaseID: nil, snapshotsOnly: false) { _ in }
            _ = try await BlobStorageSweepTests.put(storage, "victim\u{0}d", "forged")
            try await storage.undeleteBlob("acct", "box", "victim")
            let restored = try #require(try await storage.blob("acct", "box", "victim"))
            #expect(restored.size == Int64("original".utf8.count))
            #expect(try await storage.blob("acct", "box", "victim\u{0}d")?.size == Int64("forged".utf8.count))
        }
    }

    @Test func metadataOfTheFirstFormatIsRewrittenOnOpen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-format-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let families = ["containers", "blobs", "uncommitted-blocks", "accounts"]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            var options = StoreOptions()
            options.createIfMissing = true
            options.columnFamilies = families
            let store = try await Store.open(at: directory + "/metadata", options: options)
            let container = ContainerRecord(name: "box", etag: "\"0x1\"", lastModified: Date(), metadata: [:])
            try store.put(Array("acct\u{0}box".utf8), Array(try JSONEncoder().encode(container)), in: "containers")
            let blob = BlobRecord(
                name: "dir/doc", created: Date(), lastModified: Date(), etag: "\"0x2\"", properties: BlobHTTPProperties(),
                metadata: [:], parts: [DataPart(file: "f", length: 3)], committedBlocks: [])
            try store.put(Array("acct\u{0}box\u{0}dir/doc".utf8), Array(try JSONEncoder().encode(blob)), in: "blobs")
            try store.close()
        }
        let storage = try await BlobStorage(dataDirectory: directory)
        #expect(try await storage.container("acct", "box")?.name == "box")
        #expect(try await storage.blob("acct", "box", "dir/doc")?.size == 3)
        let listed = try await storage.listBlobs("acct", "box", prefix: "dir/", delimiter: nil, marker: nil, limit: 10).0
        #expect(listed.count == 1)
        try await storage.close()
        // Opening again finds the current format and changes nothing.
        let reopened = try await BlobStorage(dataDirectory: directory)
        #expect(try await reopened.blob("acct", "box", "dir/doc")?.size == 3)
        try await reopened.close()
    }

    @Test(arguments: [
        ("victim%00d", 400), ("tab%09name", 400), ("c1%C2%81", 400), ("del%7F", 400),
        (String(repeating: "n", count: 1025), 400), (String(repeating: "n", count: 1024), 201),
        (String(repeating: "a/", count: 254) + "b", 400), (String(repeating: "a/", count: 253) + "b", 201),
        ("%C3%BCber%20name.txt", 201),
    ])
    func liveEmulatorRefusesNamesAzureRefuses(_ path: String, _ status: Int) async throws {
        try await LiveBlobEndpoint.run { emulator in
            #expect(try await emulator.send(.PUT, "/names", query: "restype=container").status == 201)
            let answer = try await emulator.send(
                .PUT, "/names/\(path)", headers: [("x-ms-blob-type", "BlockBlob")], body: Array("x".utf8))
            #expect(answer.status == status)
            if status == 400 { #expect(answer.errorCode == "InvalidResourceName") }
        }
    }
}
