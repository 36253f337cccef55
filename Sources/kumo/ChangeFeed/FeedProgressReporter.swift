import Foundation
import KumoChangeFeed

/// The running feed's progress on standard error: redrawn in place on a terminal, a line at a time otherwise, or
/// one JSON object per line on standard output with `--json` (for scripts and log shippers).
final class FeedProgressReporter: Sendable {
    let json: Bool
    let terminal: Bool

    init(json: Bool, interval: Double) {
        self.json = json
        terminal = !json && FileHandleOutput.standardErrorIsTerminal
    }

    func report(_ statistics: ChangeFeedStatistics, final: Bool) {
        if json {
            printJSONObject(Self.object(statistics, final: final))
            return
        }
        let line = Self.line(statistics)
        if terminal {
            FileHandleOutput.writeToStandardError("\r\u{1B}[K" + line + (final ? "\n" : ""))
        } else {
            FileHandleOutput.writeToStandardError(line + "\n")
        }
    }

    /// Ends a line drawn in place, so an error message starts at the left edge.
    func finish() {
        if terminal { FileHandleOutput.writeToStandardError("\n") }
    }

    static func line(_ statistics: ChangeFeedStatistics) -> String {
        var line = "checkpoint \(statistics.checkpoint) · lag \(statistics.lagSequences)"
        line += String(format: " (%.1f s)", statistics.lagSeconds())
        line += String(format: " · %.0f events/s · %llu published", statistics.eventsPerSecond, statistics.eventsPublished)
        if statistics.retries > 0 { line += " · \(statistics.retries) retries" }
        return line
    }

    static func object(_ statistics: ChangeFeedStatistics, final: Bool) -> [String: Any] {
        var object: [String: Any] = [
            "checkpoint": statistics.checkpoint, "latestSequence": statistics.latestSequence,
            "lagSequences": statistics.lagSequences, "lagSeconds": statistics.lagSeconds(),
            "eventsPublished": statistics.eventsPublished, "batchesSent": statistics.batchesSent,
            "eventsPerSecond": statistics.eventsPerSecond, "recordsSkipped": statistics.recordsSkipped,
            "valuesSplit": statistics.valuesSplit, "retries": statistics.retries, "stopped": final,
        ]
        if let error = statistics.lastError { object["lastError"] = error }
        return object
    }
}

/// One JSON object on a line of standard output, keys sorted.
func printJSONObject(_ object: Any) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), let text = String(data: data, encoding: .utf8) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
