import AzureCore
import Foundation

/// A parsed `WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="<resource>"` challenge, as
/// Key Vault answers an unauthenticated request.
package struct KeyVaultChallenge: Sendable, Equatable {
    /// `authorization` (or `authorization_uri`): the authority and tenant to get a token from.
    package var authorizationURI: String?
    /// `resource`, e.g. `https://vault.azure.net`.
    package var resource: String?
    /// `scope`, when the service names one instead of a resource.
    package var scope: String?

    /// The scopes to ask for: `scope`, else `<resource>/.default`.
    package var scopes: [String] {
        if let scope, !scope.isEmpty { return [scope] }
        guard let resource, !resource.isEmpty else { return [] }
        return [resource.hasSuffix("/") ? resource + ".default" : resource + "/.default"]
    }

    /// The tenant, the last path segment of the authorization URI.
    package var tenantID: String? {
        authorizationURI.flatMap { URL(string: $0)?.pathComponents.last(where: { $0 != "/" }) }
    }

    /// Parses a `Bearer` challenge; nil when the header holds no Bearer challenge with a resource or scope.
    package static func parse(_ header: String) -> KeyVaultChallenge? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bearer") else { return nil }
        var parameters: [String: String] = [:]
        var rest = Substring(trimmed.dropFirst("bearer".count))
        while true {
            rest = rest.drop(while: { $0 == " " || $0 == "," })
            guard let equals = rest.firstIndex(of: "=") else { break }
            let name = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: equals)...].drop(while: { $0 == " " })
            let value: Substring
            if rest.first == "\"" {
                let afterQuote = rest.dropFirst()
                let close = afterQuote.firstIndex(of: "\"") ?? afterQuote.endIndex
                value = afterQuote[..<close]
                rest = close < afterQuote.endIndex ? afterQuote[afterQuote.index(after: close)...] : afterQuote[close...]
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end]
                rest = rest[end...]
            }
            parameters[name] = value.trimmingCharacters(in: .whitespaces)
        }
        let challenge = KeyVaultChallenge(
            authorizationURI: parameters["authorization"] ?? parameters["authorization_uri"],
            resource: parameters["resource"], scope: parameters["scope"])
        return challenge.scopes.isEmpty ? nil : challenge
    }
}

/// Key Vault's challenge-based authentication, as Microsoft's Key Vault SDKs do it: the vault says which
/// resource (and tenant) its tokens must be for, so the client need not know the cloud in advance.
///
/// The first request to a vault goes without `Authorization` and without its body (which is kept aside); the
/// 401's challenge names the resource; the request is sent again with a token for `<resource>/.default`. The
/// challenge is remembered per vault, so later requests carry the token straight away; a later 401 (a token
/// revoked, a vault moved to another tenant) triggers one fresh challenge.
struct KeyVaultChallengePolicy: HTTPPipelinePolicy {
    let credential: any TokenCredential
    let challenges: ChallengeStore
    let tokens: TokenCache

    init(credential: any TokenCredential) {
        self.credential = credential
        challenges = ChallengeStore()
        tokens = TokenCache()
    }

    func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        try BearerTokenPolicy.requireSecureTransport(request.url)
        let vault = request.url.origin
        if let known = await challenges[vault] {
            let response = try await next(authorized(request, challenge: known))
            guard response.statusCode == 401, let fresh = try await verifiedChallenge(in: response, for: request.url) else {
                return response
            }
            await challenges.set(fresh, for: vault)
            await tokens.removeAll()
            return try await next(authorized(request, challenge: fresh))
        }
        var bare = request
        bare.body = nil
        bare.headers["Authorization"] = nil
        bare.headers["Content-Type"] = nil
        let response = try await next(bare)
        guard response.statusCode == 401 else { return response }
        guard let challenge = try await verifiedChallenge(in: response, for: request.url) else {
            throw AzureError(
                .authentication, "the Key Vault at \(vault) answered 401 without a Bearer challenge",
                statusCode: 401, requestID: response.requestID)
        }
        await challenges.set(challenge, for: vault)
        return try await next(authorized(request, challenge: challenge))
    }

    /// The request with a token for the challenge's scopes from its tenant (which the credential may refuse
    /// if it is not its own or additionally allowed).
    private func authorized(_ request: AzureHTTPRequest, challenge: KeyVaultChallenge) async throws -> AzureHTTPRequest {
        let credential = credential
        let scopes = challenge.scopes
        let tenantID = challenge.tenantID
        let token = try await tokens.token(for: scopes, tenantID: tenantID) {
            try await credential.token(for: scopes, tenantID: tenantID)
        }
        var request = request
        request.headers["Authorization"] = "Bearer \(token.token)"
        return request
    }

    /// The challenge of a 401, after checking that its resource belongs to the vault's domain, so a server
    /// cannot obtain a token for some other resource (skipped for loopback vaults: the local emulator names
    /// Azure's `https://vault.azure.net`).
    private func verifiedChallenge(in response: AzureHTTPResponse, for url: RequestURL) async throws -> KeyVaultChallenge? {
        _ = try? await response.body.collect(upTo: 1 << 20)
        guard let header = response.headers["WWW-Authenticate"], let challenge = KeyVaultChallenge.parse(header) else {
            return nil
        }
        guard let vaultHost = URL(string: url.origin)?.host?.lowercased() else { return challenge }
        if ["127.0.0.1", "localhost", "::1"].contains(vaultHost) { return challenge }
        let resourceHost = (challenge.resource ?? challenge.scope).flatMap { URL(string: $0)?.host?.lowercased() }
        guard let resourceHost, vaultHost == resourceHost || vaultHost.hasSuffix("." + resourceHost) else {
            throw AzureError(
                .authentication,
                "the Key Vault at \(url.origin) challenged for the resource '\(challenge.resource ?? challenge.scope ?? "")', "
                    + "which is not in its domain")
        }
        return challenge
    }
}

/// The last challenge of each vault.
actor ChallengeStore {
    private var challenges: [String: KeyVaultChallenge] = [:]

    subscript(vault: String) -> KeyVaultChallenge? {
        get { challenges[vault] }
    }

    func set(_ challenge: KeyVaultChallenge, for vault: String) { challenges[vault] = challenge }
}
