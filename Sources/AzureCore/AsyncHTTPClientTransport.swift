import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The production transport: AsyncHTTPClient with pooled connections.
///
/// Its timeouts are ``TransportTimeouts``: `KUMO_CONNECT_TIMEOUT` and `KUMO_READ_TIMEOUT` (seconds) when set,
/// else 10 s to connect and 60 s without bytes; ``ClientOptions/connectTimeout`` and
/// ``ClientOptions/readTimeout`` override them per client. A failure names the request (method and URL, the
/// SAS signature redacted) and its cause in words: "connection refused by 127.0.0.1:10000", "timed out
/// connecting to host:443 after 10 s", "no bytes from the server for 60 s", "host not found".
public struct AsyncHTTPClientTransport: HTTPTransport {
    let client: HTTPClient
    /// The timeouts `client` applies; nil for a caller's own client, whose configuration is not visible.
    public let timeouts: TransportTimeouts?
    /// What a client with other timeouts needs; nil for a caller's own client, which is used as it is.
    private let trust: Trust?

    struct Trust: Sendable, Hashable {
        /// The extra CA files, sorted: with `timeouts`, the key of the shared clients.
        var authorities: [String]
        var tls: TLSConfiguration?

        static func == (lhs: Trust, rhs: Trust) -> Bool { lhs.authorities == rhs.authorities }
        func hash(into hasher: inout Hasher) { hasher.combine(authorities) }
    }

    private struct ClientKey: Hashable {
        var trust: Trust
        var timeouts: TransportTimeouts
    }

    /// One HTTP client per distinct set of extra CA files and timeouts, shared by every transport that wants
    /// that set, so connections are pooled instead of opened per request. They live as long as the process,
    /// like `HTTPClient.shared`.
    private static let clients = Mutex<[ClientKey: HTTPClient]>([:])

    /// The shared client with the environment's timeouts (``environmentTimeouts``).
    public init() {
        self.init(trust: Trust(authorities: [], tls: nil), timeouts: Self.environmentTimeouts)
    }

    /// The shared client with `timeouts`.
    public init(timeouts: TransportTimeouts) {
        self.init(trust: Trust(authorities: [], tls: nil), timeouts: timeouts)
    }

    /// Uses `client` as it is: its own timeouts apply, and ``ClientOptions/connectTimeout`` and
    /// ``ClientOptions/readTimeout`` do not.
    public init(client: HTTPClient) {
        self.client = client
        self.timeouts = nil
        self.trust = nil
    }

    init(trust: Trust, timeouts: TransportTimeouts) {
        self.client = Self.client(for: ClientKey(trust: trust, timeouts: timeouts))
        self.timeouts = timeouts
        self.trust = trust
    }

    /// `KUMO_CONNECT_TIMEOUT` and `KUMO_READ_TIMEOUT`, read once per process. An invalid value is logged as a
    /// warning naming the variable and replaced by the default, since a transport made without `try` cannot
    /// throw; ``fromEnvironment(_:)`` throws instead.
    public static let environmentTimeouts: TransportTimeouts = {
        let (timeouts, problems) = TransportTimeouts.parse(ProcessInfo.processInfo.environment)
        if !problems.isEmpty {
            let logger = Logger(label: "kumo.azure")
            for problem in problems { logger.warning("\(problem.message)") }
        }
        return timeouts
    }()

    /// AsyncHTTPClient's browser-like defaults with ``environmentTimeouts``, except that a connection that
    /// cannot be established fails the try at once.
    public static var defaultConfiguration: HTTPClient.Configuration { configuration(timeouts: environmentTimeouts) }

    /// ``RetryPolicy`` retries connection failures with backoff and logs each retry; left to retry on its own,
    /// the connection pool keeps trying silently until the connect timeout on every try, so an unreachable
    /// endpoint took minutes to report.
    static func configuration(timeouts: TransportTimeouts, tls: TLSConfiguration? = nil) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        // A stalled upload (the server stops reading) is as silent as a stalled download, so the write side
        // gets the same bound.
        configuration.timeout = .init(
            connect: timeAmount(timeouts.connect), read: timeAmount(timeouts.read), write: timeAmount(timeouts.read))
        if let tls { configuration.tlsConfiguration = tls }
        return configuration
    }

    /// The client of the process with the environment's timeouts and no extra CAs.
    public static var sharedClient: HTTPClient {
        client(for: ClientKey(trust: Trust(authorities: [], tls: nil), timeouts: environmentTimeouts))
    }

    private static func client(for key: ClientKey) -> HTTPClient {
        if let existing = clients.withLock({ $0[key] }) { return existing }
        let configuration = configuration(timeouts: key.timeouts, tls: key.trust.tls)
        return clients.withLock { clients in
            if let existing = clients[key] { return existing }
            let created = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[key] = created
            return created
        }
    }

    public func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse {
        try await send(request, options: TransportRequestOptions(timeout: timeout))
    }

    public func send(_ request: AzureHTTPRequest, options: TransportRequestOptions) async throws -> AzureHTTPResponse {
        var client = self.client
        var timeouts = self.timeouts
        if let trust, let base = self.timeouts {
            let wanted = TransportTimeouts(
                connect: options.connectTimeout ?? base.connect, read: options.readTimeout ?? base.read)
            if wanted != base {
                client = Self.client(for: ClientKey(trust: trust, timeouts: wanted))
                timeouts = wanted
            }
        }
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
            // Without a per-try timeout the connect and read timeouts bound the try; a day is AsyncHTTPClient's
            // stand-in for "no deadline".
            response = try await client.execute(outgoing, timeout: options.timeout.map(Self.timeAmount) ?? .hours(24))
        } catch {
            throw RetryPolicy.map(error, request: request, timeouts: timeouts, perTryTimeout: options.timeout)
        }
        var headers = HTTPHeaderFields()
        for header in response.headers { appendHeader(&headers, header.name, header.value) }
        let perTryTimeout = options.timeout
        let appliedTimeouts = timeouts
        // Only the method and URL are needed to name the request; the upload body need not outlive the try.
        let named = AzureHTTPRequest(method: request.method, url: request.url)
        let body = HTTPResponseBody(response.body) { error in
            RetryPolicy.map(error, request: named, timeouts: appliedTimeouts, perTryTimeout: perTryTimeout)
        }
        return AzureHTTPResponse(statusCode: Int(response.status.code), headers: headers, body: body)
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    private func appendHeader(_ headers: inout HTTPHeaderFields, _ name: String, _ value: String) {
        if let existing = headers[name] { headers[name] = existing + ", " + value } else { headers[name] = value }
    }
}
