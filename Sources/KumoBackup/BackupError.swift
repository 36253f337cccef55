import AzureCore

/// The one error type of KumoBackup. Its message names the backup, file or path involved, and never carries a
/// secret: whatever it is given (a URL with a SAS, an underlying error) is redacted when it is set.
public struct BackupError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The target URL or an option is malformed.
        public static let invalidArgument = Code("invalidArgument")
        /// No backup has that id.
        public static let notFound = Code("notFound")
        /// A stored file is missing, has the wrong size or checksum, or a manifest does not parse.
        public static let corrupt = Code("corrupt")
        /// Another backup of the same prefix holds the lock.
        public static let locked = Code("locked")
        /// The restore directory is not empty.
        public static let targetNotEmpty = Code("targetNotEmpty")
        /// The restored store does not match its manifest.
        public static let verificationFailed = Code("verificationFailed")
        /// A key provider (Key Vault) could not be reached or refused the operation.
        public static let keyUnavailable = Code("keyUnavailable")
        /// The lock was lost while the operation ran (a lease renewal failed); the operation was stopped.
        public static let lockLost = Code("lockLost")
        /// A local file operation failed (read, write, fsync, rename).
        public static let io = Code("io")
        /// The operation's task was cancelled (Ctrl-C in `kumo`). The message says what was done, what was not,
        /// and what was cleaned up (checkpoint, staging directory, the lock).
        public static let interrupted = Code("interrupted")
        public var description: String { name }
    }

    public var code: Code
    public var message: String {
        didSet { if message != oldValue { message = Redaction.redact(message) } }
    }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = Redaction.redact(message)
    }

    public var description: String { "BackupError.\(code): \(message)" }
}
