import AzureCore
import Foundation
import Logging

/// The Entra ID authorities of Azure's clouds.
public enum AzureAuthorityHosts {
    public static let azurePublicCloud = URL(string: "https://login.microsoftonline.com")!
    public static let azureGovernment = URL(string: "https://login.microsoftonline.us")!
    public static let azureChina = URL(string: "https://login.chinacloudapi.cn")!
}

/// Options every credential takes: where Entra ID is, and how requests to it are sent.
public struct TokenCredentialOptions: Sendable {
    /// The Entra ID authority, e.g. ``AzureAuthorityHosts/azurePublicCloud``. When nil, the credential uses
    /// `AZURE_AUTHORITY_HOST` from its environment, else the public cloud. Must be https.
    public var authorityHost: URL?
    /// Sends the token requests; use `AsyncHTTPClientTransport(trustingCertificateAuthorities:)` for an
    /// authority with a private CA (the emulator).
    public var transport: any HTTPTransport
    public var retry: RetryPolicy = .default
    /// Longest one token request may take.
    public var perTryTimeout: Duration? = .seconds(30)
    public var logger: Logger = Logger(label: "kumo.azure.identity")
    /// Tenants besides the credential's own that a request may name (a Key Vault in another tenant); `"*"`
    /// allows any. Empty by default, so a service cannot steer the credential to another tenant.
    public var additionallyAllowedTenants: [String] = []

    public init(authorityHost: URL? = nil, transport: any HTTPTransport = AsyncHTTPClientTransport()) {
        self.authorityHost = authorityHost
        self.transport = transport
    }

    /// The authority to use: the option, else `AZURE_AUTHORITY_HOST`, else the public cloud; refusing anything
    /// but https, because client secrets and assertions travel to it.
    func resolvedAuthorityHost(credentialName: String, environment: [String: String]) throws -> URL {
        let authority: URL
        if let authorityHost {
            authority = authorityHost
        } else if let value = environment["AZURE_AUTHORITY_HOST"], !value.isEmpty {
            guard let parsed = URL(string: value.hasPrefix("http") ? value : "https://\(value)") else {
                throw AzureError(.invalidArgument, "\(credentialName): AZURE_AUTHORITY_HOST '\(value)' is not a URL")
            }
            authority = parsed
        } else {
            authority = AzureAuthorityHosts.azurePublicCloud
        }
        guard authority.scheme?.lowercased() == "https", authority.host != nil else {
            throw AzureError(
                .invalidArgument,
                "\(credentialName): the authority host '\(authority.absoluteString)' must be an https URL")
        }
        return authority
    }

    /// The pipeline for token requests: request id, user agent, retry, logging. No authentication policy: the
    /// credentials put their secrets in the form body themselves.
    func pipeline(perTryTimeout override: Duration?? = .none, retry overrideRetry: RetryPolicy? = nil) -> HTTPPipeline {
        HTTPPipeline(
            policies: [
                RequestIDPolicy(), TelemetryPolicy(serviceVersion: nil), overrideRetry ?? retry,
                LoggingPolicy(logger: logger),
            ],
            transport: transport, perTryTimeout: override ?? perTryTimeout)
    }
}
