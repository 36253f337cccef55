import AzureCore
import AzureEmulator
import EmulatorTestSupport
import Foundation
import KumoBackup
import KumoKV
import Testing

/// Foundation's Process.run walks the open file descriptors while it launches; launches from these tests take
/// turns so that two of them never walk each other's half-made pipes.
let processLaunch = NSLock()

/// `kumo` as an operator meets it: one word for each direction, only the options a command uses, sizes with
/// units, ids by prefix, suggestions for typos, an exit code per kind of failure and messages without type
/// names. Every test runs the built binary.
@Suite("kumo: one consistent command line", .serialized)
struct OperatorCLITests {
    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs `kumo` on a thread of its own: waiting for a process blocks, and blocking the few threads of the
    /// concurrency pool would starve an in-process emulator the command is talking to.
    static func kumo(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) async throws -> Run {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try runBlocking(arguments, in: directory, environment: environment) })
            }
        }
    }

    static func runBlocking(_ arguments: [String], in directory: String?, environment: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kumoExecutable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "AZURE_STORAGE_CONNECTION_STRING")
        merged.removeValue(forKey: "KUMO_LOG_LEVEL")
        merged.merge(environment) { $1 }
        process.environment = merged
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try processLaunch.withLock { try process.run() }
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self), error: String(decoding: err, as: UTF8.self))
    }

    /// A store with a few keys at `directory/db`.
    static func makeStore(in directory: String, keys: Int = 3) async throws {
        let store = try await Store.open(at: directory + "/db")
        for index in 0..<keys { try store.put(bytes("key\(index)"), bytes("value\(index)")) }
        try store.close()
    }

    /// Every command of the tree, from the parser's own description of it.
    static func leafCommands() async throws -> [(path: String, options: Set<String>)] {
        let run = try await kumo(["--experimental-dump-help"])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        var leaves: [(String, Set<String>)] = []
        func walk(_ command: [String: Any], _ path: [String]) {
            let name = command["commandName"] as? String ?? ""
            let here = path + [name]
            if let subcommands = command["subcommands"] as? [[String: Any]], !subcommands.isEmpty {
                for sub in subcommands where sub["commandName"] as? String != "help" { walk(sub, here) }
                return
            }
            var options = Set<String>()
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                for name in argument["names"] as? [[String: Any]] ?? [] where name["kind"] as? String == "long" {
                    if let long = name["name"] as? String { options.insert("--" + long) }
                }
            }
            leaves.append((here.dropFirst().joined(separator: " "), options))
        }
        walk(root["command"] as? [String: Any] ?? [:], [])
        return leaves
    }

    @Test func everyCommandPrintsJSONAndBackupCommandsNameTheirDirection() async throws {
        let leaves = try await Self.leafCommands()
        #expect(leaves.count > 25, "\(leaves.map(\.path))")
        for leaf in leaves {
            #expect(leaf.options.contains("--json"), "'kumo \(leaf.path)' has no --json")
            guard leaf.path.hasPrefix("backup ") else { continue }
            switch leaf.path {
            case "backup create", "backup repair":
                #expect(leaf.options.contains("--to") && !leaf.options.contains("--from"), "\(leaf.path): \(leaf.options)")
            case "backup keygen":
                #expect(!leaf.options.contains("--to") && !leaf.options.contains("--from"))
            case "backup restore":
                #expect(leaf.options.isSuperset(of: ["--from", "--to"]))
            default:
                #expect(leaf.options.contains("--from") && !leaf.options.contains("--to"), "\(leaf.path): \(leaf.options)")
            }
            if leaf.path != "backup keygen" {
                #expect(leaf.options.contains("--connection-string"), "\(leaf.path) cannot be given a connection string")
            }
        }
    }

    @Test func eachCommandShowsOnlyTheOptionsItUses() async throws {
        let leaves = Dictionary(uniqueKeysWithValues: try await Self.leafCommands().map { ($0.path, $0.options) })
        for command in ["backup list", "backup prune", "backup show", "backup delete"] {
            let options = try #require(leaves[command])
            #expect(options.isDisjoint(with: ["--encrypt-with", "--concurrency", "--key"]), "\(command): \(options)")
        }
        #expect(try #require(leaves["backup create"]).contains("--encrypt-with"))
        #expect(!(try #require(leaves["backup restore"]).contains("--encrypt-with")))
        for command in ["kv checkpoint", "kv cf"] {
            #expect(try #require(leaves[command]).isDisjoint(with: ["--cf", "--hex"]), "\(command)")
        }
        #expect(try #require(leaves["kv get"]).isSuperset(of: ["--cf", "--hex"]))
        #expect(try #require(leaves["blob upload"]).contains("--block-size"))
        #expect(try #require(leaves["blob download"]).contains("--chunk-size"))
    }

    @Test func sizesTakeUnitsAndBadOnesAreNamed() async throws {
        let scratch = Scratch()
        let file = scratch.path + "/payload.bin"
        try Data(repeating: 7, count: 600 << 10).write(to: URL(fileURLWithPath: file))
        try await withStartedEmulator(scratch.path + "/emulator") { port in
            let account = ["--connection-string", connectionString(port: port)]
            #expect(try await Self.kumo(["blob", "container", "create", "sizes"] + account).status == 0)
            let upload = try await Self.kumo(["blob", "upload", file, "--container", "sizes", "--block-size", "256KiB", "--json"] + account)
            #expect(upload.status == 0, "\(upload.error)")
            let download = try await Self.kumo(["blob", "download", "payload.bin", "--container", "sizes", "--to", scratch.path + "/back.bin", "--chunk-size", "0.25M"] + account)
            #expect(download.status == 0, "\(download.error)")
            #expect(FileManager.default.contentsEqual(atPath: file, andPath: scratch.path + "/back.bin"))
        }
        let unknownUnit = try await Self.kumo(["blob", "upload", file, "--container", "sizes", "--block-size", "8XB", "--connection-string", "UseDevelopmentStorage=true"])
        #expect(unknownUnit.status == 2)
        #expect(unknownUnit.error.contains("--block-size"), "\(unknownUnit.error)")
        let tooSmall = try await Self.kumo(["blob", "upload", file, "--container", "sizes", "--block-size", "1KiB", "--connection-string", "UseDevelopmentStorage=true"])
        #expect(tooSmall.status == 2)
        #expect(tooSmall.error.contains("between 64KiB and 4000MiB, not 1KiB"), "\(tooSmall.error)")
    }

    @Test func relativeTargetsAreDirectoriesAndManifestsRecordAbsolutePaths() async throws {
        let scratch = Scratch()
        try await Self.makeStore(in: scratch.path)
        let create = try await Self.kumo(["backup", "create", "--db", "db", "--to", "backups", "--json"], in: scratch.path)
        #expect(create.status == 0, "\(create.error)")
        #expect(FileManager.default.fileExists(atPath: scratch.path + "/backups/rocksdb"))
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(create.output.utf8)) as? [String: Any])
        let recorded = try #require(summary["sourcePath"] as? String)
        #expect(recorded.hasPrefix("/") && recorded.hasSuffix("/db") && !recorded.contains("/./"), "\(recorded)")
        #expect(URL(fileURLWithPath: recorded).resolvingSymlinksInPath().path == URL(fileURLWithPath: scratch.path + "/db").resolvingSymlinksInPath().path)

        let fileRelative = try await Self.kumo(["backup", "list", "--from", "file://backups"], in: scratch.path)
        #expect(fileRelative.status == 2)
        #expect(fileRelative.error.contains("absolute path") && fileRelative.error.contains("plain path"), "\(fileRelative.error)")

        let missing = try await Self.kumo(["backup", "list", "--from", "no-such-dir"], in: scratch.path)
        #expect(missing.status == 3)
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/no-such-dir"))
    }

    @Test func backupsAreNamedByUniquePrefixes() async throws {
        let scratch = Scratch()
        try await Self.makeStore(in: scratch.path)
        let target = scratch.path + "/backups"
        var ids: [String] = []
        for _ in 0..<2 {
            let run = try await Self.kumo(["backup", "create", "--db", scratch.path + "/db", "--to", target, "--json"])
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
            ids.append(try #require(summary["id"] as? String))
        }
        let hex = String(ids[0].split(separator: "-").last!)
        let byHex = try await Self.kumo(["backup", "show", String(hex.prefix(4)), "--from", target, "--json"])
        #expect(byHex.status == 0, "\(byHex.error)")
        #expect(byHex.output.contains(ids[0]))
        let byTime = try await Self.kumo(["backup", "verify", String(ids[1].prefix(ids[1].count - 2)), "--from", target])
        #expect(byTime.status == 0, "\(byTime.error)")
        #expect(byTime.output.contains(ids[1]))

        let ambiguous = try await Self.kumo(["backup", "show", String(ids[0].prefix(4)), "--from", target])
        #expect(ambiguous.status == 2)
        #expect(ambiguous.error.contains("matches 2 backups") && ambiguous.error.contains(ids[0]) && ambiguous.error.contains(ids[1]), "\(ambiguous.error)")

        let missing = try await Self.kumo(["backup", "restore", "ffffff", "--from", target, "--to", scratch.path + "/restored"])
        #expect(missing.status == 3)
        #expect(missing.error.hasPrefix("Error: backup 'ffffff' not found in file://\(target)"), "\(missing.error)")
        #expect(!missing.error.contains("BackupError"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/restored"))

        let deleteLatest = try await Self.kumo(["backup", "delete", "latest", "--from", target])
        #expect(deleteLatest.status == 2)
        #expect(try await Self.kumo(["backup", "list", "--from", target, "--json"]).output.contains(ids[1]))
    }

    @Test func typosGetSuggestions() async throws {
        let command = try await Self.kumo(["backup", "restor", "latest"])
        #expect(command.status == 2)
        #expect(command.error.contains("Did you mean 'kumo backup restore'?"), "\(command.error)")
        let top = try await Self.kumo(["bakup", "list"])
        #expect(top.status == 2)
        #expect(top.error.contains("Did you mean 'kumo backup'?"), "\(top.error)")
        let option = try await Self.kumo(["backup", "list", "--form", "/tmp/x"])
        #expect(option.status == 2)
        #expect(option.error.contains("Did you mean '--from'?"), "\(option.error)")
    }

    @Test func exitCodesSayWhatKindOfFailure() async throws {
        let scratch = Scratch()
        try await Self.makeStore(in: scratch.path)
        let target = scratch.path + "/backups"
        #expect(try await Self.kumo(["backup", "create", "--db", scratch.path + "/db", "--to", target]).status == 0)

        // Locked: the store is open in this process; the message says who must take the backup.
        let held = try await Store.open(at: scratch.path + "/db")
        let locked = try await Self.kumo(["backup", "create", "--db", scratch.path + "/db", "--to", target])
        try held.close()
        #expect(locked.status == 4)
        #expect(locked.error.contains("open in another process") && locked.error.contains("BackupEngine.create"), "\(locked.error)")

        // Not found: the store.
        let noStore = try await Self.kumo(["backup", "create", "--db", scratch.path + "/nope", "--to", target])
        #expect(noStore.status == 3)
        #expect(noStore.error.contains("no database at \(scratch.path)/nope"), "\(noStore.error)")
        #expect(!noStore.error.contains("createIfMissing"))

        // Usage: an unknown option.
        #expect(try await Self.kumo(["backup", "list", "--from", target, "--bogus"]).status == 2)

        // A check failed: a stored file damaged.
        let shared = target + "/rocksdb/shared"
        let object = try #require(FileManager.default.subpaths(atPath: shared)?.first { $0.hasSuffix(".sst") })
        try Data("damaged".utf8).write(to: URL(fileURLWithPath: shared + "/" + object))
        let verify = try await Self.kumo(["backup", "verify", "latest", "--from", target])
        #expect(verify.status == 1)
        #expect(verify.output.contains("BAD:") && verify.output.contains("1 problem"), "\(verify.output)")

        try await withStartedEmulator(scratch.path + "/emulator") { port in
            // Access denied: a wrong account key.
            let wrongKey = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=\(Data(repeating: 3, count: 64).base64EncodedString());BlobEndpoint=http://127.0.0.1:\(port)/devstoreaccount1;"
            let denied = try await Self.kumo(["backup", "list", "--from", "azure://backups/x", "--connection-string", wrongKey])
            #expect(denied.status == 5, "\(denied.error)")
            #expect(denied.error.contains("AuthenticationFailed"))
            #expect(!denied.error.contains(Data(repeating: 3, count: 64).base64EncodedString()))

            // Not found: the container, named, with the command that makes it.
            let noContainer = try await Self.kumo(["backup", "create", "--db", scratch.path + "/db", "--to", "azure://not-made-yet/x", "--connection-string", connectionString(port: port)])
            #expect(noContainer.status == 3)
            #expect(noContainer.error.contains("'not-made-yet'") && noContainer.error.contains("kumo blob container create not-made-yet"), "\(noContainer.error)")
            let file = scratch.path + "/small.txt"
            try Data("small".utf8).write(to: URL(fileURLWithPath: file))
            let blobUpload = try await Self.kumo(["blob", "upload", file, "--container", "not-made-yet", "--connection-string", connectionString(port: port)])
            #expect(blobUpload.status == 3)
            #expect(blobUpload.error.contains("kumo blob container create not-made-yet"), "\(blobUpload.error)")
        }

        // Usage: an invalid container name is called that, before any request.
        let badName = try await Self.kumo(["backup", "list", "--from", "azure://Bad_Name/x", "--connection-string", "UseDevelopmentStorage=true"])
        #expect(badName.status == 2)
        #expect(badName.error.contains("not a valid container name"), "\(badName.error)")

        // Unavailable: nothing listens on the endpoint; the message names it.
        let closedPort = try Self.closedPort()
        let unreachable = try await Self.kumo(["backup", "list", "--from", "azure://backups/x", "--connection-string", connectionString(port: closedPort)])
        #expect(unreachable.status == 6, "\(unreachable.error)")
        #expect(unreachable.error.contains("127.0.0.1:\(closedPort)"), "\(unreachable.error)")
    }

    @Test func countsReadAsEnglish() async throws {
        let scratch = Scratch()
        try await Self.makeStore(in: scratch.path, keys: 1)
        let target = scratch.path + "/backups"
        #expect(try await Self.kumo(["backup", "create", "--db", scratch.path + "/db", "--to", target]).status == 0)
        let list = try await Self.kumo(["backup", "list", "--from", target])
        #expect(list.output.hasSuffix("1 backup\n"), "\(list.output)")
        let prune = try await Self.kumo(["backup", "prune", "--from", target, "--keep-last", "1"])
        #expect(prune.output.hasPrefix("kept 1 backup; deleted 0 backups and 0 files"), "\(prune.output)")
        let restore = try await Self.kumo(["backup", "restore", "latest", "--from", target, "--to", scratch.path + "/restored"])
        #expect(restore.output.contains("1 key\n"), "\(restore.output)")
    }

    @Test func progressIsALinePerPhaseWithoutATerminalAndNothingWithJSON() async throws {
        let scratch = Scratch()
        try await Self.makeStore(in: scratch.path, keys: 50)
        let plain = try await Self.kumo(["backup", "create", "--db", scratch.path + "/db", "--to", scratch.path + "/a"])
        #expect(plain.status == 0)
        let lines = plain.error.split(separator: "\n")
        for phase in ["checkpoint", "hashing", "uploading", "manifest"] {
            #expect(lines.filter { $0.hasPrefix(phase + " ") }.count == 1, "\(phase): \(plain.error)")
        }
        let uploading = try #require(lines.first { $0.hasPrefix("uploading") })
        #expect(uploading.contains("KiB in ") && uploading.contains("/s"), "\(uploading)")
        #expect(!plain.error.contains("\r") && !plain.error.contains("\u{1B}"))
        let json = try await Self.kumo(["backup", "create", "--db", scratch.path + "/db", "--to", scratch.path + "/b", "--json"])
        #expect(json.status == 0)
        #expect(json.error.isEmpty, "\(json.error)")
    }

    @Test func keygenAndRekeyPrintJSON() async throws {
        let scratch = Scratch()
        let run = try await Self.kumo(["backup", "keygen", "key", "--json"], in: scratch.path)
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: String])
        #expect(object["path"]?.hasPrefix("/") == true && object["path"]?.hasSuffix("/key") == true)
        #expect(object["keyID"]?.isEmpty == false)
        let again = try await Self.kumo(["backup", "keygen", "key"], in: scratch.path)
        #expect(again.status == 2)
        #expect(again.error.contains("already exists"))
    }

    /// A local port nothing listens on (bound, then closed).
    static func closedPort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
