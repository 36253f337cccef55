import AzureCore
import AzureStorageBlobs
import Crypto
import Foundation
import KumoBackup
import KumoKV
import Testing

@testable import KumoBackup

/// A backup target is untrusted input. Each case damages a valid backup the way an attacker with write
/// access, a damaged disk or an older writer could, and checks that restore (and deep verify) refuses it with
/// an error naming what is wrong, and that nothing outside the restore directory changed.
@Suite("Hostile targets: restore refuses, nothing outside --to changes")
struct HostileTargetTests {
    /// One backup in a local directory, with the paths a case needs.
    struct Layout {
        /// Owns the directory: removed when the last copy of the layout goes.
        let owner: Scratch
        var scratch: String { owner.path }
        let target: String
        let manifestPath: String
        let id: String
        let keyFile: String?
        /// The stored path (relative to `target`) of the first SST.
        let firstSST: String
        var outside: String { scratch + "/outside" }
        var destination: String { outside + "/restore/to" }
    }

    enum Mutation: Sendable {
        /// Rewrites the manifest's JSON (the seal, if any, is left as it was).
        case manifest(@Sendable (inout [String: Any]) -> Void)
        /// Changes stored files directly.
        case files(@Sendable (Layout) throws -> Void)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let encrypted: Bool
        let mutation: Mutation
        /// Text the refusal must contain.
        let expected: String
        var testDescription: String { name }
    }

    static func files(_ manifest: inout [String: Any], _ change: (inout [String: Any]) -> Void, at index: Int = 0) {
        var files = manifest["files"] as! [[String: Any]]
        change(&files[index])
        manifest["files"] = files
    }

    static let cases: [Case] = [
        Case(name: "name escapes --to", encrypted: false, mutation: .manifest { files(&$0) { $0["name"] = "../../escaped.txt" } },
             expected: "is not a plain file name"),
        Case(name: "name with a directory", encrypted: false, mutation: .manifest { files(&$0) { $0["name"] = "sub/CURRENT" } },
             expected: "is not a plain file name"),
        Case(name: "name is ..", encrypted: false, mutation: .manifest { files(&$0) { $0["name"] = ".." } }, expected: "is not a plain file name"),
        Case(name: "name is empty", encrypted: false, mutation: .manifest { files(&$0) { $0["name"] = "" } }, expected: "is not a plain file name"),
        Case(name: "name with NUL", encrypted: false, mutation: .manifest { files(&$0) { $0["name"] = "CURRENT\u{0}x" } },
             expected: "is not a plain file name"),
        Case(name: "path climbs out of the target", encrypted: false, mutation: .manifest { files(&$0) { $0["path"] = "../host-secret" } },
             expected: "is not a relative path"),
        Case(name: "absolute path", encrypted: false, mutation: .manifest { files(&$0) { $0["path"] = "/etc/passwd" } },
             expected: "is not a relative path"),
        Case(name: "dot-dot inside the prefix", encrypted: false,
             mutation: .manifest { files(&$0) { $0["path"] = "rocksdb/shared/../../../host-secret" } }, expected: "is not a relative path"),
        Case(name: "empty segment", encrypted: false, mutation: .manifest { files(&$0) { $0["path"] = "rocksdb//shared/x.sst" } },
             expected: "is not a relative path"),
        Case(name: "path outside the backup's areas", encrypted: false, mutation: .manifest { files(&$0) { $0["path"] = "elsewhere/x.sst" } },
             expected: "is outside rocksdb/shared/"),
        Case(name: "id is a path", encrypted: false, mutation: .manifest { $0["id"] = "../../../../tmp/x" }, expected: "is not a backup id"),
        Case(name: "duplicate names", encrypted: false, mutation: .manifest { manifest in
            var files = manifest["files"] as! [[String: Any]]
            files[1]["name"] = files[0]["name"]
            manifest["files"] = files
        }, expected: "appears twice"),
        Case(name: "negative size", encrypted: false, mutation: .manifest { files(&$0) { $0["size"] = -1 } }, expected: "out of range"),
        Case(name: "enormous size", encrypted: false, mutation: .manifest { files(&$0) { $0["size"] = Int64.max } }, expected: "out of range"),
        Case(name: "malformed sha256", encrypted: false, mutation: .manifest { files(&$0) { $0["sha256"] = "zz" } }, expected: "sha256"),
        Case(name: "RocksDB's MANIFEST renamed (files check out, the store does not open)", encrypted: false, mutation: .manifest { manifest in
            var files = manifest["files"] as! [[String: Any]]
            let index = files.firstIndex { ($0["kind"] as? String) == "manifest" }!
            files[index]["name"] = "renamed"
            manifest["files"] = files
        }, expected: "RocksDB cannot open them"),
        Case(name: "newer schema", encrypted: false, mutation: .manifest { $0["schema"] = 99 }, expected: "has schema 99"),
        Case(name: "control characters in the label", encrypted: false, mutation: .manifest { $0["label"] = "\u{1b}[2Jgone" },
             expected: "label has control characters"),
        Case(name: "manifest over the size cap", encrypted: false, mutation: .manifest { $0["label"] = String(repeating: "x", count: 17 << 20) },
             expected: "at most 16777216"),
        Case(name: "stored SST is a symbolic link to a host file", encrypted: false, mutation: .files { layout in
            try FileManager.default.removeItem(atPath: layout.target + "/" + layout.firstSST)
            try FileManager.default.createSymbolicLink(atPath: layout.target + "/" + layout.firstSST, withDestinationPath: "/etc/passwd")
        }, expected: "symbolic link"),
        Case(name: "stored SST is a FIFO", encrypted: false, mutation: .files { layout in
            try FileManager.default.removeItem(atPath: layout.target + "/" + layout.firstSST)
            #expect(mkfifo(layout.target + "/" + layout.firstSST, 0o644) == 0)
        }, expected: "not a regular file"),
        Case(name: "stored SST grew", encrypted: false, mutation: .files { layout in
            let handle = try #require(FileHandle(forWritingAtPath: layout.target + "/" + layout.firstSST))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(repeating: 0, count: 4096))
            try handle.close()
        }, expected: "the manifest says"),
        Case(name: "stored SST bit flip", encrypted: false, mutation: .files { layout in
            try flipByte(layout.target + "/" + layout.firstSST, at: 100)
        }, expected: "fails its SHA-256 check"),
        Case(name: "newest manifest unreadable", encrypted: false, mutation: .files { layout in
            try Data("{ not json".utf8).write(to: URL(fileURLWithPath: layout.target + "/" + layout.manifestPath))
        }, expected: "does not parse"),
        // Encrypted backups: the manifest is sealed.
        Case(name: "encryption stripped from one file", encrypted: true, mutation: .manifest { files(&$0) { $0.removeValue(forKey: "encryption") } },
             expected: "an encrypted backup encrypts every file"),
        Case(name: "encryption and seal stripped, files swapped for plaintext", encrypted: true, mutation: .manifest { manifest in
            manifest.removeValue(forKey: "authentication")
            var files = manifest["files"] as! [[String: Any]]
            for index in files.indices { files[index].removeValue(forKey: "encryption") }
            manifest["files"] = files
        }, expected: "is not sealed"),
        Case(name: "sealed manifest edited", encrypted: true, mutation: .manifest { $0["sequenceNumber"] = 1 }, expected: "fails authentication"),
        Case(name: "a second manifestMAC member", encrypted: true, mutation: .manifest { $0["extra"] = ["manifestMAC": String(repeating: "0", count: 64)] },
             expected: "manifestMAC members"),
        Case(name: "KUMOENC1 length bytes set to 0xFF", encrypted: true, mutation: .files { layout in
            for offset: UInt64 in 28..<36 { try setByte(layout.target + "/" + layout.firstSST, at: offset, to: 0xFF) }
        }, expected: "inconsistent chunk count"),
        Case(name: "KUMOENC1 length one chunk longer", encrypted: true, mutation: .files { layout in
            try setByte(layout.target + "/" + layout.firstSST, at: 30, to: 0x10)
            try setByte(layout.target + "/" + layout.firstSST, at: 36, to: 2)
        }, expected: "do not fit its stored size"),
        Case(name: "KUMOENC1 chunk count set to 0xFF", encrypted: true, mutation: .files { layout in
            for offset: UInt64 in 36..<40 { try setByte(layout.target + "/" + layout.firstSST, at: offset, to: 0xFF) }
        }, expected: "inconsistent chunk count"),
    ]

    @Test(arguments: cases)
    func restoreRefuses(_ hostile: Case) async throws {
        let layout = try await Self.makeBackup(encrypted: hostile.encrypted)
        try Self.apply(hostile.mutation, to: layout)
        let before = try treeDigest(layout.outside)
        let engine = try Self.engine(layout)
        let refusal = try await #require(throws: BackupError.self) { try await engine.restore("latest", to: layout.destination) }
        #expect(refusal.message.contains(hostile.expected), "\(refusal.message)")
        #expect(!refusal.message.contains("\u{1b}"), "errors never carry terminal escapes")
        #expect(try treeDigest(layout.outside) == before, "nothing outside --to changed")
        #expect(!FileManager.default.fileExists(atPath: layout.destination))

        // Deep verify runs the same checks: it reports the damage and never writes outside its scratch space.
        do {
            let report = try await engine.verify("latest", deep: true)
            #expect(!report.isSound)
        } catch is BackupError {}
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.temporaryDirectory.path + "/escaped.txt"))
        #expect(try treeDigest(layout.outside) == before)
    }

    @Test func explicitIDStillRestoresAnOlderBackupWhenTheNewestIsDamaged() async throws {
        let layout = try await Self.makeBackup(encrypted: false)
        let store = try await Store.open(at: layout.scratch + "/db")
        try store.put(bytes("later"), bytes("write"))
        let newer = try await Self.engine(layout).create(store)
        try store.close()
        try Data("damaged".utf8).write(to: URL(fileURLWithPath: layout.target + "/" + BackupManifest.path(id: newer.id, createdAt: newer.createdAt)))
        let engine = try Self.engine(layout)
        let latest = try await #require(throws: BackupError.self) { try await engine.manifest("latest") }
        #expect(latest.code == .corrupt && latest.message.contains(newer.id))
        let report = try await engine.restore(layout.id, to: layout.destination)
        #expect(report.backupID == layout.id)
    }

    @Test func restoreNeverDeletesWhatAppearsInTheDestination() async throws {
        let layout = try await Self.makeBackup(encrypted: false)
        try FileManager.default.createDirectory(atPath: layout.destination, withIntermediateDirectories: true)
        let intruder = layout.destination + "/operator-notes.txt"
        let refusal = try await #require(throws: BackupError.self) {
            try await Self.engine(layout).restore("latest", to: layout.destination) { progress in
                // Someone writes into the destination while the restore downloads.
                if progress.phase == .downloading, !FileManager.default.fileExists(atPath: intruder) {
                    FileManager.default.createFile(atPath: intruder, contents: Data("keep me".utf8))
                }
            }
        }
        #expect(refusal.code == .targetNotEmpty)
        #expect(FileManager.default.contents(atPath: intruder) == Data("keep me".utf8))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: layout.outside + "/restore").filter { $0.hasPrefix(".kumo-restore-") }
        #expect(leftovers.isEmpty)
    }

    @Test func stagingIsPrivateAndAbandonedStagingIsRemoved() async throws {
        let scratch = Scratch()
        let parent = scratch.path + "/restores"
        let staging = try RestoreStaging.create(beside: parent + "/db")
        var info = stat()
        #expect(stat(staging.path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(stat(staging.data, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(RestoreStaging.abandoned(in: parent).isEmpty, "a staging directory whose restore runs is not abandoned")
        // A restore that died: its directory remains but no process holds its lock.
        let dead = parent + "/.kumo-restore-dead00000000"
        try FileManager.default.createDirectory(atPath: dead + "/db", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dead + "/.lock", contents: nil)
        FileManager.default.createFile(atPath: dead + "/db/000001.sst", contents: Data("decrypted data".utf8))
        #expect(RestoreStaging.removeAbandoned(in: parent) == [dead])
        #expect(FileManager.default.fileExists(atPath: staging.path))
        staging.remove()
        #expect(!FileManager.default.fileExists(atPath: staging.path))
    }

    @Test func failedFsyncFailsTheCommand() async throws {
        let scratch = Scratch()
        let store = try await Store.open(at: scratch.path + "/db")
        try addItems(store, from: 0, count: 500)
        defer { try? store.close() }
        let engine = BackupEngine(target: try LocalDirectoryTarget(root: scratch.path + "/target"))
        let first = try await engine.create(store)
        try await LocalFileIO.withInjectedFailure(.init(.fsync, below: scratch.path, code: EIO)) {
            let backup = try await #require(throws: BackupError.self) { try await engine.create(store) }
            #expect(backup.code == .io && backup.message.contains("fsync"))
            let restore = try await #require(throws: BackupError.self) { try await engine.restore(first.id, to: scratch.path + "/restored") }
            #expect(restore.code == .io && restore.message.contains("fsync"))
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/restored"))
        #expect(try await engine.list().map(\.id) == [first.id], "the backup whose files did not sync was never listed")
    }

    @Test func failedDeleteStopsPruneBeforeAnyDataFile() async throws {
        let scratch = Scratch()
        let store = try await Store.open(at: scratch.path + "/db")
        defer { try? store.close() }
        let engine = BackupEngine(target: try LocalDirectoryTarget(root: scratch.path + "/target"))
        var ids: [String] = []
        for round in 0..<3 {
            try addItems(store, from: round * 300, count: 300)
            try await store.flush()
            ids.append(try await engine.create(store).id)
        }
        try await LocalFileIO.withInjectedFailure(.init(.delete, below: scratch.path, code: EROFS)) {
            let failure = try await #require(throws: BackupError.self) { try await engine.prune(RetentionPolicy(keepLast: 1), gracePeriod: 0) }
            #expect(failure.code == .io && failure.message.contains("manifest.json"), "\(failure.message)")
        }
        #expect(try await engine.list().map(\.id) == ids)
        for id in ids { #expect(try await engine.verify(id).isSound, "\(id)") }
    }

    @Test func pruneLeavesYoungUnreferencedFilesForTheGracePeriod() async throws {
        let scratch = Scratch()
        let target = try LocalDirectoryTarget(root: scratch.path + "/target")
        let store = try await Store.open(at: scratch.path + "/db")
        defer { try? store.close() }
        try addItems(store, from: 0, count: 300)
        let engine = BackupEngine(target: target)
        let kept = try await engine.create(store)
        // An SST another host's backup stored but has not referenced yet, and one abandoned long ago.
        try await target.write(Array("in flight".utf8), to: "rocksdb/shared/default/000999-9-0000000000000000.sst", createOnly: true)
        try await target.write(Array("abandoned".utf8), to: "rocksdb/shared/default/000998-9-0000000000000000.sst", createOnly: true)
        let old = Date(timeIntervalSinceNow: -3 * 86400)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: scratch.path + "/target/rocksdb/shared/default/000998-9-0000000000000000.sst")
        let report = try await engine.prune(RetentionPolicy(keepLast: 1))
        #expect(report.keptBackups == [kept.id])
        #expect(report.deletedObjects == ["rocksdb/shared/default/000998-9-0000000000000000.sst"])
        #expect(report.deferredObjects == ["rocksdb/shared/default/000999-9-0000000000000000.sst"])
        let immediate = try await engine.prune(RetentionPolicy(keepLast: 1), gracePeriod: 0)
        #expect(immediate.deletedObjects == ["rocksdb/shared/default/000999-9-0000000000000000.sst"])
    }

    @Test func damagedSharedSSTIsNotReusedByTheNextBackup() async throws {
        for encrypted in [false, true] {
            let layout = try await Self.makeBackup(encrypted: encrypted)
            try flipByte(layout.target + "/" + layout.firstSST, at: 60)
            let store = try await Store.open(at: layout.scratch + "/db")
            try store.put(bytes("after"), bytes("damage"))
            let engine = try Self.engine(layout)
            let next = try await engine.create(store)
            let expected = try snapshotContents(store)
            try store.close()
            let stem = String(layout.firstSST[..<layout.firstSST.range(of: ".sst")!.lowerBound])
            let reference = try #require(next.files.first { $0.path.hasPrefix(stem) })
            #expect(reference.uploaded && reference.path != layout.firstSST, "a fresh copy beside the damaged one (encrypted: \(encrypted))")
            _ = try await engine.restore(next.id, to: layout.scratch + "/restored")
            let restored = try await openRestored(layout.scratch + "/restored")
            #expect(try snapshotContents(restored) == expected)
            try restored.close()
        }
    }

    @Test(arguments: [false, true])
    func replacedBlobIsNotReusedByTheNextBackup(encrypted: Bool) async throws {
        let scratch = Scratch()
        try await withStartedEmulator(scratch.path + "/emulator") { port in
            let container = try BlobServiceClient(connectionString: connectionString(port: port)).containerClient("backups")
            try await container.create()
            let kek: (any KeyEncryptionKey)? = encrypted ? try LocalKeyFileKEK.create(at: scratch.path + "/backup.key") : nil
            let engine = BackupEngine(target: AzureBlobTarget(container: container, prefix: "kv"), keyEncryptionKey: kek)
            let store = try await Store.open(at: scratch.path + "/db")
            defer { try? store.close() }
            try addItems(store, from: 0, count: 500)
            let first = try await engine.create(store)
            let sst = try #require(first.files.first { $0.kind == .sst })
            #expect(sst.storedMD5 != nil, "the MD5 Blob Storage keeps is recorded")
            // Untouched, the next backup reuses the SST from the listing alone.
            let second = try await engine.create(store)
            #expect(second.files.first { $0.name == sst.name }?.uploaded == false)
            // Someone with a writable SAS replaces it with other bytes of the same size.
            let blob = container.blobClient("kv/" + sst.path)
            let size = try await blob.properties().contentLength
            try await blob.upload([UInt8](repeating: 0x41, count: Int(size)))
            try store.put(bytes("after"), bytes("replacement"))
            let third = try await engine.create(store)
            let entry = try #require(third.files.first { $0.name == sst.name })
            #expect(entry.uploaded && entry.path != sst.path, "a fresh copy beside the replaced one")
            _ = try await engine.restore(third.id, to: scratch.path + "/restored")
        }
    }

    // MARK: Fixture

    static func makeBackup(encrypted: Bool) async throws -> Layout {
        let scratch = Scratch()
        let root = scratch.path
        try FileManager.default.createDirectory(atPath: root + "/outside/restore", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/outside/keep.txt", contents: Data("sentinel".utf8))
        FileManager.default.createFile(atPath: root + "/outside/restore/keep.txt", contents: Data("sentinel".utf8))
        FileManager.default.createFile(atPath: root + "/host-secret", contents: Data("host secret".utf8))
        let store = try await Store.open(at: root + "/db")
        try addItems(store, from: 0, count: 400)
        try await store.flush()
        var keyFile: String?
        if encrypted {
            keyFile = root + "/backup.key"
            _ = try LocalKeyFileKEK.create(at: keyFile!)
        }
        let target = try LocalDirectoryTarget(root: root + "/target")
        let engine = BackupEngine(target: target, keyEncryptionKey: try keyFile.map { try LocalKeyFileKEK(path: $0) })
        let manifest = try await engine.create(store)
        try store.close()
        let sst = try #require(manifest.files.first { $0.kind == .sst })
        return Layout(owner: scratch, target: root + "/target", manifestPath: BackupManifest.path(id: manifest.id, createdAt: manifest.createdAt),
                      id: manifest.id, keyFile: keyFile, firstSST: sst.path)
    }

    static func engine(_ layout: Layout) throws -> BackupEngine {
        BackupEngine(target: try LocalDirectoryTarget(root: layout.target), keyEncryptionKey: try layout.keyFile.map { try LocalKeyFileKEK(path: $0) })
    }

    static func apply(_ mutation: Mutation, to layout: Layout) throws {
        switch mutation {
        case .manifest(let change):
            let url = URL(fileURLWithPath: layout.target + "/" + layout.manifestPath)
            var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            change(&json)
            try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(to: url)
        case .files(let change):
            try change(layout)
        }
    }
}

func flipByte(_ path: String, at offset: UInt64) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    let byte = try #require(try handle.read(upToCount: 1)?.first)
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: [byte ^ 0x5A])
}

func setByte(_ path: String, at offset: UInt64, to value: UInt8) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: [value])
}

/// Every entry below `root` (not following links) with its type and, for files, the SHA-256 of its content.
func treeDigest(_ root: String) throws -> [String: String] {
    var digest: [String: String] = [:]
    let enumerator = try #require(FileManager.default.enumerator(atPath: root))
    while let relative = enumerator.nextObject() as? String {
        let path = root + "/" + relative
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let type = attributes[.type] as? FileAttributeType
        if type == .typeRegular {
            digest[relative] = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).description
        } else {
            digest[relative] = type?.rawValue ?? "?"
        }
    }
    return digest
}
