import AzureCore
import AzureEmulator
import AzureIdentity
import EmulatorTestSupport
import Foundation
import Synchronization

final class TemporaryDirectory: Sendable {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-identity-\(UUID().uuidString.prefix(12))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs the emulator in this process on free ports (http and https) for the duration of `body`, which gets
/// its endpoints and a transport trusting its CA.
func withEmulator<T: Sendable>(
    configure: (inout EmulatorConfiguration) -> Void = { _ in },
    _ body: @Sendable (EmulatorEndpoints, AsyncHTTPClientTransport) async throws -> T
) async throws -> T {
    let directory = TemporaryDirectory()
    var configuration = EmulatorConfiguration(blobPort: 0, dataDirectory: directory.path)
    configure(&configuration)
    return try await withInProcessEmulator(configuration) { endpoints in
        let transport = try AsyncHTTPClientTransport(trustingCertificateAuthorities: [endpoints.caCertificatePath])
        return try await body(endpoints, transport)
    }
}

func emulatorOptions(_ endpoints: EmulatorEndpoints, transport: any HTTPTransport) -> TokenCredentialOptions {
    var options = TokenCredentialOptions(authorityHost: URL(string: endpoints.authorityHost)!, transport: transport)
    options.retry = .noRetry
    return options
}

/// Passes requests on to a real transport, counting token requests (for single-flight checks against the
/// real issuer).
final class CountingTransport: HTTPTransport {
    let inner: any HTTPTransport
    private let counts = Mutex<[String: Int]>([:])

    init(_ inner: any HTTPTransport) { self.inner = inner }

    func count(pathSuffix: String) -> Int {
        counts.withLock { $0.filter { $0.key.hasSuffix(pathSuffix) }.values.reduce(0, +) }
    }

    func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse {
        counts.withLock { $0["\(request.method.rawValue) \(request.url.encodedPath)", default: 0] += 1 }
        return try await inner.send(request, timeout: timeout)
    }
}
