/// The one error type of KumoKV.
///
/// RocksDB reports failures as a status string ("IO error: …", "Corruption: …"). `KVError` keeps that
/// message and classifies it into a ``Code`` so callers can react to the kind of failure without parsing
/// text. New codes can be added without breaking callers, because `Code` is a struct, not an enum.
public struct KVError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable {
            case notFound, corruption, notSupported, invalidArgument, ioError, busy, locked, timedOut
            case aborted, incomplete, tryAgain, walGap, closed, unknownColumnFamily, columnFamilyExists
            case notADirectory, keyOrder, other
        }
        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }

        /// A file, directory or record that must exist does not.
        public static let notFound = Code(.notFound)
        /// Data on disk failed a checksum or format check.
        public static let corruption = Code(.corruption)
        /// The operation is not supported by this RocksDB build or configuration.
        public static let notSupported = Code(.notSupported)
        /// An argument was rejected.
        public static let invalidArgument = Code(.invalidArgument)
        /// The operating system reported an I/O failure.
        public static let ioError = Code(.ioError)
        /// The resource is in use (for example iterators still open when closing).
        public static let busy = Code(.busy)
        /// Another process (or another `Store` in this process) holds the database lock.
        public static let locked = Code(.locked)
        /// The operation timed out.
        public static let timedOut = Code(.timedOut)
        /// The operation was aborted.
        public static let aborted = Code(.aborted)
        /// The operation could not complete (for example a read that would need I/O when I/O is disallowed).
        public static let incomplete = Code(.incomplete)
        /// A transient condition; the same call may succeed later.
        public static let tryAgain = Code(.tryAgain)
        /// The write-ahead log no longer holds the requested sequence number.
        public static let walGap = Code(.walGap)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// No column family has the given name.
        public static let unknownColumnFamily = Code(.unknownColumnFamily)
        /// A column family with that name already exists.
        public static let columnFamilyExists = Code(.columnFamilyExists)
        /// The path exists but is not a directory.
        public static let notADirectory = Code(.notADirectory)
        /// Keys were added out of order where ascending order is required (SST files).
        public static let keyOrder = Code(.keyOrder)
        /// Any other RocksDB status.
        public static let other = Code(.other)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// A human-readable message; for RocksDB failures it includes RocksDB's own status text.
    public let message: String
    /// For `.walGap`: the sequence numbers the write-ahead log no longer holds, when they are known.
    public var lostRange: ClosedRange<UInt64>?

    public init(_ code: Code, _ message: String, lostRange: ClosedRange<UInt64>? = nil) {
        self.code = code
        self.message = message
        self.lostRange = lostRange
    }

    public var description: String { "KVError.\(code): \(message)" }
}

extension KVError {
    /// Classifies a RocksDB status string, as produced by `Status::ToString()`.
    init(rocksDBStatus status: String, context: String? = nil) {
        let code: Code
        let lowered = status.lowercased()
        if lowered.contains("lock file") || lowered.contains("lock hold by current process") {
            code = .locked
        } else if lowered.contains("gap in sequence number") {
            code = .walGap
        } else if status.hasPrefix("NotFound") {
            code = .notFound
        } else if status.hasPrefix("Corruption") {
            code = .corruption
        } else if status.hasPrefix("Not implemented") {
            code = .notSupported
        } else if status.hasPrefix("Invalid argument") {
            if lowered.contains("keys must be added in strict ascending order") {
                code = .keyOrder
            } else if lowered.contains("column family") && lowered.contains("not") {
                code = .unknownColumnFamily
            } else {
                code = .invalidArgument
            }
        } else if status.hasPrefix("IO error") {
            code = .ioError
        } else if status.hasPrefix("Resource busy") {
            code = .busy
        } else if status.hasPrefix("Operation timed out") {
            code = .timedOut
        } else if status.hasPrefix("Operation aborted") || status.hasPrefix("Shutdown in progress") {
            code = .aborted
        } else if status.hasPrefix("Result incomplete") {
            code = .incomplete
        } else if status.hasPrefix("Operation failed. Try again") {
            code = .tryAgain
        } else {
            code = .other
        }
        let message: String
        if code == .locked {
            message = "the database is locked by another process (or already open in this one): \(status)"
        } else {
            message = status
        }
        self.init(code, context.map { "\($0): \(message)" } ?? message)
    }
}
