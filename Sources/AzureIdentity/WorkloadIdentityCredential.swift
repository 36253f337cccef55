import AzureCore
import Foundation

/// Authenticates with workload identity federation (AKS workload identity, GitHub Actions OIDC): a token issued
/// by another identity provider, read from a file, is exchanged for an Entra ID token.
///
/// The file is read on every token request because the platform rotates it (AKS every hour or so).
public struct WorkloadIdentityCredential: TokenCredential, CustomStringConvertible {
    let client: EntraTokenClient
    let tokenFilePath: String
    private let cache = TokenCache()

    /// - Throws: ``AzureError`` `.invalidArgument` for a malformed tenant ID, an empty client ID or token file
    ///   path, or a non-https authority.
    public init(
        tenantID: String, clientID: String, tokenFilePath: String, options: TokenCredentialOptions = .init(),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        guard !tokenFilePath.isEmpty else {
            throw AzureError(.invalidArgument, "WorkloadIdentityCredential: the token file path is empty")
        }
        client = try EntraTokenClient(
            credentialName: "WorkloadIdentityCredential", tenantID: tenantID, clientID: clientID, options: options,
            environment: environment)
        self.tokenFilePath = tokenFilePath
    }

    /// The configuration AKS injects: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`.
    ///
    /// - Throws: ``AzureError`` `.credentialUnavailable` naming the first variable that is not set.
    public init(options: TokenCredentialOptions = .init(),
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        var values: [String] = []
        for name in ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"] {
            guard let value = environment[name], !value.isEmpty else {
                throw AzureError(.credentialUnavailable, "WorkloadIdentityCredential: \(name) is not set")
            }
            values.append(value)
        }
        try self.init(tenantID: values[0], clientID: values[1], tokenFilePath: values[2], options: options,
                      environment: environment)
    }

    public func token(for scopes: [String]) async throws -> AccessToken {
        try await token(for: scopes, tenantID: nil)
    }

    /// A token from `tenantID` (the credential's own when nil; another only when additionally allowed).
    public func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
        let client = client
        let path = tokenFilePath
        let tenant = try client.resolveTenant(tenantID)
        return try await cache.token(for: scopes, tenantID: tenant) {
            guard let data = FileManager.default.contents(atPath: path),
                let assertion = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
                !assertion.isEmpty
            else {
                throw AzureError(
                    .authentication, "WorkloadIdentityCredential authentication failed: cannot read a token from '\(path)'")
            }
            return try await client.requestToken(
                tenant: tenant, scopes: scopes,
                form: [
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion),
                ])
        }
    }

    public var description: String {
        "WorkloadIdentityCredential(tenantID: \(client.tenantID), clientID: \(client.clientID), "
            + "tokenFilePath: \(tokenFilePath))"
    }
}
