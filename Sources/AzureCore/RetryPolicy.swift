import Foundation
import Logging

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
    /// Where each retry is logged, at warning level; nil for the client's logger (``ClientOptions/logger``,
    /// set by ``HTTPPipeline/standard(credential:options:transport:)``), else `kumo.azure`.
    public var logger: Logger?

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
                let wait = delay(attempt: attempt, serverHint: Self.retryAfter(response.headers))
                logRetry(request, wait: wait, attempt: attempt, cause: Self.statusCause(response))
                try await sleep(wait)
            case .failure(let error):
                let mapped = Self.map(error, request: request)
                guard canRetry, mapped.isRetriable else { throw mapped }
                let wait = delay(attempt: attempt, serverHint: nil)
                logRetry(request, wait: wait, attempt: attempt, cause: Self.failureCause(mapped, request: request))
                try await sleep(wait)
            }
            attempt += 1
        }
    }

    /// A warning, because a retry is the only sign of an endpoint that refuses, stalls or sheds load before the
    /// last try fails: `retrying PUT http://127.0.0.1:10000/devstoreaccount1/c/x in 1.6 s after connection
    /// refused by 127.0.0.1:10000 (retry 2 of 3)`.
    private func logRetry(_ request: AzureHTTPRequest, wait: Duration, attempt: Int, cause: String) {
        let logger = self.logger ?? Logger(label: "kumo.azure")
        let line = "retrying \(Self.targetDescription(request)) in \(wait.spokenSeconds) after \(cause) "
            + "(retry \(attempt + 1) of \(maxRetries))"
        logger.warning("\(Redaction.redact(line))")
    }

    /// `HTTP 503 ServerBusy (request id ...)`.
    static func statusCause(_ response: AzureHTTPResponse) -> String {
        var cause = "HTTP \(response.statusCode)"
        if let code = response.headers["x-ms-error-code"], !code.isEmpty { cause += " \(code)" }
        if let requestID = response.requestID, !requestID.isEmpty { cause += " (request id \(requestID))" }
        return cause
    }

    /// The error's cause without the request it names (`PUT <url>: `), which the retry line already shows. The
    /// URL in the error may differ from the one here: policies after this one add query parameters (a SAS).
    static func failureCause(_ error: AzureError, request: AzureHTTPRequest) -> String {
        let message = error.message
        let method = request.method.rawValue + " "
        guard message.hasPrefix(method) else { return message }
        let rest = message.dropFirst(method.count)
        // A URL holds no spaces, so the first ": " after it ends the request's name.
        guard let separator = rest.range(of: ": "), !rest[..<separator.lowerBound].contains(" ") else { return message }
        return String(rest[separator.upperBound...])
    }

    /// How long to wait before retry number `attempt + 1`.
    package func delay(attempt: Int, serverHint: Duration?) -> Duration {
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

    private func sleep(_ wait: Duration) async throws {
        do {
            try await Task.sleep(for: wait)
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
    /// request it concerns (method and URL, with the SAS signature redacted) and the cause in words.
    ///
    /// - Parameters:
    ///   - timeouts: the transport's timeouts, so a timeout says how long it waited.
    ///   - perTryTimeout: the per-try timeout of the try, for the same reason.
    public static func map(
        _ error: any Error, request: AzureHTTPRequest? = nil, timeouts: TransportTimeouts? = nil,
        perTryTimeout: Duration? = nil
    ) -> AzureError {
        if let azure = error as? AzureError { return azure }
        // AzureError redacts whatever it stores; the structural redaction of the URL comes first so a secret
        // query parameter is blanked whatever its encoding.
        let target = request.map { "\(targetDescription($0)): " } ?? ""
        let endpoint = request.map { TransportFailure.endpoint(of: $0.url) } ?? "the server"
        let failure = TransportFailure.describe(error, endpoint: endpoint, timeouts: timeouts, perTryTimeout: perTryTimeout)
        return AzureError(failure.code, target + failure.cause, isRetriable: failure.isRetriable)
    }

    /// `PUT https://host:port/path?query`, secrets redacted: how logs and errors name a request.
    static func targetDescription(_ request: AzureHTTPRequest) -> String {
        "\(request.method.rawValue) \(request.url.redacted)"
    }
}
