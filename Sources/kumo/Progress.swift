import Foundation

/// A one-line progress bar on standard error, drawn only when standard error is a terminal so that logs
/// and scripts see clean output.
final class ProgressBar {
    private let title: String
    private let total: Int
    private let enabled: Bool
    private var lastDrawn = Date.distantPast

    init(_ title: String, total: Int, enabled: Bool = FileHandleOutput.standardErrorIsTerminal) {
        self.title = title
        self.total = max(total, 1)
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = Date()
        guard done >= total || now.timeIntervalSince(lastDrawn) > 0.1 else { return }
        lastDrawn = now
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
