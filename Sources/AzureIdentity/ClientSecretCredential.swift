import AzureCore
import Foundation

/// Authenticates a service principal (app registration) with its client secret, through the OAuth 2.0 client
/// credentials grant.
///
/// ```swift
/// let credential = try ClientSecretCredential(tenantID: tenant, clientID: appID, clientSecret: secret)
/// let blobs = try BlobServiceClient(endpoint: url, credential: .token(credential))
/// ```
public struct ClientSecretCredential: TokenCredential, CustomStringConvertible, CustomReflectable {
    let client: EntraTokenClient
    private let clientSecret: String
    private let cache = TokenCache()

    /// - Throws: ``AzureError`` `.invalidArgument` when the tenant ID is malformed, the client ID or secret is
    ///   empty, or the authority host is not https.
    public init(
        tenantID: String, clientID: String, clientSecret: String, options: TokenCredentialOptions = .init(),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        guard !clientSecret.isEmpty else {
            throw AzureError(.invalidArgument, "ClientSecretCredential: the client secret is empty")
        }
        client = try EntraTokenClient(
            credentialName: "ClientSecretCredential", tenantID: tenantID, clientID: clientID, options: options,
            environment: environment)
        self.clientSecret = clientSecret
    }

    /// A token for `scopes` (e.g. `https://storage.azure.com/.default`), cached until shortly before it expires.
    ///
    /// - Throws: ``AzureError`` `.authentication` with Entra's reason (e.g. `AADSTS7000215: Invalid client
    ///   secret provided`), or a transport error naming the authority.
    public func token(for scopes: [String]) async throws -> AccessToken {
        try await token(for: scopes, tenantID: nil)
    }

    /// A token from `tenantID` (the credential's own when nil; another only when additionally allowed).
    public func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
        let client = client
        let secret = clientSecret
        let tenant = try client.resolveTenant(tenantID)
        return try await cache.token(for: scopes, tenantID: tenant) {
            try await client.requestToken(tenant: tenant, scopes: scopes, form: [("client_secret", secret)])
        }
    }

    public var description: String {
        "ClientSecretCredential(tenantID: \(client.tenantID), clientID: \(client.clientID), clientSecret: REDACTED)"
    }

    /// `dump` and debuggers see the tenant and client, not the secret.
    public var customMirror: Mirror { Mirror(self, children: ["tenantID": client.tenantID, "clientID": client.clientID]) }
}
