import Foundation
import Logging

/// Sends a request on to the rest of the pipeline.
public typealias NextPolicy = @Sendable (AzureHTTPRequest) async throws -> AzureHTTPResponse

/// One step of the request pipeline: it may change the request, call `next` (once or, for retries, more
/// than once), and inspect or replace the response.
public protocol HTTPPipelinePolicy: Sendable {
    func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse
}

/// Sends a request over the network. The one method keeps transports swappable (AsyncHTTPClient in
/// production, a recorded exchange in tests).
public protocol HTTPTransport: Sendable {
    func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse
    /// Sends with the client's timeouts. Transports that have no connect or read timeouts of their own need not
    /// implement it: by default it calls ``send(_:timeout:)`` with the per-try timeout.
    func send(_ request: AzureHTTPRequest, options: TransportRequestOptions) async throws -> AzureHTTPResponse
}

extension HTTPTransport {
    public func send(_ request: AzureHTTPRequest, options: TransportRequestOptions) async throws -> AzureHTTPResponse {
        try await send(request, timeout: options.timeout)
    }
}

/// The timeouts of one try, as a client's options set them; nil leaves the transport's own.
public struct TransportRequestOptions: Sendable, Hashable {
    /// Bound on the try until the response starts (``ClientOptions/perTryTimeout``).
    public var timeout: Duration?
    /// See ``TransportTimeouts/connect``.
    public var connectTimeout: Duration?
    /// See ``TransportTimeouts/read``.
    public var readTimeout: Duration?

    public init(timeout: Duration? = nil, connectTimeout: Duration? = nil, readTimeout: Duration? = nil) {
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
    }
}

/// Policies in order, ending at a transport.
public struct HTTPPipeline: Sendable {
    public let policies: [any HTTPPipelinePolicy]
    public let transport: any HTTPTransport
    let transportOptions: TransportRequestOptions

    public init(
        policies: [any HTTPPipelinePolicy], transport: any HTTPTransport, perTryTimeout: Duration? = nil,
        connectTimeout: Duration? = nil, readTimeout: Duration? = nil
    ) {
        self.policies = policies
        self.transport = transport
        self.transportOptions = TransportRequestOptions(
            timeout: perTryTimeout, connectTimeout: connectTimeout, readTimeout: readTimeout)
    }

    public func send(_ request: AzureHTTPRequest) async throws -> AzureHTTPResponse {
        try await send(request, from: 0)
    }

    private func send(_ request: AzureHTTPRequest, from index: Int) async throws -> AzureHTTPResponse {
        guard index < policies.count else {
            return try await transport.send(request, options: transportOptions)
        }
        return try await policies[index].send(request) { next in
            try await self.send(next, from: index + 1)
        }
    }

    /// The standard Azure pipeline: client request id, telemetry and version, retry, then per try the date,
    /// authentication and logging.
    public static func standard(
        credential: StorageCredential, options: ClientOptions, transport: any HTTPTransport
    ) -> HTTPPipeline {
        var retry = options.retry
        if retry.logger == nil { retry.logger = options.logger }
        var policies: [any HTTPPipelinePolicy] = [
            RequestIDPolicy(),
            TelemetryPolicy(serviceVersion: options.serviceVersion, applicationID: options.applicationID),
            retry,
            DatePolicy(),
        ]
        switch credential {
        case .sharedKey(let key): policies.append(SharedKeyPolicy(credential: key))
        case .sas(let token): policies.append(SASPolicy(token: token))
        case .token(let tokenCredential):
            policies.append(BearerTokenPolicy(credential: tokenCredential, scopes: options.tokenScopes))
        case .anonymous: break
        }
        policies.append(contentsOf: options.perRetryPolicies)
        policies.append(LoggingPolicy(logger: options.logger))
        return HTTPPipeline(
            policies: policies, transport: transport, perTryTimeout: options.perTryTimeout,
            connectTimeout: options.connectTimeout, readTimeout: options.readTimeout)
    }
}

/// Options every Azure client takes.
public struct ClientOptions: Sendable {
    /// The `x-ms-version` sent with every request.
    public var serviceVersion: String = "2026-10-06"
    /// Prepended to the user agent (`<applicationID> kumo/<version> ...`).
    public var applicationID: String?
    /// Retries of failed tries, each logged at warning level on ``logger``.
    public var retry: RetryPolicy = .default
    /// Longest one try may take until the response starts, upload included; nil (the default) for no bound, so
    /// a large transfer takes as long as it needs while bytes move. ``connectTimeout`` and ``readTimeout``
    /// catch an endpoint that does not answer.
    public var perTryTimeout: Duration?
    /// Longest wait for a connection; nil for the transport's (`KUMO_CONNECT_TIMEOUT`, else 10 s). Applies to
    /// ``AsyncHTTPClientTransport`` unless it was made over a caller's `HTTPClient`.
    public var connectTimeout: Duration?
    /// Longest time without a byte from the server; nil for the transport's (`KUMO_READ_TIMEOUT`, else 60 s).
    public var readTimeout: Duration?
    public var logger: Logger = Logger(label: "kumo.azure")
    /// Scopes requested from a token credential.
    public var tokenScopes: [String] = ["https://storage.azure.com/.default"]
    /// Extra policies that run on every try, after authentication (metrics, tracing, tests).
    public var perRetryPolicies: [any HTTPPipelinePolicy] = []

    public init() {}
}

/// Sets `x-ms-client-request-id`, which Azure echoes and logs, so one request can be traced end to end.
public struct RequestIDPolicy: HTTPPipelinePolicy {
    public init() {}
    public func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        var request = request
        if request.headers["x-ms-client-request-id"] == nil {
            request.headers["x-ms-client-request-id"] = UUID().uuidString.lowercased()
        }
        return try await next(request)
    }
}

/// Sets `x-ms-version` and the `User-Agent` Azure SDKs send (`kumo/<version> (Swift; <os>)`).
public struct TelemetryPolicy: HTTPPipelinePolicy {
    public static let sdkVersion = "0.1.0"
    let serviceVersion: String?
    let userAgent: String

    /// - Parameter serviceVersion: the `x-ms-version` to send; nil for services versioned by an `api-version`
    ///   query parameter instead (Key Vault, Entra ID).
    public init(serviceVersion: String?, applicationID: String? = nil) {
        self.serviceVersion = serviceVersion
        let base = "kumo/\(Self.sdkVersion) (Swift; \(ProcessInfo.processInfo.operatingSystemVersionString))"
        userAgent = applicationID.map { "\($0) \(base)" } ?? base
    }

    public func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        var request = request
        if let serviceVersion { request.headers["x-ms-version"] = serviceVersion }
        request.headers["User-Agent"] = userAgent
        return try await next(request)
    }
}

/// Sets `x-ms-date` on every try, so a retried request is not rejected as stale.
public struct DatePolicy: HTTPPipelinePolicy {
    public init() {}
    public func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        var request = request
        request.headers["x-ms-date"] = HTTPDateFormat.rfc1123(Date())
        return try await next(request)
    }
}

/// Signs each try with the account key (Shared Key).
public struct SharedKeyPolicy: HTTPPipelinePolicy {
    let credential: StorageSharedKeyCredential
    public init(credential: StorageSharedKeyCredential) { self.credential = credential }

    public func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        var request = request
        let signature = credential.sign(SharedKeySigner.stringToSign(request, accountName: credential.accountName))
        request.headers["Authorization"] = "SharedKey \(credential.accountName):\(signature)"
        return try await next(request)
    }
}

/// Appends a SAS token's parameters to every request.
public struct SASPolicy: HTTPPipelinePolicy {
    let parameters: [(name: String, value: String)]

    public init(token: String) {
        let trimmed = token.hasPrefix("?") ? String(token.dropFirst()) : token
        parameters = trimmed.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            return (name, value)
        }
    }

    public func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        var request = request
        for (name, value) in parameters where !request.url.query.contains(where: { $0.name == name }) {
            request.url.query.append((name, value))
        }
        return try await next(request)
    }
}

/// Adds `Authorization: Bearer <token>`, sharing one cached token (refreshed before expiry) between requests.
///
/// Tokens go only over https, or over plain http to a loopback address (the local emulator), so a token is
/// never sent in clear text across a network.
public struct BearerTokenPolicy: HTTPPipelinePolicy {
    let credential: any TokenCredential
    let scopes: [String]
    let cache: TokenCache

    public init(credential: any TokenCredential, scopes: [String], cache: TokenCache = TokenCache()) {
        self.credential = credential
        self.scopes = scopes
        self.cache = cache
    }

    public func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        try Self.requireSecureTransport(request.url)
        var request = request
        let credential = self.credential
        let scopes = self.scopes
        let token = try await cache.token(for: scopes) { try await credential.token(for: scopes) }
        request.headers["Authorization"] = "Bearer \(token.token)"
        return try await next(request)
    }

    /// Throws unless `url` is https, or http to 127.0.0.1, ::1 or localhost.
    public static func requireSecureTransport(_ url: RequestURL) throws {
        if url.origin.lowercased().hasPrefix("https://") { return }
        if let parsed = URL(string: url.origin), parsed.scheme?.lowercased() == "http", let host = parsed.host,
            ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
        {
            return
        }
        throw AzureError(
            .authentication, "bearer tokens are only sent over https (or plain http to a loopback emulator), not to \(url.origin)")
    }
}

/// Logs each try at debug level and failures at warning level, with secrets redacted.
public struct LoggingPolicy: HTTPPipelinePolicy {
    let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    public func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        let started = ContinuousClock.now
        let target = "\(request.method.rawValue) \(request.url.redacted)"
        do {
            let response = try await next(request)
            let elapsed = ContinuousClock.now - started
            if response.statusCode >= 400 {
                logger.debug("\(target) -> \(response.statusCode) \(response.headers["x-ms-error-code"] ?? "") in \(elapsed)")
            } else {
                logger.trace("\(target) -> \(response.statusCode) in \(elapsed)")
            }
            return response
        } catch {
            logger.debug("\(target) failed: \(Redaction.redact(String(describing: error)))")
            throw error
        }
    }
}

/// RFC 1123 dates, as `x-ms-date` and `If-Modified-Since` carry them.
public enum HTTPDateFormat {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func rfc1123(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    public static func parse(_ text: String) -> Date? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, let day = Int32(fields[1]), let month = months.firstIndex(of: String(fields[2])),
            let year = Int32(fields[3])
        else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3 else { return nil }
        var parts = tm()
        parts.tm_mday = day
        parts.tm_mon = Int32(month)
        parts.tm_year = year - 1900
        parts.tm_hour = clock[0]
        parts.tm_min = clock[1]
        parts.tm_sec = clock[2]
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// ISO 8601 in UTC with seconds, as SAS tokens carry times (`2026-11-25T18:00:00Z`).
    public static func iso8601(_ date: Date) -> String { iso8601(date, milliseconds: false) }

    /// ISO 8601 in UTC with seconds, or with milliseconds (`2026-11-25T18:00:00.123Z`, rounded to the nearest) as
    /// CloudEvents and Event Hubs carry them.
    public static func iso8601(_ date: Date, milliseconds: Bool) -> String {
        let total = milliseconds
            ? Int64((date.timeIntervalSince1970 * 1000).rounded())
            : Int64(date.timeIntervalSince1970.rounded(.down)) * 1000
        var seconds = time_t(total >= 0 ? total / 1000 : (total - 999) / 1000)
        let fraction = Int32(total - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
            + (milliseconds ? ".\(pad(fraction, 3))Z" : "Z")
    }
}
