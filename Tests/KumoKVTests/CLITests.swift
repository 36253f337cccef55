import Foundation
import Testing

@Suite("kumo kv command line")
struct CLITests {
    func kumo(_ arguments: String...) throws -> (status: Int32, stdout: String, stderr: String) {
        try run(kumoExecutable, arguments)
    }

    @Test func putGetScanDeleteWithTextAndHex() throws {
        let dir = TemporaryDirectory()
        let db = dir.child("db")
        #expect(try kumo("kv", "put", "--db", db, "user:1", "alice").status == 0)
        #expect(try kumo("kv", "put", "--db", db, "user:2", "bob").status == 0)
        #expect(try kumo("kv", "put", "--db", db, "--hex", "00ff", "0102").status == 0)
        #expect(try kumo("kv", "get", "--db", db, "user:1").stdout == "alice\n")
        #expect(try kumo("kv", "get", "--db", db, "--hex", "00ff").stdout == "0102\n")
        #expect(try kumo("kv", "scan", "--db", db, "--prefix", "user:").stdout == "user:1\talice\nuser:2\tbob\n")
        #expect(try kumo("kv", "scan", "--db", db, "--keys-only").stdout == "0x00ff\nuser:1\nuser:2\n")

        let json = try kumo("kv", "get", "--db", db, "--json", "user:2")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["value"] as? [String: String])?["utf8"] == "bob")
        #expect(object?["found"] as? Bool == true)

        #expect(try kumo("kv", "delete", "--db", db, "user:1").status == 0)
        let missing = try kumo("kv", "get", "--db", db, "user:1")
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("not found"))
    }

    @Test func changesAsJSONLines() throws {
        let dir = TemporaryDirectory()
        let db = dir.child("db")
        _ = try kumo("kv", "put", "--db", db, "a", "1")
        _ = try kumo("kv", "put", "--db", db, "b", "2")
        _ = try kumo("kv", "delete", "--db", db, "a", "--to", "b")
        let result = try kumo("kv", "changes", "--db", db, "--json", "--since", "2")
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { line in
            try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        }
        #expect(lines.count == 2)
        #expect(lines.map { $0?["sequenceNumber"] as? Int } == [2, 3])
        #expect(lines.map { $0?["operation"] as? String } == ["put", "deleteRange"])
    }

    @Test func badInputIsNamed() throws {
        let dir = TemporaryDirectory()
        let db = dir.child("db")
        let badHex = try kumo("kv", "put", "--db", db, "--hex", "zz", "00")
        #expect(badHex.status != 0)
        #expect(badHex.stderr.contains("'zz' is not hexadecimal"))
        let missingDB = try kumo("kv", "get", "--db", dir.child("absent"), "k")
        #expect(missingDB.status != 0)
        #expect(missingDB.stderr.contains(dir.child("absent")))
        let unknownFamily = try kumo("kv", "put", "--db", db, "--cf", "nope", "k", "v")
        #expect(unknownFamily.status != 0)
        #expect(unknownFamily.stderr.contains("no column family named 'nope'"))
    }

    @Test func checkpointFilesAndStats() throws {
        let dir = TemporaryDirectory()
        let db = dir.child("db")
        _ = try kumo("kv", "cf", "--db", db, "create", "users")
        _ = try kumo("kv", "put", "--db", db, "--cf", "users", "u", "1")
        let checkpoint = try kumo("kv", "checkpoint", "--db", db, dir.child("cp"))
        #expect(checkpoint.status == 0, "\(checkpoint.stderr)")
        #expect(try kumo("kv", "get", "--db", dir.child("cp"), "--cf", "users", "u").stdout == "1\n")
        let files = try kumo("kv", "files", "--db", dir.child("cp"), "--json")
        let list = try JSONSerialization.jsonObject(with: Data(files.stdout.utf8)) as? [[String: Any]]
        #expect(list?.count == 1)
        #expect(list?.first?["columnFamily"] as? String == "users")
        let stats = try kumo("kv", "stats", "--db", db, "--json")
        let object = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        #expect(object?["latestSequenceNumber"] as? Int == 1)
    }

    @Test func demoRunsEndToEnd() throws {
        let result = try kumo("demo", "--keys", "2000", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(summary?["keysLoaded"] as? Int == 4000)
        #expect(summary?["changes"] as? Int == 4000 + 20 + 4 + 1)
        let full = summary?["fullBackup"] as? [String: Any]
        let incremental = summary?["incrementalBackup"] as? [String: Any]
        #expect(full?["filesReused"] as? Int == 0)
        #expect((incremental?["filesReused"] as? Int ?? 0) > 0, "the incremental backup reuses stored SSTs")
        #expect((incremental?["bytesUploaded"] as? Int ?? .max) < (full?["bytesUploaded"] as? Int ?? 0))
        // 2000 users + 2000 orders, less the range order:00000000..00000049 (50 keys) and the deleted orders
        // 505, 1005 and 1505 (order 5 is inside the range).
        #expect(summary?["restoredKeys"] as? Int == 4000 - 50 - 3)
    }
}
