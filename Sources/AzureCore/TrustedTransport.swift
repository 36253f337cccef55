import AsyncHTTPClient
import Foundation
import NIOSSL

extension AsyncHTTPClientTransport {
    /// A transport that trusts the system's root certificates plus the CAs in `pemFilePaths`, for endpoints
    /// with a private CA such as the local emulator's https listener (`<data directory>/tls/ca.pem`). One HTTP
    /// client is shared per distinct set of files and timeouts.
    ///
    /// - Parameter timeouts: nil for ``environmentTimeouts``.
    /// - Throws: ``AzureError`` `.invalidArgument` naming a file that cannot be read or holds no PEM certificate.
    public init(trustingCertificateAuthorities pemFilePaths: [String], timeouts: TransportTimeouts? = nil) throws {
        let key = pemFilePaths.sorted()
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
        var tls: TLSConfiguration?
        if !certificates.isEmpty {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.additionalTrustRoots = [.certificates(certificates)]
            tls = configuration
        }
        self.init(trust: Trust(authorities: key, tls: tls), timeouts: timeouts ?? Self.environmentTimeouts)
    }

    /// The transport the `kumo` CLI uses: timeouts from `KUMO_CONNECT_TIMEOUT` and `KUMO_READ_TIMEOUT`
    /// (seconds; 10 and 60 when unset), trusting the system roots plus the CA files in `KUMO_CA_FILE` (a path,
    /// or several separated by `:`), e.g. the emulator's `<data directory>/tls/ca.pem`.
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` naming the variable when a timeout is not a positive number
    ///   of seconds, or naming the file when a `KUMO_CA_FILE` file cannot be read.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> AsyncHTTPClientTransport
    {
        let timeouts = try TransportTimeouts.fromEnvironment(environment)
        let paths = (environment["KUMO_CA_FILE"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        return try AsyncHTTPClientTransport(trustingCertificateAuthorities: paths, timeouts: timeouts)
    }
}
