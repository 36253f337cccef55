import AzureCore
import Dispatch
import Foundation
import KumoBackup
import Synchronization

/// Ctrl-C (SIGINT) and SIGTERM for every command. The first signal cancels the command's task: transfers stop
/// (their HTTP requests are cancelled), and the cleanup a cancelled operation does on its way out runs (a
/// backup's checkpoint, a restore's staging directory, the backup lock) before `kumo` says what was done and
/// what was not, and exits 130 (SIGINT) or 143 (SIGTERM). A second signal exits at once with the same status.
///
/// The signals' default actions are ignored and they are read from dispatch sources instead, so a signal never
/// interrupts a thread in the middle of a RocksDB call or a write.
enum Interruption {
    enum Signal: Sendable {
        case interrupt
        case terminate

        var number: Int32 {
            switch self {
            case .interrupt: SIGINT
            case .terminate: SIGTERM
            }
        }

        var name: String {
            switch self {
            case .interrupt: "SIGINT"
            case .terminate: "SIGTERM"
            }
        }

        /// `interrupted by Ctrl-C (SIGINT)`, `stopped by SIGTERM`.
        var phrase: String {
            switch self {
            case .interrupt: "interrupted by Ctrl-C (SIGINT)"
            case .terminate: "stopped by SIGTERM"
            }
        }

        var status: ExitStatus {
            switch self {
            case .interrupt: .interrupted
            case .terminate: .terminated
            }
        }
    }

    /// How a command meets its first signal.
    enum Response {
        /// Cancel its task, so that it winds down and reports what it did.
        case cancel
        /// Leave it to stop by itself: the emulator's service group stops its servers gracefully on the same
        /// signals.
        case observe
        /// Ask it to finish what it is doing and return (the change feed checkpoints what the hub acknowledged).
        case stop(@Sendable () -> Void)
    }

    private struct State {
        var received: Signal?
        var response = Response.cancel
        var cancel: (@Sendable () -> Void)?
    }

    private static let state = Mutex(State())
    /// Kept for as long as the process runs, since a released source stops delivering. Written only by
    /// `install`, which `main` calls once before the command's work can be signalled.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// The first signal received, if any.
    static var received: Signal? { state.withLock { $0.received } }

    /// Starts listening for SIGINT and SIGTERM: the first calls `cancel` (unless the command only observes),
    /// a second exits at once.
    static func install(cancel: @escaping @Sendable () -> Void) {
        state.withLock { $0.cancel = cancel }
        let queue = DispatchQueue(label: "kumo.signals")
        for signal in [Signal.interrupt, .terminate] {
            Foundation.signal(signal.number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal.number, queue: queue)
            source.setEventHandler { received(signal) }
            source.resume()
            sources.append(source)
        }
    }

    /// How the command that is about to run meets its first signal (`.cancel` until this is called).
    static func respond(_ response: Response) {
        state.withLock { $0.response = response }
    }

    private static func received(_ signal: Signal) {
        let (first, response, cancel) = state.withLock { state -> (Signal?, Response, (@Sendable () -> Void)?) in
            let first = state.received
            if first == nil { state.received = signal }
            return (first, state.response, state.cancel)
        }
        if let first {
            // The cleanup is abandoned: whatever it left, the next command's sweep removes (checkpoints,
            // staging directories) or outlasts (a lease expires within 15 seconds).
            write("\(lineStart)kumo: \(signal.name) again: exiting at once; the next backup or restore removes what this one left\n")
            _exit(first.status.rawValue)
        }
        let again = "\(signal == .interrupt ? "Ctrl-C" : signal.name) again exits at once"
        switch response {
        case .cancel:
            guard let cancel else { return }
            write("\(lineStart)kumo: \(signal.name): stopping and cleaning up (\(again))\n")
            cancel()
        case .stop(let stop):
            write("\(lineStart)kumo: \(signal.name): finishing the current round, then stopping (\(again))\n")
            stop()
        case .observe:
            break
        }
    }

    /// Ends the process after a command that failed once a signal had arrived: the command's own account of
    /// what it did (an interrupted backup says how many files went up, that no backup was recorded, which
    /// checkpoint it removed, that it released the lock) with the signal named, then 130 or 143.
    static func exit(after error: any Error, signal: Signal) -> Never {
        write(lineStart + Redaction.redact(report(error, signal: signal)) + "\n")
        Foundation.exit(signal.status.rawValue)
    }

    /// The message for `error`, which ended a command `signal` interrupted.
    static func report(_ error: any Error, signal: Signal) -> String {
        let account: String? =
            switch error {
            case let error as BackupError where error.code == .interrupted: error.message
            case let error as TransferInterrupted: error.description
            default: nil
            }
        guard let account else {
            return "\(signal.phrase): the command stopped before it finished"
        }
        let prefix = "interrupted: "
        return signal.phrase + ": " + (account.hasPrefix(prefix) ? String(account.dropFirst(prefix.count)) : account)
    }

    /// On a terminal, clears a progress line drawn in place so the message starts at the left edge.
    private static var lineStart: String { FileHandleOutput.standardErrorIsTerminal ? "\r\u{1B}[K" : "" }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
