import ArgumentParser
import AzureCore
import Foundation

/// How a failed command ends: the message people read on standard error and the exit code scripts test.
enum ErrorReport {
    /// Exits as ArgumentParser would, but with secrets (a SAS `sig` in a target URL, an account key) taken out
    /// of the message: errors from every layer end here, including ones that quote a URL the user typed.
    static func exit(_ error: any Error) -> Never {
        let exitCode = Kumo.exitCode(for: error)
        let message = Kumo.fullMessage(for: error)
        let redacted = Redaction.redact(message)
        guard redacted != message, !exitCode.isSuccess else { Kumo.exit(withError: error) }
        FileHandle.standardError.write(Data((redacted + "\n").utf8))
        Foundation.exit(exitCode.rawValue)
    }
}
