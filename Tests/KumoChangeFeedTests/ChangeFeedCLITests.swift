import Foundation
import KumoChangeFeed
import KumoKV
import Testing

/// `kumo changefeed run|status|tail` as an operator runs them, against the in-process emulator.
@Suite("kumo changefeed", .serialized, .timeLimit(.minutes(3)))
struct ChangeFeedCLITests {
    /// Runs `kumo` and waits for it on a thread of its own: the in-process emulator it talks to needs the few
    /// threads of Swift's cooperative pool.
    func kumo(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.runKumo(arguments, environment: environment) })
            }
        }
    }

    static func runKumo(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: PythonPeer.kumoExecutable)
        process.arguments = arguments
        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { $1 }
        process.environment = variables
        let output = Pipe()
        // Standard error goes to a file, so neither stream can fill a pipe and stall the process.
        let errorsPath = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-cli-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: errorsPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errorsPath) }
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorsPath))
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let err = FileManager.default.contents(atPath: errorsPath) ?? Data()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func lastJSONObject(_ text: String) throws -> [String: Any] {
        let line = try #require(text.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func runCatchesUpThenStatusAndTailShowWhatWasPublished() async throws {
        try await withFeedEnvironment(partitions: 2) { environment in
            let directory = try ScratchDirectory("kumo-feed-cli")
            defer { directory.cleanUp() }
            let db = directory.child("db")
            do {
                let store = try await Store.open(at: db)
                for index in 0..<30 { try store.put(bytes("user:\(index)"), bytes("v\(index)")) }
                try store.put([0xFF, 0xFE], [0x00])
                try store.close()
            }
            let variables = ["AZURE_EVENTHUBS_CONNECTION_STRING": environment.connectionString]

            let run = try await kumo(["changefeed", "run", "--db", db, "--hub", "changes", "--until-caught-up", "--json"], environment: variables)
            #expect(run.status == 0, "\(run.stderr)")
            let final = try lastJSONObject(run.stdout)
            #expect(final["checkpoint"] as? Int == 31)
            #expect(final["eventsPublished"] as? Int == 31)
            #expect(final["stopped"] as? Bool == true)
            #expect(FileManager.default.fileExists(atPath: db + ".changefeed.json"))
            #expect(try Store.walHold(at: db) != nil)

            let status = try await kumo(["changefeed", "status", "--db", db, "--json"], environment: [:])
            #expect(status.status == 0, "\(status.stderr)")
            let report = try lastJSONObject(status.stdout)
            #expect(report["checkpoint"] as? Int == 31)
            #expect(report["latestSequence"] as? Int == 31)
            #expect(report["lagSequences"] as? Int == 0)
            #expect(report["walHeld"] as? Bool == true)
            #expect((report["eventHub"] as? String)?.hasSuffix("/changes") == true)
            let statusText = try await kumo(["changefeed", "status", "--db", db], environment: [:])
            #expect(statusText.stdout.contains("checkpoint   31 at file://\(db).changefeed.json"))
            #expect(statusText.stdout.contains("lag          0 changes"))

            let text = try await kumo(["changefeed", "tail", "--hub", "changes", "--from", "earliest", "--count", "31"], environment: variables)
            #expect(text.stdout.split(separator: "\n").count == 31)
            #expect(text.stdout.contains(" kumo.kv.put default user:7 = v7\n"), "\(text.stdout)")
            #expect(text.stdout.contains(" kumo.kv.put default %FF%FE = %00\n"))
            let tail = try await kumo(["changefeed", "tail", "--hub", "changes", "--from", "earliest", "--count", "31", "--json"], environment: variables)
            #expect(tail.status == 0, "\(tail.stderr)")
            let lines = try tail.stdout.split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            #expect(lines.count == 31)
            #expect(Set(lines.compactMap { $0["sequenceNumber"] as? String }) == Set((1...31).map(String.init)))
            #expect(lines.contains { $0["keyText"] as? String == "user:7" && $0["valueText"] as? String == "v7" && $0["type"] as? String == "kumo.kv.put" })
            #expect(lines.contains { $0["key"] as? String == "//4=" && $0["subject"] as? String == "%FF%FE" })
        }
    }

    @Test func aSecondFeedOnTheSameCheckpointIsRefusedNamingTheFirst() async throws {
        try await withFeedEnvironment(partitions: 1) { environment in
            let directory = try ScratchDirectory("kumo-feed-cli")
            defer { directory.cleanUp() }
            let db = directory.child("db")
            try await Store.open(at: db).close()
            let first = try FeedProcess(
                arguments: ["changefeed", "run", "--db", db, "--hub", "changes", "--connection-string", environment.connectionString, "--json"],
                log: directory.child("first.log"))
            // The first feed has claimed the checkpoint once it has written it.
            while (try? await FileCheckpointStore(path: db + ".changefeed.json").read()) == nil {
                #expect(first.isRunning, "\(FeedProcess.tail(directory.child("first.log")))")
                guard first.isRunning else { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            let second = try await kumo(
                ["changefeed", "run", "--db", db, "--hub", "changes", "--follower-directory", directory.child("follower")],
                environment: ["AZURE_EVENTHUBS_CONNECTION_STRING": environment.connectionString])
            #expect(second.status == 4)
            #expect(second.stderr.contains("is held by"), "\(second.stderr)")
            #expect(second.stderr.contains(db), "\(second.stderr)")
            #expect(!second.stderr.contains("SAS_KEY_VALUE"))
            #expect(first.kill(SIGTERM) == 0, "\(FeedProcess.tail(directory.child("first.log")))")
        }
    }

    @Test func usageMistakesAreNamed() async throws {
        let missing = try await kumo(["changefeed", "run", "--db", "/nonexistent/db"], environment: ["AZURE_EVENTHUBS_CONNECTION_STRING": ""])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("AZURE_EVENTHUBS_CONNECTION_STRING"))
        let badKey = try await kumo(["changefeed", "run", "--db", "x", "--partition-key", "hash"], environment: [:])
        #expect(badKey.status == 2)
        #expect(badKey.stderr.contains("partition key \"hash\""))
        let both = try await kumo(["changefeed", "run", "--db", "x", "--include-cf", "a", "--exclude-cf", "b"], environment: [:])
        #expect(both.status == 2)
        #expect(both.stderr.contains("--include-cf or --exclude-cf"))
        let relative = try await kumo(["changefeed", "status", "--db", "x", "--checkpoint", "file://relative/cp.json"], environment: [:])
        #expect(relative.status == 2)
        #expect(relative.stderr.contains("file:// needs an absolute path"))
    }
}
