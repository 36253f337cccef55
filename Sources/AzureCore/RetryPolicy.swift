import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Retries requests that failed in a way that may pass: 408, 429, 500, 502, 503, 504, and connection
/// failures and timeouts. Waits grow exponentially with jitter, and a `Retry-After` or `x-ms-retry-after-ms`
/// from the service takes precedence. Every request Kumo's clients send is safe to repeat (reads, idempotent
/// writes, and writes guarded by conditions).
public struct RetryPolicy: HTTPPipelinePolicy {
    public enum Mode: Sendable, Equatable {
        case exponential
        case fixed
    }

    /// Retries after the first try.
    public var maxRetries: Int
    public var mode: Mode
    /// The first wait; exponential waits double from here.
    public var delay: Duration
    public var maxDelay: Duration
    /// Stop retrying once this much time has passed since the first try.
    public var overallTimeout: Duration?
    /// Statuses worth another try.
    public var retriableStatusCodes: Set<Int> = [408, 429, 500, 502, 503, 504]

    public init(maxRetries: Int, mode: Mode = .exponential, delay: Duration = .milliseconds(800),
                maxDelay: Duration = .seconds(60), overallTimeout: Duration? = nil) {
        self.maxRetries = maxRetries
        self.mode = mode
        self.delay = delay
        self.maxDelay = maxDelay
        self.overallTimeout = overallTimeout
    }

    /// Three retries, exponential from 0.8 s, as Azure SDKs default to.
    public static let `default` = RetryPolicy(maxRetries: 3)
    /// One try only.
    public static let noRetry = RetryPolicy(maxRetries: 0)
    public static func exponential(maxRetries: Int, delay: Duration = .milliseconds(800), maxDelay: Duration = .seconds(60)) -> RetryPolicy {
        RetryPolicy(maxRetries: maxRetries, mode: .exponential, delay: delay, maxDelay: maxDelay)
    }

    public func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        let started = ContinuousClock.now
        var attempt = 0
        while true {
            try checkCancellation()
            let outcome: Result<AzureHTTPResponse, any Error>
            do {
                outcome = .success(try await next(request))
            } catch {
                outcome = .failure(error)
            }
            let canRetry = attempt < maxRetries
                && overallTimeout.map { ContinuousClock.now - started < $0 } ?? true
            switch outcome {
            case .success(let response):
                guard canRetry, retriableStatusCodes.contains(response.statusCode) else { return response }
                // Drain the error body so the connection can be reused.
                _ = try? await response.body.collect(upTo: 1 << 20)
                try await wait(attempt: attempt, serverHint: Self.retryAfter(response.headers))
            case .failure(let error):
                let mapped = Self.map(error, request: request)
                guard canRetry, mapped.isRetriable else { throw mapped }
                try await wait(attempt: attempt, serverHint: nil)
            }
            attempt += 1
        }
    }

    /// How long to wait before retry number `attempt + 1`.
    func delay(attempt: Int, serverHint: Duration?) -> Duration {
        if let serverHint { return min(serverHint, maxDelay) }
        switch mode {
        case .fixed: return delay
        case .exponential:
            let base = delay * (1 << min(attempt, 20))
            // Jitter in [0.8, 1.2] spreads clients that failed together.
            let jittered = base * Double.random(in: 0.8...1.2)
            return min(jittered, maxDelay)
        }
    }

    private func wait(attempt: Int, serverHint: Duration?) async throws {
        do {
            try await Task.sleep(for: delay(attempt: attempt, serverHint: serverHint))
        } catch {
            throw AzureError(.cancelled, "the request was cancelled while waiting to retry")
        }
    }

    private func checkCancellation() throws {
        if Task.isCancelled { throw AzureError(.cancelled, "the request was cancelled") }
    }

    /// `x-ms-retry-after-ms`, else `Retry-After` in seconds.
    static func retryAfter(_ headers: HTTPHeaderFields) -> Duration? {
        if let ms = headers["x-ms-retry-after-ms"].flatMap(Int.init), ms >= 0 { return .milliseconds(ms) }
        if let seconds = headers["Retry-After"].flatMap(Int.init), seconds >= 0 { return .seconds(seconds) }
        if let date = headers["Retry-After"].flatMap(HTTPDateFormat.parse) {
            return .milliseconds(max(0, Int(date.timeIntervalSinceNow * 1000)))
        }
        return nil
    }

    /// Turns a transport failure into an ``AzureError`` that says whether another try may help and names the
    /// request it concerns (method and URL, with the SAS signature redacted).
    static func map(_ error: any Error, request: AzureHTTPRequest? = nil) -> AzureError {
        if let azure = error as? AzureError { return azure }
        // AzureError redacts whatever it stores; the structural redaction of the URL comes first so a secret
        // query parameter is blanked whatever its encoding.
        let target = request.map { "\($0.method.rawValue) \($0.url.redacted): " } ?? ""
        if error is CancellationError { return AzureError(.cancelled, "\(target)the request was cancelled") }
        if let client = error as? HTTPClientError {
            if [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(client) {
                return AzureError(.timeout, "\(target)the request timed out (\(client))", isRetriable: true)
            }
            if client == .cancelled { return AzureError(.cancelled, "\(target)the request was cancelled") }
            if client == .invalidURL || client == .emptyHost {
                return AzureError(.invalidArgument, "\(target)the request URL is invalid (\(client))")
            }
            return AzureError(.transport, "\(target)the connection failed: \(client)", isRetriable: true)
        }
        return AzureError(.transport, "\(target)the connection failed: \(error)", isRetriable: true)
    }
}

/// The production transport: AsyncHTTPClient with a shared connection pool.
public struct AsyncHTTPClientTransport: HTTPTransport {
    let client: HTTPClient

    /// Uses `client`, or the process-wide client of Kumo's Azure clients (``defaultConfiguration``).
    public init(client: HTTPClient = AsyncHTTPClientTransport.sharedClient) {
        self.client = client
    }

    /// AsyncHTTPClient's browser-like defaults, except that a connection that cannot be established fails the
    /// try at once. ``RetryPolicy`` already retries connection failures with backoff; left to retry on its
    /// own, the connection pool keeps trying until the connect timeout (90 s) on every try, so an unreachable
    /// endpoint took minutes to report.
    public static var defaultConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// One client for the process, like `HTTPClient.shared` but with ``defaultConfiguration``.
    public static let sharedClient = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: defaultConfiguration)

    public func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse {
        var outgoing = HTTPClientRequest(url: request.url.string)
        outgoing.method = .init(rawValue: request.method.rawValue)
        for (name, value) in request.headers.fields where name.lowercased() != "content-length" {
            outgoing.headers.add(name: name, value: value)
        }
        if let body = request.body {
            outgoing.body = .bytes(body)
        } else if request.method == .put || request.method == .post || request.method == .patch {
            outgoing.headers.add(name: "Content-Length", value: "0")
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(outgoing, timeout: timeout.map(Self.timeAmount) ?? .hours(24))
        } catch {
            throw RetryPolicy.map(error, request: request)
        }
        var headers = HTTPHeaderFields()
        for header in response.headers { appendHeader(&headers, header.name, header.value) }
        return AzureHTTPResponse(statusCode: Int(response.status.code), headers: headers, body: HTTPResponseBody(response.body))
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    private func appendHeader(_ headers: inout HTTPHeaderFields, _ name: String, _ value: String) {
        if let existing = headers[name] { headers[name] = existing + ", " + value } else { headers[name] = value }
    }
}
