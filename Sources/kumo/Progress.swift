import Foundation
import Synchronization

/// How a long command shows progress on standard error: redrawn in place on a terminal; a plain line every
/// few seconds where nobody watches a cursor (cron mail, CI logs, the systemd journal); nothing at all with
/// `--json`, so scripts reading standard output and standard error see only what they asked for.
enum ProgressStyle: Sendable, Equatable {
    case terminal
    case periodic(seconds: Double)
    case off

    /// The style for a command: `off` with `--json`; otherwise by whether standard error is a terminal.
    /// KUMO_PROGRESS_INTERVAL (seconds) sets how often the line is written without one (default 10).
    static func forCommand(json: Bool, environment: [String: String] = ProcessInfo.processInfo.environment) -> ProgressStyle {
        if json { return .off }
        if FileHandleOutput.standardErrorIsTerminal { return .terminal }
        let interval = environment["KUMO_PROGRESS_INTERVAL"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 10
        return .periodic(seconds: interval)
    }
}

/// One progress line per phase of a long operation: `uploading  412.0 MiB / 1.0 GiB  183.0 MiB/s  ETA 3.0 s`.
/// Phases without a byte count (`checkpoint`) show only their name and, when they end, how long they took.
final class ProgressReporter: Sendable {
    struct Snapshot: Sendable {
        var phase: String
        var bytesDone: Int64?
        var bytesTotal: Int64?
        var filesDone: Int?
        var filesTotal: Int?
    }

    private struct State {
        var current: Snapshot?
        var phaseStarted = ContinuousClock.now
        var lastWritten = ContinuousClock.now
        var drawnOnTerminal = false
    }

    let style: ProgressStyle
    private let state = Mutex(State())
    private let write: @Sendable (String) -> Void

    init(style: ProgressStyle, write: @escaping @Sendable (String) -> Void = FileHandleOutput.writeToStandardError) {
        self.style = style
        self.write = write
    }

    func update(_ snapshot: Snapshot) {
        guard style != .off else { return }
        let now = ContinuousClock.now
        var output = ""
        state.withLock { state in
            if let current = state.current, current.phase != snapshot.phase {
                output += end(current, state: &state, now: now)
            }
            let isNew = state.current == nil
            state.current = snapshot
            // A phase starts when the one before it ended (or when the reporter was made), not at its first
            // report, which may come only when its first file is done.
            if isNew { state.lastWritten = now }
            let elapsed = Self.seconds(now - state.phaseStarted)
            switch style {
            case .terminal:
                guard isNew || Self.seconds(now - state.lastWritten) >= 0.1 || Self.isComplete(snapshot) else { return }
                state.lastWritten = now
                state.drawnOnTerminal = true
                output += "\r\u{1B}[K" + Self.line(snapshot, elapsed: elapsed)
            case .periodic(let interval):
                // A phase that ends within the interval gets only its closing line: cron mail stays short.
                guard !isNew, Self.seconds(now - state.lastWritten) >= interval else { return }
                state.lastWritten = now
                output += Self.line(snapshot, elapsed: elapsed) + "\n"
            case .off:
                return
            }
        }
        if !output.isEmpty { write(output) }
    }

    func update(phase: String, bytesDone: Int64? = nil, bytesTotal: Int64? = nil, filesDone: Int? = nil, filesTotal: Int? = nil) {
        update(Snapshot(phase: phase, bytesDone: bytesDone, bytesTotal: bytesTotal, filesDone: filesDone, filesTotal: filesTotal))
    }

    /// Ends the current phase's line with what it did and how long it took.
    func finish() {
        guard style != .off else { return }
        let now = ContinuousClock.now
        let output = state.withLock { state -> String in
            guard let current = state.current else { return "" }
            return end(current, state: &state, now: now)
        }
        if !output.isEmpty { write(output) }
    }

    private func end(_ snapshot: Snapshot, state: inout State, now: ContinuousClock.Instant) -> String {
        let elapsed = Self.seconds(now - state.phaseStarted)
        var text = pad(snapshot.phase, 12)
        if let done = snapshot.bytesDone, let total = snapshot.bytesTotal, total > 0 {
            text += "\(formatBytes(done)) in \(formatDuration(elapsed))"
            if elapsed > 0 { text += ", \(formatBytes(Int64(Double(done) / elapsed)))/s" }
        } else {
            text += "done in \(formatDuration(elapsed))"
        }
        if let files = snapshot.filesDone, snapshot.filesTotal != nil { text += " (\(plural(files, "file")))" }
        state.current = nil
        state.phaseStarted = now
        let prefix = style == .terminal && state.drawnOnTerminal ? "\r\u{1B}[K" : ""
        state.drawnOnTerminal = false
        return prefix + text + "\n"
    }

    private static func isComplete(_ snapshot: Snapshot) -> Bool {
        guard let done = snapshot.bytesDone, let total = snapshot.bytesTotal else { return false }
        return done >= total
    }

    /// The in-progress line: amount, rate and time left where there are bytes to count, files where there
    /// are files, and just the phase's name where there is neither.
    static func line(_ snapshot: Snapshot, elapsed: Double) -> String {
        var text = pad(snapshot.phase, 12)
        if let done = snapshot.bytesDone, let total = snapshot.bytesTotal, total > 0 {
            text += "\(formatBytes(done)) / \(formatBytes(total))"
            text += String(format: " (%d%%)", Int(Double(min(done, total)) * 100 / Double(total)))
            if elapsed >= 0.5, done > 0 {
                let rate = Double(done) / elapsed
                text += "  \(formatBytes(Int64(rate)))/s  ETA \(formatDuration(Double(max(total - done, 0)) / rate))"
            }
        } else if snapshot.filesTotal == nil {
            text += "..."
        }
        if let files = snapshot.filesDone, let total = snapshot.filesTotal, total > 0 {
            text += "  \(files)/\(plural(total, "file"))"
        }
        return text
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// A single-phase progress line for transfers that count bytes (blob uploads and downloads).
final class ProgressBar: Sendable {
    private let title: String
    private let total: Int
    private let reporter: ProgressReporter

    init(_ title: String, total: Int, style: ProgressStyle) {
        self.title = title
        self.total = total
        reporter = ProgressReporter(style: style)
    }

    /// Shown on a terminal only (the older behaviour), for callers that decide by `enabled`.
    convenience init(_ title: String, total: Int, enabled: Bool = FileHandleOutput.standardErrorIsTerminal) {
        self.init(title, total: total, style: enabled ? .forCommand(json: false) : .off)
    }

    func update(_ done: Int) {
        reporter.update(phase: title, bytesDone: Int64(done), bytesTotal: Int64(total))
    }

    func finish() {
        update(total)
        reporter.finish()
    }
}
