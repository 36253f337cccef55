import Foundation
import KumoBackup
import KumoKV
import Testing

/// `kumo backup` as an operator runs it: the built binary, a temporary directory.
@Suite("kumo backup: hostile targets and damage at the command line")
struct BackupCLITests {
    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    static func kumo(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kumoExecutable)
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self), error: String(decoding: err, as: UTF8.self))
    }

    @Test func traversalInAManifestIsRefusedAndNothingEscapes() async throws {
        let layout = try await HostileTargetTests.makeBackup(encrypted: false)
        try HostileTargetTests.apply(.manifest { HostileTargetTests.files(&$0) { $0["name"] = "../../escaped.txt" } }, to: layout)
        let before = try treeDigest(layout.outside)
        let run = try Self.kumo(["backup", "restore", "latest", "--from", layout.target, "--to", layout.destination])
        #expect(run.status != 0)
        #expect(run.error.contains("is not a plain file name"), "\(run.error)")
        #expect(try treeDigest(layout.outside) == before)
    }

    @Test func readOnlyCommandsDoNotCreateTheTargetDirectory() throws {
        let scratch = Scratch()
        let typo = scratch.path + "/no-such-backups"
        for command in [["backup", "list", "--from", typo], ["backup", "show", "latest", "--from", typo],
                        ["backup", "verify", "latest", "--from", typo]] {
            let run = try Self.kumo(command)
            #expect(run.status != 0, "\(command)")
            #expect(run.error.contains("no backup directory at \(typo)"), "\(run.error)")
            #expect(!FileManager.default.fileExists(atPath: typo), "\(command)")
        }
    }

    @Test func repairStoresAgainAndExitsOneForWhatItCannot() async throws {
        let scratch = Scratch()
        let store = try await Store.open(at: scratch.path + "/db")
        try addItems(store, from: 0, count: 1000)
        try await store.flush()
        try store.close()
        let target = scratch.path + "/target"
        #expect(try Self.kumo(["backup", "create", "--db", scratch.path + "/db", "--to", target]).status == 0)
        let manifest = try await BackupEngine(target: try LocalDirectoryTarget(root: target)).manifest("latest")
        let sst = try #require(manifest.files.first { $0.kind == .sst })
        try flipByte(target + "/" + sst.path, at: 10)

        let verify = try Self.kumo(["backup", "verify", "latest", "--from", target, "--deep"])
        #expect(verify.status == 1 && verify.output.contains("SHA-256"))
        let repair = try Self.kumo(["backup", "repair", "--db", scratch.path + "/db", "--to", target, "--json"])
        #expect(repair.status == 0, "\(repair.error)")
        let report = try JSONDecoder().decode(RepairReport.self, from: Data(repair.output.utf8))
        #expect(report.repaired == [sst.path] && report.unrestorable.isEmpty)
        #expect(try Self.kumo(["backup", "verify", "latest", "--from", target, "--deep"]).status == 0)

        // The original of a backup's MANIFEST file is long gone from the live store: that backup is named.
        let small = try #require(manifest.files.first { $0.kind == .manifest })
        try FileManager.default.removeItem(atPath: target + "/" + small.path)
        let lost = try Self.kumo(["backup", "repair", "--db", scratch.path + "/db", "--to", target])
        #expect(lost.status == 1)
        #expect(lost.output.contains("UNRESTORABLE: \(manifest.id) needs \(small.path)"), "\(lost.output)")
    }
}
