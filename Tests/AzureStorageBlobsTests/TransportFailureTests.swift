import AsyncHTTPClient
import AzureCore
import AzureEmulator
import AzureStorageBlobs
import EmulatorTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// What an operator sees when an endpoint refuses, stalls or sheds load: errors that name the request and the
/// cause in words, and a warning per retry, never a secret.
@Suite("Transport failures name the endpoint and the cause; retries are logged")
struct TransportFailureTests {
    static let signature = "SIGSECRET%2Bab%2F%3D"
    static let sas = "sv=2023-11-03&sp=rwl&sig=\(signature)"

    @Test func aRefusedConnectionNamesHostPortAndCause() async throws {
        let port = try closedLoopbackPort()
        var options = ClientOptions()
        options.retry = .noRetry
        let service = try BlobServiceClient(
            endpoint: URL(string: "http://127.0.0.1:\(port)/devstoreaccount1")!, credential: .sas(Self.sas),
            options: options)
        let error = try await #require(throws: AzureError.self) { try await service.containerClient("backups").create() }
        #expect(error.code == .transport)
        #expect(error.isRetriable)
        #expect(
            error.message == "PUT http://127.0.0.1:\(port)/devstoreaccount1/backups?restype=container&sv=2023-11-03&sp=rwl"
                + "&sig=REDACTED: connection refused by 127.0.0.1:\(port)", "\(error)")
        #expect(!error.description.contains("SIGSECRET"))
        #expect(!error.description.contains("errno") && !error.description.contains("error set"), "\(error)")
    }

    @Test func aServerThatNeverAnswersHitsTheReadTimeout() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        var options = ClientOptions()
        options.retry = .noRetry
        options.readTimeout = .seconds(1)
        let service = try BlobServiceClient(
            endpoint: URL(string: "http://127.0.0.1:\(listener.port)/devstoreaccount1")!, credential: .sas(Self.sas),
            options: options)
        let error = try await #require(throws: AzureError.self) {
            _ = try await service.containerClient("backups").blobClient("db/x.sst").properties()
        }
        #expect(error.code == .timeout)
        #expect(error.isRetriable)
        #expect(
            error.message == "HEAD http://127.0.0.1:\(listener.port)/devstoreaccount1/backups/db/x.sst?sv=2023-11-03"
                + "&sp=rwl&sig=REDACTED: no bytes from the server for 1 s (read timeout)", "\(error)")
    }

    /// The request carries its SAS in the URL itself (as a SAS URL handed to the pipeline does), so the retry
    /// policy sees the signature and must redact it.
    @Test func retriesAreWarningsNamingRequestWaitAndAttemptWithoutSecrets() async throws {
        let port = try closedLoopbackPort()
        let recorder = LogRecorder()
        let pipeline = HTTPPipeline(
            policies: [RetryPolicy.exponential(maxRetries: 3, delay: .milliseconds(5)).logging(to: recorder.logger)],
            transport: AsyncHTTPClientTransport())
        var query = Self.sas.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1)
            return (name: String(parts[0]), value: String(parts[1]).removingPercentEncoding!)
        }
        query.insert((name: "comp", value: "block"), at: 0)
        let request = AzureHTTPRequest(
            method: .put, url: RequestURL(origin: "http://127.0.0.1:\(port)", encodedPath: "/devstoreaccount1/c/x", query: query))
        let error = try await #require(throws: AzureError.self) { try await pipeline.send(request) }
        #expect(error.message.hasSuffix("connection refused by 127.0.0.1:\(port)"))

        let lines = recorder.lines
        #expect(lines.count == 3, "\(lines)")
        let url = "http://127.0.0.1:\(port)/devstoreaccount1/c/x?comp=block&sv=2023-11-03&sp=rwl&sig=REDACTED"
        for (index, line) in lines.enumerated() {
            #expect(line.level == .warning)
            #expect(line.text.hasPrefix("retrying PUT \(url) in "), "\(line.text)")
            #expect(line.text.hasSuffix(" ms after connection refused by 127.0.0.1:\(port) (retry \(index + 1) of 3)"), "\(line.text)")
        }
        let secret = Self.signature.removingPercentEncoding!
        #expect(!lines.contains { $0.text.contains("SIGSECRET") || $0.text.contains(secret) })
        #expect(!error.description.contains("SIGSECRET"))
    }

    /// Status retries name the status and Azure's error code (the emulator answers 500 InternalError or 503
    /// ServerBusy, half each).
    @Test func statusRetriesNameStatusAndErrorCode() async throws {
        let recorder = LogRecorder()
        var options = ClientOptions()
        options.retry = .exponential(maxRetries: 2, delay: .milliseconds(5))
        options.logger = recorder.logger
        try await withEmulator(options: options, configure: { configuration in
            configuration.faults = FaultInjection(errorRate: 1, operations: ["create-container"])
        }) { service, endpoint in
            let error = try await #require(throws: AzureError.self) { try await service.containerClient("busy").create() }
            #expect(error.statusCode == 500 || error.statusCode == 503)
            let lines = recorder.lines
            #expect(lines.count == 2, "\(lines)")
            for (index, line) in lines.enumerated() {
                #expect(line.level == .warning)
                #expect(line.text.hasPrefix("retrying PUT \(endpoint)/busy?restype=container in "), "\(line.text)")
                #expect(
                    line.text.contains(" after HTTP 500 InternalError (request id ")
                        || line.text.contains(" after HTTP 503 ServerBusy (request id "), "\(line.text)")
                #expect(line.text.hasSuffix("(retry \(index + 1) of 2)"), "\(line.text)")
            }
        }
    }

    @Test func anUnknownHostIsNamed() async throws {
        var options = ClientOptions()
        options.retry = .noRetry
        let service = try BlobServiceClient(
            endpoint: URL(string: "https://nosuch.invalid/")!, credential: .sas(Self.sas), options: options)
        let error = try await #require(throws: AzureError.self) { try await service.containerClient("backups").create() }
        #expect(error.code == .transport)
        #expect(error.message.hasSuffix("sig=REDACTED: host not found: nosuch.invalid"), "\(error)")
    }

    /// The emulator's https listener presents a certificate from its own CA, which this transport does not
    /// trust: the error says so, and no retry is attempted since every try would meet the same certificate.
    @Test func anUntrustedCertificateIsNamedAndNotRetried() async throws {
        let directory = TemporaryDirectory()
        try await withInProcessEmulator(EmulatorConfiguration(blobPort: 0, dataDirectory: directory.path)) { endpoints in
            let recorder = LogRecorder()
            var options = ClientOptions()
            options.retry = .exponential(maxRetries: 2, delay: .milliseconds(5))
            options.logger = recorder.logger
            let service = try BlobServiceClient(
                endpoint: URL(string: "https://127.0.0.1:\(endpoints.httpsPort)/devstoreaccount1")!,
                credential: .sas(Self.sas), options: options)
            let error = try await #require(throws: AzureError.self) { try await service.containerClient("backups").create() }
            #expect(error.code == .transport && !error.isRetriable)
            #expect(
                error.message.contains(
                    "sig=REDACTED: the TLS certificate of 127.0.0.1:\(endpoints.httpsPort) is not trusted (for a private CA"),
                "\(error)")
            #expect(recorder.lines.isEmpty, "\(recorder.lines)")
        }
    }

    @Test func timeoutsNameHowLongTheTransportWaited() {
        let request = AzureHTTPRequest(
            method: .get, url: RequestURL(origin: "https://acct.blob.core.windows.net", encodedPath: "/c/x"))
        let timeouts = TransportTimeouts(connect: .seconds(10), read: .seconds(60))
        let connect = RetryPolicy.map(HTTPClientError.connectTimeout, request: request, timeouts: timeouts)
        #expect(connect.code == .timeout)
        #expect(connect.message == "GET https://acct.blob.core.windows.net/c/x: timed out connecting to acct.blob.core.windows.net:443 after 10 s")
        let read = RetryPolicy.map(HTTPClientError.readTimeout, request: request, timeouts: timeouts)
        #expect(read.message == "GET https://acct.blob.core.windows.net/c/x: no bytes from the server for 60 s (read timeout)")
    }

    @Test func timeoutsFromTheEnvironment() throws {
        #expect(try TransportTimeouts.fromEnvironment([:]) == TransportTimeouts(connect: .seconds(10), read: .seconds(60)))
        let set = try TransportTimeouts.fromEnvironment(["KUMO_CONNECT_TIMEOUT": "2.5", "KUMO_READ_TIMEOUT": "300s"])
        #expect(set == TransportTimeouts(connect: .milliseconds(2500), read: .seconds(300)))
        for (variable, value) in [("KUMO_CONNECT_TIMEOUT", "ten"), ("KUMO_READ_TIMEOUT", "-1"), ("KUMO_READ_TIMEOUT", "0")] {
            let error = try #require(throws: AzureError.self) { try TransportTimeouts.fromEnvironment([variable: value]) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("\(variable)='\(value)' is not a timeout in seconds"), "\(error.message)")
            let fromTransport = try #require(throws: AzureError.self) {
                try AsyncHTTPClientTransport.fromEnvironment([variable: value])
            }
            #expect(fromTransport.message == error.message)
        }
    }
}

extension RetryPolicy {
    fileprivate func logging(to logger: Logger) -> RetryPolicy {
        var policy = self
        policy.logger = logger
        return policy
    }
}

/// A port on 127.0.0.1 that nothing listens on: bound by the kernel's choice, then closed.
private func closedLoopbackPort() throws -> Int {
    let listener = try SilentListener(listening: false)
    listener.close()
    return listener.port
}

/// A TCP socket on 127.0.0.1 that listens but never accepts: the kernel completes the handshake and takes the
/// request into its buffers, and no byte ever comes back.
private final class SilentListener: Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let descriptor: Int32
    let port: Int

    init(listening: Bool = true) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure(description: "bind: errno \(errno)") }
        if listening { guard listen(descriptor, 16) == 0 else { throw Failure(description: "listen: errno \(errno)") } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw Failure(description: "getsockname: errno \(errno)") }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Foundation.close(descriptor) }
}

/// Keeps what a logger was given, for tests that check the exact lines an operator would read.
final class LogRecorder: Sendable {
    struct Line: Sendable, CustomStringConvertible {
        var level: Logger.Level
        var text: String
        var description: String { "[\(level)] \(text)" }
    }

    private let recorded = Mutex<[Line]>([])

    var lines: [Line] { recorded.withLock { $0 } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            // Only what an operator sees at the CLI's default level.
            guard event.level >= .warning else { return }
            recorder.recorded.withLock { $0.append(Line(level: event.level, text: event.message.description)) }
        }
    }
}
