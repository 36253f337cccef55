/// The one error type of the AMQP module: bad bytes, protocol violations, and errors the peer sent.
///
/// `code` says what kind of failure it is, so callers can branch on it; `message` names the thing that is
/// wrong; a remote error's condition, description and info are kept as the peer sent them.
public struct AMQPError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kind of failure. Opaque: new kinds can be added without breaking anyone's `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case malformedData, frameTooLarge, protocolViolation, connectionClosed, remoteClosed
            case sessionEnded, linkDetached, notAccepted, timeout, cancelled, saslFailed, transport
        }

        private let kind: Kind

        private init(_ kind: Kind) {
            self.kind = kind
        }

        /// Bytes that do not decode as AMQP 1.0 (a bad constructor, a length past the end, a wrong field type).
        public static let malformedData = Code(.malformedData)
        /// A frame whose header states more bytes than the negotiated max-frame-size.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// A well-formed frame that is not allowed in the current state.
        public static let protocolViolation = Code(.protocolViolation)
        /// The connection is closed (locally, or the transport went away).
        public static let connectionClosed = Code(.connectionClosed)
        /// The peer closed the connection, usually with an error condition.
        public static let remoteClosed = Code(.remoteClosed)
        /// The session ended.
        public static let sessionEnded = Code(.sessionEnded)
        /// The link was detached.
        public static let linkDetached = Code(.linkDetached)
        /// A delivery was rejected, released or modified instead of accepted.
        public static let notAccepted = Code(.notAccepted)
        /// An operation did not finish in time.
        public static let timeout = Code(.timeout)
        /// An operation was cancelled.
        public static let cancelled = Code(.cancelled)
        /// SASL authentication failed.
        public static let saslFailed = Code(.saslFailed)
        /// The underlying transport (TCP, TLS) failed.
        public static let transport = Code(.transport)

        /// The code's name, e.g. "malformedData".
        public var description: String { kind.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// Names the thing that is wrong, e.g. "list8 declares 300 bytes but 12 remain".
    public var message: String
    /// A remote error's condition symbol, e.g. "amqp:not-found".
    public var condition: String?
    /// A remote error's description.
    public var remoteDescription: String?
    /// A remote error's info map.
    public var remoteInfo: [AMQPMapEntry]?

    /// Creates an error; the remote parts are for errors the peer sent.
    public init(
        code: Code,
        message: String,
        condition: String? = nil,
        remoteDescription: String? = nil,
        remoteInfo: [AMQPMapEntry]? = nil
    ) {
        self.code = code
        self.message = message
        self.condition = condition
        self.remoteDescription = remoteDescription
        self.remoteInfo = remoteInfo
    }

    /// An error carrying what the peer sent in a detach, end, close or rejected outcome.
    public static func remote(_ error: AMQPErrorCondition, code: Code) -> AMQPError {
        var message = error.condition
        if let description = error.description {
            message += ": " + description
        }
        return AMQPError(
            code: code,
            message: message,
            condition: error.condition,
            remoteDescription: error.description,
            remoteInfo: error.info
        )
    }

    /// "AMQPError.<code>: <message>", for logs.
    public var description: String {
        "AMQPError.\(code): \(message)"
    }

    static func malformed(_ message: String) -> AMQPError {
        AMQPError(code: .malformedData, message: message)
    }
}
