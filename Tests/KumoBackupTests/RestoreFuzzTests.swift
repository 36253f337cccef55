import Foundation
import KumoBackup
import KumoKV
import Testing

/// Random damage to a valid backup — its manifest's bytes or JSON values, its stored files' bytes — and a
/// restore after each: it either succeeds with exactly the original content, or fails with a ``BackupError``;
/// it never writes outside its destination and never crashes. `KUMO_FUZZ_ITERATIONS` runs longer.
@Suite("Restore under random damage")
struct RestoreFuzzTests {
    static let iterations = ProcessInfo.processInfo.environment["KUMO_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 120

    /// Values that have broken parsers before, for JSON fields.
    static var hostileValues: [Any] { [
        "../../escaped", "/etc/passwd", "", ".", "..", "a\u{0}b", "\u{1b}[2J", String(repeating: "A", count: 5000),
        -1, 0, Int64.max, Int64.min, 1e300, -1e300, true, NSNull(), [String](), ["k": "v"], "rocksdb/shared/../x",
        "KUMOENC1", "20990101T000000000Z-ffffff", "zzzz",
    ] }

    @Test(arguments: [(false, UInt64(1)), (true, UInt64(2))])
    func restoreSucceedsExactlyOrFailsCleanly(encrypted: Bool, seed: UInt64) async throws {
        let pristine = try await HostileTargetTests.makeBackup(encrypted: encrypted)
        let store = try await openRestored(pristine.scratch + "/db")
        let expected = try snapshotContents(store)
        try store.close()
        let files = try FileManager.default.subpathsOfDirectory(atPath: pristine.target).filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: pristine.target + "/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
                && !path.hasSuffix(".lock")
        }.sorted()
        var random = SplitMix(seed: seed)
        var outcomes = (restored: 0, refused: 0)
        for round in 0..<Self.iterations {
            let area = pristine.scratch + "/round-\(round)"
            let target = area + "/target"
            try FileManager.default.createDirectory(atPath: area + "/outside", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: pristine.target, toPath: target)
            FileManager.default.createFile(atPath: area + "/outside/keep.txt", contents: Data("sentinel".utf8))
            try Self.damage(target: target, manifest: pristine.manifestPath, files: files, random: &random)

            let before = try treeDigest(area + "/outside")
            let destination = area + "/outside/to"
            let engine = BackupEngine(target: try LocalDirectoryTarget(root: target), keyEncryptionKey: try pristine.keyFile.map { try LocalKeyFileKEK(path: $0) })
            do {
                _ = try await engine.restore("latest", to: destination)
                let restored = try await openRestored(destination)
                #expect(try snapshotContents(restored) == expected, "round \(round): a restore that succeeds has exactly the backed-up content")
                try restored.close()
                outcomes.restored += 1
                try FileManager.default.removeItem(atPath: destination)
            } catch let error as BackupError {
                #expect(!error.message.isEmpty)
                #expect(!FileManager.default.fileExists(atPath: destination), "round \(round): \(error)")
                outcomes.refused += 1
            }
            #expect(try treeDigest(area + "/outside") == before, "round \(round): nothing outside the destination changed")
            try FileManager.default.removeItem(atPath: area)
        }
        #expect(outcomes.refused > 0 && outcomes.restored + outcomes.refused == Self.iterations)
    }

    /// One random piece of damage.
    static func damage(target: String, manifest: String, files: [String], random: inout SplitMix) throws {
        let choice = random.next() % 4
        if choice == 0 {
            // A JSON value of the manifest replaced by a hostile one (the seal is not redone).
            let url = URL(fileURLWithPath: target + "/" + manifest)
            var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            let value = hostileValues[Int(random.next() % UInt64(hostileValues.count))]
            var entries = json["files"] as! [[String: Any]]
            let fields = ["name", "path", "size", "sha256", "kind", "encryption", "uploaded"]
            if random.next() % 3 == 0 {
                let keys = json.keys.sorted()
                json[keys[Int(random.next() % UInt64(keys.count))]] = value
            } else {
                let index = Int(random.next() % UInt64(entries.count))
                entries[index][fields[Int(random.next() % UInt64(fields.count))]] = value
                json["files"] = entries
            }
            try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]).write(to: url)
            return
        }
        // Bytes of the manifest (choice 1) or of a stored file (choices 2 and 3) flipped, cut or extended.
        let path = target + "/" + (choice == 1 ? manifest : files[Int(random.next() % UInt64(files.count))])
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        switch random.next() % 3 {
        case 0 where !bytes.isEmpty:
            for _ in 0...(random.next() % 4) {
                // Headers and small files are where parsers live: favour the first bytes.
                let span = random.next() % 2 == 0 ? min(bytes.count, 64) : bytes.count
                bytes[Int(random.next() % UInt64(span))] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            }
        case 1 where !bytes.isEmpty:
            bytes.removeLast(Int(random.next() % UInt64(bytes.count)) + 1)
        default:
            bytes += (0..<(random.next() % 64 + 1)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
