import ArgumentParser
import AzureCore
import Foundation
import KumoBackup
import KumoChangeFeed
import KumoKV

/// The exit codes `kumo` uses, one meaning each, so that scripts and timers can tell a failed check from a
/// typo from an outage. docs/cli.md carries the same table.
enum ExitStatus: Int32, CaseIterable {
    case success = 0
    /// A check answered no: a backup failed verification, repair left a backup unrestorable, a key has no value.
    case checkFailed = 1
    /// The command line is wrong: an unknown command or option, a bad value, a restore directory that is not empty.
    case usage = 2
    /// What the command names does not exist: a backup, a store, a container, a key file, a blob.
    case notFound = 3
    /// Someone else holds it: the store is open in another process, or another run holds the backup lock.
    case locked = 4
    /// Access was refused or no credential worked: a wrong key, an expired SAS, a missing role.
    case accessDenied = 5
    /// The service could not be reached or kept failing after retries: connection refused, timeouts, 5xx.
    case unavailable = 6
    /// Stopped by Ctrl-C (SIGINT).
    case interrupted = 130
    /// Stopped by SIGTERM.
    case terminated = 143

    /// One line each, short enough for an 80-column help screen.
    var meaning: String {
        switch self {
        case .success: "success"
        case .checkFailed: "a check failed (verify, repair, kv get) or another failure"
        case .usage: "usage: unknown command or option, bad value, non-empty restore dir"
        case .notFound: "not found: backup, store, container, blob, key file, secret"
        case .locked: "locked: the store is open elsewhere, or the backup lock is held"
        case .accessDenied: "access denied: a key, SAS, token or role was refused"
        case .unavailable: "unavailable: unreachable, timed out, or 5xx after retries"
        case .interrupted: "interrupted by Ctrl-C (SIGINT), after cleaning up"
        case .terminated: "stopped by SIGTERM, after cleaning up"
        }
    }

    /// The table `kumo --help` shows and docs/cli.md repeats.
    static var table: String {
        allCases.map { "  \(pad(String($0.rawValue), 5))\($0.meaning)" }.joined(separator: "\n")
    }
}

/// A failure the CLI explains in its own words, with the exit status its kind has.
struct CommandFailure: Error, CustomStringConvertible {
    var status: ExitStatus
    var message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }
}

/// How a failed command ends: the message people read on standard error and the exit code scripts test.
enum ErrorReport {
    /// Prints `error` for people (secrets taken out: errors from every layer end here, including ones that
    /// quote a URL the user typed) and exits with its status.
    static func exit(_ error: any Error) -> Never {
        let (status, message) = describe(error, arguments: Array(CommandLine.arguments.dropFirst()))
        if !message.isEmpty {
            // Help, --version and the help dump are answers, not errors: they go to standard output.
            let stream = status == 0 ? FileHandle.standardOutput : FileHandle.standardError
            stream.write(Data((Redaction.redact(message) + "\n").utf8))
        }
        Foundation.exit(status)
    }

    /// The exit status and the text for `error`; `arguments` are the command line, for suggestions.
    static func describe(_ error: any Error, arguments: [String]) -> (Int32, String) {
        switch error {
        case let exit as ExitCode:
            return (exit.rawValue, "")
        case let failure as CommandFailure:
            return (failure.status.rawValue, "Error: \(failure.message)")
        case let error as BackupError:
            return (status(of: error).rawValue, "Error: \(error.message)")
        case let error as KVError:
            return (status(of: error).rawValue, "Error: \(error.message)")
        case let error as AzureError:
            return (status(of: error).rawValue, "Error: \(text(of: error, arguments: arguments))")
        case let error as AzureAccessFailure:
            return (ExitStatus.accessDenied.rawValue, "Error: \(error.message)")
        case let error as ChangeFeedError:
            return (status(of: error).rawValue, "Error: \(error.message)")
        default:
            break
        }
        let code = Kumo.exitCode(for: error)
        var message = Kumo.fullMessage(for: error)
        if code.isSuccess { return (code.rawValue, message) }
        if code == .validationFailure {
            if let suggestion = Suggestions.suggestion(for: message, arguments: arguments) { message += "\n" + suggestion }
            return (ExitStatus.usage.rawValue, message)
        }
        if !message.hasPrefix("Error:") { message = "Error: " + message }
        return (code.rawValue, message)
    }

    static func status(of error: BackupError) -> ExitStatus {
        switch error.code {
        case .notFound: .notFound
        case .locked, .lockLost: .locked
        case .invalidArgument, .targetNotEmpty: .usage
        case .keyUnavailable: .accessDenied
        default: .checkFailed
        }
    }

    static func status(of error: ChangeFeedError) -> ExitStatus {
        switch error.code {
        case .checkpointHeld, .checkpointLost: .locked
        case .invalidArgument: .usage
        case .publishRefused: .accessDenied
        default: .checkFailed
        }
    }

    static func status(of error: KVError) -> ExitStatus {
        switch error.code {
        case .notFound, .notADirectory, .unknownColumnFamily: .notFound
        case .locked, .busy: .locked
        case .invalidArgument: .usage
        default: .checkFailed
        }
    }

    static func status(of error: AzureError) -> ExitStatus {
        if error.statusCode == 404 { return .notFound }
        if error.statusCode == 401 || error.statusCode == 403 || error.code == .authentication || error.code == .credentialUnavailable {
            return .accessDenied
        }
        if error.statusCode == 409, error.errorCode == "LeaseAlreadyPresent" || error.errorCode == "LeaseIdMissing" { return .locked }
        if error.code == .transport || error.code == .timeout || (error.statusCode ?? 0) >= 500 { return .unavailable }
        if error.code == .invalidArgument { return .usage }
        return .checkFailed
    }

    /// An Azure error as a sentence: the service's words, its status and error code, and what to do for the
    /// errors operators meet first.
    static func text(of error: AzureError, arguments: [String] = []) -> String {
        var text = error.message
        var details: [String] = []
        if let errorCode = error.errorCode { details.append(errorCode) }
        if let statusCode = error.statusCode { details.append("HTTP \(statusCode)") }
        if let requestID = error.requestID { details.append("request id \(requestID)") }
        if !details.isEmpty { text += " (\(details.joined(separator: ", ")))" }
        switch error.errorCode {
        case "ContainerNotFound":
            // The service does not say which container; the command line does.
            let named = arguments.firstIndex(of: "--container").flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
            text += "; create the container first: kumo blob container create \(named ?? "<name>")"
        case "AuthenticationFailed":
            text += "; check the account key or SAS (and that the SAS has not expired)"
        case "AuthorizationPermissionMismatch", "AuthorizationFailure":
            text += "; the credential is valid but lacks permission for this operation"
        default:
            break
        }
        return text
    }
}

/// "Did you mean" for a mistyped command or option, from the command tree ArgumentParser already knows.
enum Suggestions {
    static func suggestion(for message: String, arguments: [String]) -> String? {
        var command: any ParsableCommand.Type = Kumo.self
        for argument in arguments {
            if argument.hasPrefix("-") {
                guard argument.hasPrefix("--") else { continue }
                let name = String(argument.split(separator: "=", maxSplits: 1)[0])
                let options = optionNames(of: command)
                guard !options.contains(name), let best = nearest(name, in: options) else { continue }
                return "'\(name)' is not an option of 'kumo \(path(to: command))'. Did you mean '\(best)'?"
            }
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty else { continue }
            if let next = subcommands.first(where: { $0.configuration.commandName == argument || $0.configuration.aliases.contains(argument) }) {
                command = next
                continue
            }
            let names = subcommands.compactMap { $0.configuration.commandName }
            if argument == "help" { return nil }
            guard let best = nearest(argument, in: names) else {
                return "'\(argument)' is not a 'kumo \(path(to: command))' command; the commands are \(names.joined(separator: ", "))."
                    .replacingOccurrences(of: "'kumo ' command", with: "'kumo' command")
            }
            let prefix = path(to: command)
            return "'\(argument)' is not a command. Did you mean 'kumo \(prefix.isEmpty ? "" : prefix + " ")\(best)'?"
        }
        return nil
    }

    /// The command's long option names, read from its help so that they cannot drift from what it accepts.
    static func optionNames(of command: any ParsableCommand.Type) -> [String] {
        let help = Kumo.helpMessage(for: command)
        var names = Set<String>()
        let pattern = try! NSRegularExpression(pattern: "--[a-z][a-z0-9-]*")
        for match in pattern.matches(in: help, range: NSRange(help.startIndex..., in: help)) {
            if let range = Range(match.range, in: help) { names.insert(String(help[range])) }
        }
        return names.sorted()
    }

    static func path(to command: any ParsableCommand.Type) -> String {
        var names: [String] = []
        func find(_ current: any ParsableCommand.Type, _ trail: [String]) -> Bool {
            if current == command { names = trail; return true }
            for sub in current.configuration.subcommands {
                if find(sub, trail + [sub.configuration.commandName ?? ""]) { return true }
            }
            return false
        }
        _ = find(Kumo.self, [])
        return names.joined(separator: " ")
    }

    /// The closest candidate within a small edit distance, or one the typed text is a prefix of.
    static func nearest(_ typed: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(typed.lowercased(), $0.lowercased())) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let best = scored.first else { return nil }
        let limit = max(1, min(3, typed.count / 3))
        if best.1 <= limit { return best.0 }
        let prefixed = candidates.filter { $0.hasPrefix(typed) && typed.count >= 2 }
        return prefixed.count == 1 ? prefixed[0] : nil
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                var best = min(previous[j] + 1, current[j - 1] + 1, substitution)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { best = min(best, previous[j - 2] + 1) }
                current[j] = best
            }
            previous = current
        }
        return previous[b.count]
    }
}
