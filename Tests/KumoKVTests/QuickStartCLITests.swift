import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What an operator meets first: `kumo --version`, the emulator's start-up record and paste-able exports, and
/// the demo's JSON. Each runs the real `kumo` binary against a real emulator process.
@Suite("kumo quick start")
struct QuickStartCLITests {
    @Test func versionNamesTheReleaseTheCommitAndTheLoadedRocksDB() throws {
        let result = try run(kumoExecutable, ["--version"])
        #expect(result.status == 0, "\(result.stderr)")
        // Clean exits may be reported on either stream; the text is what matters.
        let text = result.stdout + result.stderr
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("kumo ") == true, "\(text)")
        #expect(lines.contains { $0.hasPrefix("RocksDB 7.") }, "\(text)")

        let commitLine = try #require(lines.first { $0.hasPrefix("commit ") }, "\(text)")
        let commit = String(commitLine.dropFirst("commit ".count))
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let git = ["/usr/bin/git", "/usr/local/bin/git", "/opt/homebrew/bin/git"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let git, FileManager.default.fileExists(atPath: repository + "/.git") else {
            #expect(commit == "unknown")
            return
        }
        let hash = commit.hasSuffix("-dirty") ? String(commit.dropLast("-dirty".count)) : commit
        #expect(hash.count >= 7 && hash.allSatisfy(\.isHexDigit), "\(commit)")
        // A commit of this repository, not merely something hex-shaped (HEAD may have moved since the build).
        let known = try run(git, ["-C", repository, "cat-file", "-e", hash + "^{commit}"])
        #expect(known.status == 0, "\(commit) is not a commit here: \(known.stderr)")
    }

    @Test func emulatorJSONStartRecordHasWorkingCredentials() throws {
        let scratch = TemporaryDirectory("kumo-quickstart")
        let emulator = try RunningProcess(kumoExecutable, ["emulator", "--port", "0", "--json", "--data", scratch.child("emulator")])
        defer { emulator.stop() }
        let line = try #require(emulator.readLine(), "no start record; stderr: \(emulator.standardError())")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let port = try #require(record["port"] as? Int)
        let environment = try #require(record["environment"] as? [String: String])
        let connectionString = try #require(record["connectionString"] as? String)
        #expect(connectionString.contains("AccountName=devstoreaccount1;"))
        #expect(connectionString.contains("BlobEndpoint=http://127.0.0.1:\(port)/devstoreaccount1;"))
        #expect(environment["AZURE_STORAGE_CONNECTION_STRING"] == connectionString)
        #expect(environment["AZURE_CLIENT_ID"] == "kumo-dev")
        #expect(environment["AZURE_CLIENT_SECRET"] == "kumo-dev-secret")
        #expect(environment["AZURE_TENANT_ID"] == record["tenantID"] as? String)
        #expect(environment["AZURE_AUTHORITY_HOST"] == record["authorityHost"] as? String)
        #expect(environment["AZURE_KEYVAULT_URL"] == record["keyVaultURL"] as? String)
        #expect(environment["KUMO_CA_FILE"] == record["caCertificatePath"] as? String)
        #expect(Set(environment.keys) == [
            "AZURE_STORAGE_CONNECTION_STRING", "AZURE_EVENTHUBS_CONNECTION_STRING", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST", "AZURE_KEYVAULT_URL", "KUMO_CA_FILE",
        ])
        #expect(environment["AZURE_EVENTHUBS_CONNECTION_STRING"] == record["eventHubsConnectionString"] as? String)

        // The record's environment is enough for Blob Storage (Shared Key) and for Key Vault (Entra ID over TLS).
        let commands = """
            kumo blob container create quickstart-json && kumo blob container list --json \
            && printf 'value-1' | kumo keyvault secret set quickstart && kumo keyvault secret get quickstart
            """
        let result = try shell(commands, environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"quickstart-json\""), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("value-1\n"), "\(result.stdout)")
    }

    @Test func emulatorExportLinesWorkWhenPasted() throws {
        let scratch = TemporaryDirectory("kumo-quickstart")
        let emulator = try RunningProcess(kumoExecutable, ["emulator", "--port", "0", "--data", scratch.child("emulator")])
        defer { emulator.stop() }
        var exports: [String] = []
        while let line = emulator.readLine(), !line.hasPrefix("Listening.") {
            if line.hasPrefix("export ") { exports.append(line) }
        }
        #expect(exports.map { String($0.dropFirst(7).prefix { $0 != "=" }) } == [
            "AZURE_STORAGE_CONNECTION_STRING", "AZURE_EVENTHUBS_CONNECTION_STRING", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST", "AZURE_KEYVAULT_URL", "KUMO_CA_FILE",
        ])
        // Pasted into a shell that has none of these set, the lines alone point kumo at this emulator.
        let result = try shell(
            exports.joined(separator: "\n") + """

                kumo blob container create quickstart-paste && kumo blob container list
                kumo eventhubs send --hub kumo --partition 0 pasted-event && kumo eventhubs properties --hub kumo --partition 0
                printf 'value-2' | kumo keyvault secret set pasted && kumo keyvault secret get pasted
                """,
            environment: [:])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("quickstart-paste"), "\(result.stdout)")
        #expect(result.stdout.contains("sent 1 event to partition 0 of kumo"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("value-2\n"), "\(result.stdout)")
    }

    @Test func demoJSONReportsEveryStep() throws {
        let result = try run(kumoExecutable, ["demo", "--keys", "500", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(summary["mode"] as? String == "emulator")

        let rotation = try #require(summary["keyRotation"] as? [String: Any])
        let previous = try #require(rotation["previousKeyID"] as? String)
        let next = try #require(rotation["newKeyID"] as? String)
        #expect(previous.contains("/keys/demo-backup-kek/") && next.contains("/keys/demo-backup-kek/"))
        #expect(previous != next, "rotation made a new key version")
        #expect((rotation["rewrappedDataKeys"] as? Int ?? 0) > 0)

        let incremental = try #require(summary["incrementalBackup"] as? [String: Any])
        let verify = try #require(summary["deepVerify"] as? [String: Any])
        #expect(verify["deep"] as? Bool == true)
        #expect(verify["sound"] as? Bool == true)
        #expect((verify["problems"] as? [String]) == [])
        #expect(verify["backupID"] as? String == incremental["id"] as? String)
        #expect(verify["filesChecked"] as? Int == incremental["files"] as? Int)

        let restores = try #require(summary["restores"] as? [[String: Any]])
        #expect(restores.map { $0["label"] as? String } == ["full", "incremental"])
        #expect(restores.allSatisfy { $0["equalsStoreAtBackup"] as? Bool == true })

        let steps = try #require(summary["steps"] as? [String])
        #expect((0...9).allSatisfy { number in steps.contains { $0.hasPrefix("\(number). ") } }, "\(steps)")
    }
}

/// Runs `script` with /bin/sh, `kumo` on PATH, and only `environment` besides PATH and HOME.
private func shell(_ script: String, environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    var variables = environment
    variables["PATH"] = URL(fileURLWithPath: kumoExecutable).deletingLastPathComponent().path + ":/usr/bin:/bin"
    variables["HOME"] = ProcessInfo.processInfo.environment["HOME"] ?? "/tmp"
    process.environment = variables
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// A process that keeps running while the test talks to it: its standard output is read a line at a time,
/// and `stop()` sends SIGTERM and waits, so the emulator closes its store before the directory is removed.
private final class RunningProcess {
    private let process = Process()
    private let output = Pipe()
    private let errors: FileHandle
    private let errorsPath: String
    private var buffer = Data()

    init(_ executable: String, _ arguments: [String]) throws {
        errorsPath = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-stderr-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: errorsPath, contents: nil)
        errors = try FileHandle(forWritingTo: URL(fileURLWithPath: errorsPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        // A file, not a pipe: nobody reads standard error while the process runs, and a full pipe would block it.
        process.standardError = errors
        try process.run()
    }

    /// The next line of standard output, or nil once the process has closed it (exited).
    func readLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }

    func standardError() -> String {
        (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? ""
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: errorsPath)
    }
}
