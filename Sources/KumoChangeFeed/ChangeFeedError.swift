import AzureCore

/// The one error type of KumoChangeFeed. Messages name the store, checkpoint or event involved and never carry a
/// secret: whatever a message is given (a URL with a SAS, an underlying error) is redacted when it is set.
public struct ChangeFeedError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// A configuration value is invalid (partitioning, filters, a start position).
        public static let invalidArgument = Code("invalidArgument")
        /// The write-ahead log no longer holds changes the feed has not published; ``ChangeFeedError/lostRange``
        /// says which.
        public static let walGap = Code("walGap")
        /// Another feed holds the checkpoint (``ChangeFeedError/holder`` names it).
        public static let checkpointHeld = Code("checkpointHeld")
        /// Another feed took the checkpoint over while this one ran; this one stopped without writing.
        public static let checkpointLost = Code("checkpointLost")
        /// The checkpoint does not parse, or belongs to another store, or is ahead of the store.
        public static let checkpointInvalid = Code("checkpointInvalid")
        /// Reading or writing the checkpoint failed.
        public static let checkpointIO = Code("checkpointIO")
        /// The event hub refused the feed in a way retrying cannot fix (unknown hub, no send permission).
        public static let publishRefused = Code("publishRefused")
        /// An event's body is not a Kumo change event.
        public static let malformedEvent = Code("malformedEvent")
        /// Reading the store failed.
        public static let store = Code("store")
        public var description: String { name }
    }

    public var code: Code
    public var message: String {
        didSet { if message != oldValue { message = Redaction.redact(message) } }
    }
    /// For `.walGap`: the sequence numbers that are gone.
    public var lostRange: ClosedRange<UInt64>?
    /// For `.checkpointHeld` and `.checkpointLost`: who holds the checkpoint.
    public var holder: String?

    public init(_ code: Code, _ message: String, lostRange: ClosedRange<UInt64>? = nil, holder: String? = nil) {
        self.code = code
        self.message = Redaction.redact(message)
        self.lostRange = lostRange
        self.holder = holder
    }

    public var description: String { "ChangeFeedError.\(code): \(message)" }
}
