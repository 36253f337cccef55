import AsyncHTTPClient
import Foundation
import NIOSSL
import Synchronization

extension AsyncHTTPClientTransport {
    /// One HTTP client per distinct set of extra CA files, shared by every transport that trusts that set, so
    /// connections are pooled instead of opened per request. They live as long as the process, like
    /// `HTTPClient.shared`.
    private static let clientsByTrustedAuthorities = Mutex<[[String]: HTTPClient]>([:])

    /// A transport that trusts the system's root certificates plus the CAs in `pemFilePaths`, for endpoints
    /// with a private CA such as the local emulator's https listener (`<data directory>/tls/ca.pem`).
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` naming a file that cannot be read or holds no PEM certificate.
    public init(trustingCertificateAuthorities pemFilePaths: [String]) throws {
        let key = pemFilePaths.sorted()
        if let existing = Self.clientsByTrustedAuthorities.withLock({ $0[key] }) {
            self.init(client: existing)
            return
        }
        var certificates: [NIOSSLCertificate] = []
        for path in key {
            do {
                let loaded = try NIOSSLCertificate.fromPEMFile(path)
                guard !loaded.isEmpty else { throw AzureError(.invalidArgument, "no certificate") }
                certificates += loaded
            } catch {
                throw AzureError(
                    .invalidArgument, "the CA file '\(path)' cannot be read as PEM certificates: \(error)")
            }
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.certificates(certificates)]
        var configuration = Self.defaultConfiguration
        configuration.tlsConfiguration = tls
        let client = Self.clientsByTrustedAuthorities.withLock { clients in
            if let existing = clients[key] { return existing }
            let created = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[key] = created
            return created
        }
        self.init(client: client)
    }

    /// The transport the `kumo` CLI uses: the shared client, or one that also trusts the CA file named by
    /// `KUMO_CA_FILE` (a path, or several separated by `:`), e.g. the emulator's `<data directory>/tls/ca.pem`.
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` when a `KUMO_CA_FILE` file cannot be read.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> AsyncHTTPClientTransport
    {
        let paths = (environment["KUMO_CA_FILE"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        return paths.isEmpty ? AsyncHTTPClientTransport() : try AsyncHTTPClientTransport(trustingCertificateAuthorities: paths)
    }
}
