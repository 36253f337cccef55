import Foundation

enum FileHandleOutput {
    static func writeToStandardError(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }

    /// Whether standard error is a terminal, where progress bars make sense.
    static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }
}
