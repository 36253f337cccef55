import ArgumentParser
import AzureCore
import Foundation
import KumoBackup
import Logging

@main
struct Kumo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kumo",
        abstract: "A key-value store on RocksDB, with backups, encryption and change streams on Azure.",
        discussion: """
            Set KUMO_LOG_LEVEL (trace, debug, info, notice, warning, error) to log to standard error; secrets are \
            never logged. Retries are logged at the default level (warning). Progress goes to standard error: \
            redrawn on a terminal, a line every KUMO_PROGRESS_INTERVAL seconds (default 10) otherwise, none with \
            --json.

            Exit codes:
            \(ExitStatus.table)
            """,
        version: KumoVersion.string,
        subcommands: [
            KVCommand.self, BackupCommand.self, BlobCommand.self, KeyVaultCommand.self, EventHubsCommand.self, ChangeFeedCommand.self, EmulatorCommand.self,
            DemoCommand.self,
        ]
    )

    static func main() async {
        KumoLogging.bootstrap(environment: ProcessInfo.processInfo.environment)
        // The command runs in a task of its own, which the first SIGINT or SIGTERM cancels so that it stops its
        // transfers and cleans up before the process exits. Leftovers of earlier runs that did not finish (a
        // backup's checkpoint, a restore's staging directory) are removed as the next operation starts, and
        // people hear of it on standard error.
        BackupEngine.leftoverRemoved = { printError("kumo: \($0)") }
        let work = Task {
            var command = try parseAsRoot(nil)
            // The emulator stops its servers gracefully on the same signals by itself.
            Interruption.respond(command is EmulatorCommand ? .observe : .cancel)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        }
        Interruption.install { work.cancel() }
        switch await work.result {
        case .success:
            return
        case .failure(let error):
            if let signal = Interruption.received, !((error as? ExitCode)?.isSuccess ?? false) {
                Interruption.exit(after: error, signal: signal)
            }
            ErrorReport.exit(error)
        }
    }
}

/// Logging for the CLI: standard error at the level KUMO_LOG_LEVEL names (warning when unset), so every
/// component's logger (Azure clients, the emulator) follows one switch.
enum KumoLogging {
    static func level(_ environment: [String: String]) -> Logger.Level {
        environment["KUMO_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .warning
    }

    static func bootstrap(environment: [String: String]) {
        let level = level(environment)
        LoggingSystem.bootstrap { label in
            var handler = RedactingLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
    }
}
