import ArgumentParser
import AzureCore
import Foundation
import Logging

@main
struct Kumo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kumo",
        abstract: "A key-value store on RocksDB, with backups, encryption and change streams on Azure.",
        discussion: "Set KUMO_LOG_LEVEL (trace, debug, info, notice, warning, error) to log to standard error; secrets are never logged.",
        version: KumoVersion.string,
        subcommands: [KVCommand.self, BackupCommand.self, BlobCommand.self, KeyVaultCommand.self, EmulatorCommand.self, DemoCommand.self]
    )

    static func main() async {
        KumoLogging.bootstrap(environment: ProcessInfo.processInfo.environment)
        do {
            var command = try parseAsRoot(nil)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
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
