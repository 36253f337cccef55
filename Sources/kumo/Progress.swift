import Foundation
import Synchronization

/// A one-line progress bar on standard error, drawn only when standard error is a terminal so that logs
/// and scripts see clean output.
final class ProgressBar: Sendable {
    private let title: String
    private let total: Int
    private let enabled: Bool
    private let lastDrawn = Mutex(Date.distantPast)

    init(_ title: String, total: Int, enabled: Bool = FileHandleOutput.standardErrorIsTerminal) {
        self.title = title
        self.total = max(total, 1)
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = Date()
        let due = lastDrawn.withLock { last in
            guard done >= total || now.timeIntervalSince(last) > 0.1 else { return false }
            last = now
            return true
        }
        guard due else { return }
        let fraction = Double(min(done, total)) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandleOutput.writeToStandardError("\r\(title) [\(bar)] \(Int(fraction * 100))% \(done)/\(total)")
    }

    func finish() {
        guard enabled else { return }
        update(total)
        FileHandleOutput.writeToStandardError("\n")
    }
}
