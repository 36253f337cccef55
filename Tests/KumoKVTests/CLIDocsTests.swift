import Foundation
import Testing

/// docs/cli.md is generated from the binary's help by scripts/cli-docs; this fails when the two have drifted.
@Suite("docs/cli.md matches kumo's help")
struct CLIDocsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func cliReferenceIsCurrent() throws {
        let script = Self.repository.appendingPathComponent("scripts/cli-docs").path
        let generated = try run("/usr/bin/env", ["python3", script, "--kumo", kumoExecutable, "--output", "-"])
        try #require(generated.status == 0, "scripts/cli-docs failed: \(generated.stderr)")
        let committed = try String(
            contentsOf: Self.repository.appendingPathComponent("docs/cli.md"), encoding: .utf8)
        let committedLines = committed.split(separator: "\n", omittingEmptySubsequences: false)
        let generatedLines = generated.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let firstDifference = (0..<max(committedLines.count, generatedLines.count)).first { line in
            line >= committedLines.count || line >= generatedLines.count || committedLines[line] != generatedLines[line]
        }
        if let line = firstDifference {
            let has = line < committedLines.count ? "'\(committedLines[line])'" : "nothing (the file ends)"
            let prints = line < generatedLines.count ? "'\(generatedLines[line])'" : "nothing (the help ends)"
            Issue.record(
                """
                docs/cli.md differs from kumo's help: run scripts/cli-docs and commit docs/cli.md. \
                First difference at line \(line + 1): docs/cli.md has \(has), the generator prints \(prints).
                """)
        }
    }
}
