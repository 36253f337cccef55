/// The one error type of Kumo's Azure clients.
///
/// A service error carries the HTTP status, Azure's `x-ms-error-code` and the `x-ms-request-id` to quote to
/// Azure support; a transport error carries what failed underneath. Keys, signatures and tokens never appear
/// in `message` or `description`: every text the error holds goes through ``Redaction/redact(_:)`` when it is
/// stored, however it is built or changed, so no caller has to remember to redact a URL or an underlying
/// client error before putting it in one.
public struct AzureError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct rather than an enum, so new kinds do not break callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The service answered with an error status.
        public static let service = Code("service")
        /// The request never got an answer: connection refused or reset, DNS, TLS.
        public static let transport = Code("transport")
        /// A per-try or overall timeout ran out.
        public static let timeout = Code("timeout")
        /// The task was cancelled.
        public static let cancelled = Code("cancelled")
        /// A configuration value (connection string, URL, key, option) is malformed.
        public static let invalidArgument = Code("invalidArgument")
        /// Data failed an integrity check (MD5, CRC64, length).
        public static let integrity = Code("integrity")
        /// The service's answer could not be understood.
        public static let invalidResponse = Code("invalidResponse")
        /// A credential could not produce a token or signature.
        public static let authentication = Code("authentication")
        /// A credential is not configured here (an environment variable is unset, no managed identity endpoint
        /// answers), so a chain of credentials should try the next one.
        public static let credentialUnavailable = Code("credentialUnavailable")

        public var description: String { name }
    }

    public var code: Code
    /// What went wrong, naming the resource; redacted when set.
    public var message: String {
        get { redactedMessage }
        set { redactedMessage = Redaction.redact(newValue) }
    }
    private var redactedMessage: String
    /// The HTTP status of a service error.
    public var statusCode: Int?
    /// Azure's error code (`x-ms-error-code`), e.g. `BlobNotFound`. Redacted when set, as it is read from a
    /// response header that a proxy or a hostile endpoint controls.
    public var errorCode: String? {
        get { redactedErrorCode }
        set { redactedErrorCode = newValue.map(Redaction.redact) }
    }
    private var redactedErrorCode: String?
    /// The service's `x-ms-request-id`; redacted when set, like ``errorCode``.
    public var requestID: String? {
        get { redactedRequestID }
        set { redactedRequestID = newValue.map(Redaction.redact) }
    }
    private var redactedRequestID: String?
    /// Whether the same request may succeed if sent again.
    public var isRetriable: Bool

    public init(
        _ code: Code, _ message: String, statusCode: Int? = nil, errorCode: String? = nil, requestID: String? = nil,
        isRetriable: Bool = false
    ) {
        self.code = code
        self.redactedMessage = Redaction.redact(message)
        self.statusCode = statusCode
        self.redactedErrorCode = errorCode.map(Redaction.redact)
        self.redactedRequestID = requestID.map(Redaction.redact)
        self.isRetriable = isRetriable
    }

    public var description: String {
        var text = "AzureError.\(code)"
        if let statusCode { text += " \(statusCode)" }
        if let errorCode { text += " \(errorCode)" }
        text += ": \(message)"
        if let requestID { text += " (request id \(requestID))" }
        return text
    }
}
