import Foundation
import KumoKV
import Testing

@Suite("Opening: bad paths, locks, damaged files")
struct OpenErrorTests {
    @Test func pathThatIsAFile() async throws {
        let dir = TemporaryDirectory()
        let file = dir.child("plain-file")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: file))
        let error = try await #require(throws: KVError.self) { try await Store.open(at: file) }
        #expect(error.code == .notADirectory)
        #expect(error.message.contains(file))
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "hello", "the file is left untouched")
    }

    @Test func missingDatabaseWithoutCreateIfMissing() async throws {
        let dir = TemporaryDirectory()
        var options = StoreOptions()
        options.createIfMissing = false
        let error = try await #require(throws: KVError.self) { try await Store.open(at: dir.child("absent"), options: options) }
        #expect(error.code == .notFound)
        #expect(!FileManager.default.fileExists(atPath: dir.child("absent")))
    }

    @Test func secondOpenInTheSameProcessIsLocked() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        let error = try await #require(throws: KVError.self) { try await openStore(dir) }
        #expect(error.code == .locked)
        #expect(error.message.contains("locked"))
        #expect(try store.get(bytes("a")) == bytes("1"))
    }

    @Test func anotherProcessGetsALockedError() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        let result = try run(kumoExecutable, ["kv", "put", "--db", dir.child("db"), "b", "2"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("locked by another process"), "stderr: \(result.stderr)")
        #expect(try store.get(bytes("b")) == nil)
        try store.close()
        // Once closed, the other process gets in.
        let second = try run(kumoExecutable, ["kv", "put", "--db", dir.child("db"), "b", "2"])
        #expect(second.status == 0, "stderr: \(second.stderr)")
    }

    @Test func corruptedCurrentFile() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        try store.close()
        let current = dir.child("db/CURRENT")
        try Data("garbage without newline".utf8).write(to: URL(fileURLWithPath: current))
        let error = try await #require(throws: KVError.self) { try await openStore(dir) }
        #expect(error.code == .corruption)
        #expect(error.message.contains("CURRENT file does not end with newline"))
    }

    @Test func currentNamingAMissingManifest() async throws {
        let dir = TemporaryDirectory()
        let store = try await openStore(dir)
        try store.put(bytes("a"), bytes("1"))
        try store.close()
        try Data("MANIFEST-999999\n".utf8).write(to: URL(fileURLWithPath: dir.child("db/CURRENT")))
        let error = try await #require(throws: KVError.self) { try await openStore(dir) }
        #expect(error.code == .ioError)
        #expect(error.message.contains("MANIFEST-999999: No such file"))
    }

    @Test func errorIfExists() async throws {
        let dir = TemporaryDirectory()
        try await openStore(dir).close()
        let error = try await #require(throws: KVError.self) { try await openStore(dir) { $0.errorIfExists = true } }
        #expect(error.code == .invalidArgument)
    }

    @Test func everyCompressionOptionOpensAndRoundTrips() async throws {
        for compression in StoreOptions.Compression.allCases {
            let dir = TemporaryDirectory()
            do {
                let store = try await openStore(dir) { $0.compression = compression }
                try store.put(bytes("k"), bytes(String(repeating: "compressible ", count: 100)))
                try await store.flush()
                #expect(try store.get(bytes("k"))?.count == 1300)
            } catch let error as KVError where error.code == .invalidArgument || error.code == .notSupported {
                // A compression library missing from this RocksDB build is reported, not crashed on.
                #expect(error.message.lowercased().contains("compression"), "\(compression): \(error)")
            }
        }
    }
}
