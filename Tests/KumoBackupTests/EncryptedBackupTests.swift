import Foundation
import KumoBackup
import KumoKV
import Testing

@Suite("Encrypted backups")
struct EncryptedBackupTests {
    @Test func encryptedIncrementalChainRestoresAndStaysDeduplicated() async throws {
        try await withEachTarget { target, kind in
            let scratch = Scratch()
            let kek = try LocalKeyFileKEK.create(at: scratch.path + "/backup.key")
            let engine = BackupEngine(target: target, keyEncryptionKey: kek)
            let store = try await Store.open(at: scratch.path + "/db")
            var snapshots: [(String, [String: [KeyValue]])] = []
            for round in 0..<4 {
                for index in 0..<1500 { try store.put(bytes("r\(round)-\(index)"), bytes(String(repeating: "secret\(round)", count: 8))) }
                try await store.flush()
                let manifest = try await engine.create(store)
                #expect(manifest.files.allSatisfy { $0.encryption != nil }, "every stored file is encrypted (\(kind))")
                if round > 0 {
                    #expect(manifest.files.contains { $0.kind == .sst && !$0.uploaded }, "encrypted SSTs are reused")
                }
                snapshots.append((manifest.id, try snapshotContents(store)))
            }
            // Nothing stored holds the plaintext.
            for object in try await target.list(prefix: "rocksdb/") where !object.path.hasSuffix("manifest.json") && !object.path.hasSuffix(".lock") {
                let data = try await target.read(object.path)
                #expect(!String(decoding: data, as: UTF8.self).contains("secret0secret0"), "\(object.path) is not encrypted")
            }
            for (index, (id, contents)) in snapshots.enumerated() {
                #expect(try await engine.verify(id).isSound)
                _ = try await engine.restore(id, to: scratch.path + "/restore-\(index)")
                let restored = try await openRestored(scratch.path + "/restore-\(index)")
                #expect(try snapshotContents(restored) == contents)
                try restored.close()
            }

            // Without the key, or with another key, restore refuses and writes nothing.
            let keyless = try await #require(throws: BackupError.self) {
                try await BackupEngine(target: target).restore("latest", to: scratch.path + "/keyless")
            }
            #expect(keyless.message.contains(kek.id))
            let other = try LocalKeyFileKEK.create(at: scratch.path + "/other.key")
            let wrong = try await #require(throws: BackupError.self) {
                try await BackupEngine(target: target, keyEncryptionKey: other).restore("latest", to: scratch.path + "/wrong")
            }
            #expect(wrong.message.contains(kek.id))
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/keyless"))
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/wrong"))

            // Rekey: data keys move to a new KEK without re-uploading data; the old key no longer restores.
            let before = Set(try await target.list(prefix: "rocksdb/shared/").map(\.path))
            let rewrapped = try await engine.rekey(to: other)
            #expect(rewrapped > 0)
            #expect(Set(try await target.list(prefix: "rocksdb/shared/").map(\.path)) == before)
            let rekeyed = BackupEngine(target: target, keyEncryptionKey: other)
            _ = try await rekeyed.restore(snapshots[0].0, to: scratch.path + "/after-rekey")
            let restored = try await openRestored(scratch.path + "/after-rekey")
            #expect(try snapshotContents(restored) == snapshots[0].1)
            try restored.close()
            await #expect(throws: BackupError.self) { _ = try await engine.restore(snapshots[0].0, to: scratch.path + "/old-key") }
            try store.close()
        }
    }

    @Test func tamperedEncryptedFileIsNamed() async throws {
        let scratch = Scratch()
        let kek = try LocalKeyFileKEK.create(at: scratch.path + "/backup.key")
        let engine = BackupEngine(target: try LocalDirectoryTarget(root: scratch.path + "/target"), keyEncryptionKey: kek)
        let store = try await Store.open(at: scratch.path + "/db")
        for index in 0..<2000 { try store.put(bytes("k\(index)"), bytes("v\(index)")) }
        let manifest = try await engine.create(store)
        let sst = try #require(manifest.files.first { $0.kind == .sst })
        let path = scratch.path + "/target/" + sst.path
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[data.count - 100] ^= 0x80
        try data.write(to: URL(fileURLWithPath: path))
        let error = try await #require(throws: BackupError.self) { try await engine.restore(manifest.id, to: scratch.path + "/out") }
        #expect(error.code == .corrupt && error.message.contains(sst.name) && error.message.contains("fails authentication"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/out"))
        try store.close()
    }
}
