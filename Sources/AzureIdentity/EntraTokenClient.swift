import AzureCore
import Foundation
import NIOCore

/// Talks to an Entra ID tenant's token endpoint for the confidential-client credentials (secret, certificate,
/// federated token): discovers the endpoint once, posts client-credentials forms, parses the answers.
struct EntraTokenClient: Sendable {
    let credentialName: String
    let authorityHost: URL
    let tenantID: String
    let clientID: String
    let pipeline: HTTPPipeline
    let additionallyAllowedTenants: [String]
    private let discovery: TokenEndpointDiscovery

    init(credentialName: String, tenantID: String, clientID: String, options: TokenCredentialOptions,
         environment: [String: String]) throws {
        guard !tenantID.isEmpty,
            tenantID.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "." })
        else {
            throw AzureError(
                .invalidArgument,
                "\(credentialName): the tenant ID '\(tenantID)' may contain only letters, digits, '-' and '.'")
        }
        guard !clientID.isEmpty else { throw AzureError(.invalidArgument, "\(credentialName): the client ID is empty") }
        self.credentialName = credentialName
        self.authorityHost = try options.resolvedAuthorityHost(credentialName: credentialName, environment: environment)
        self.tenantID = tenantID
        self.clientID = clientID
        self.pipeline = options.pipeline()
        self.additionallyAllowedTenants = options.additionallyAllowedTenants
        self.discovery = TokenEndpointDiscovery()
    }

    /// `{authority}/{tenant}/v2.0/.well-known/openid-configuration`.
    func openIDConfigurationURL(tenant: String) -> String {
        authorityBase + "/\(tenant)/v2.0/.well-known/openid-configuration"
    }

    /// The tenant to authenticate in: the credential's own, or `requested` when it is additionally allowed.
    func resolveTenant(_ requested: String?) throws -> String {
        guard let requested, !requested.isEmpty, requested.lowercased() != tenantID.lowercased() else { return tenantID }
        guard additionallyAllowedTenants.contains("*") || additionallyAllowedTenants.contains(requested) else {
            throw AzureError(
                .authentication,
                "\(credentialName) is configured for tenant '\(tenantID)', and the request names tenant '\(requested)'; "
                    + "add it to TokenCredentialOptions.additionallyAllowedTenants (or \"*\") to allow it")
        }
        guard requested.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "." }) else {
            throw AzureError(.authentication, "\(credentialName): the requested tenant '\(requested)' is malformed")
        }
        return requested
    }

    private var authorityBase: String {
        let text = authorityHost.absoluteString
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// The tenant's token endpoint, from its OpenID configuration (fetched once, as MSAL does), so authorities
    /// whose endpoints are not at the usual path work too.
    func tokenEndpoint(tenant: String) async throws -> String {
        let configurationURL = openIDConfigurationURL(tenant: tenant)
        let pipeline = pipeline
        let name = credentialName
        return try await discovery.endpoint(tenant: tenant) {
            let request = AzureHTTPRequest(method: .get, url: try RequestURL(URL(string: configurationURL)!))
            let response = try await Self.send(request, pipeline: pipeline, credentialName: name)
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.statusCode == 200 else {
                throw EntraErrors.failure(credentialName: name, statusCode: response.statusCode, body: body,
                                          context: "the OpenID configuration at \(configurationURL)")
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                let endpoint = object["token_endpoint"] as? String, let url = URL(string: endpoint)
            else {
                throw AzureError(
                    .authentication, "\(name) authentication failed: the OpenID configuration at \(configurationURL) "
                        + "has no token_endpoint")
            }
            guard url.scheme?.lowercased() == "https" else {
                throw AzureError(
                    .authentication, "\(name) authentication failed: the token endpoint '\(endpoint)' is not https")
            }
            return endpoint
        }
    }

    /// Posts a client-credentials form (`grant_type`, `client_id` and `scope` added here) to the token endpoint.
    func requestToken(tenant: String, scopes: [String], form: [(String, String)]) async throws -> AccessToken {
        try await requestToken(endpoint: tokenEndpoint(tenant: tenant), scopes: scopes, form: form)
    }

    func requestToken(endpoint: String, scopes: [String], form: [(String, String)]) async throws -> AccessToken {
        guard !scopes.isEmpty else {
            throw AzureError(.invalidArgument, "\(credentialName): at least one scope is required")
        }
        let fields = [("grant_type", "client_credentials"), ("client_id", clientID)] + form
            + [("scope", scopes.joined(separator: " "))]
        var body = ByteBuffer()
        body.writeString(FormEncoding.encode(fields))
        var headers = HTTPHeaderFields()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Accept"] = "application/json"
        let request = AzureHTTPRequest(method: .post, url: try RequestURL(URL(string: endpoint)!), headers: headers,
                                       body: body)
        let response = try await Self.send(request, pipeline: pipeline, credentialName: credentialName)
        let answer = try await response.body.collect(upTo: 1 << 20)
        guard response.statusCode == 200 else {
            throw EntraErrors.failure(credentialName: credentialName, statusCode: response.statusCode, body: answer,
                                      context: "the token endpoint")
        }
        return try TokenResponse.parse(answer, credentialName: credentialName)
    }

    /// Sends through the pipeline, naming the credential in transport failures.
    static func send(_ request: AzureHTTPRequest, pipeline: HTTPPipeline, credentialName: String) async throws
        -> AzureHTTPResponse
    {
        do {
            return try await pipeline.send(request)
        } catch let error as AzureError {
            var named = error
            named.message = "\(credentialName) could not reach \(request.url.origin): \(error.message)"
            throw named
        }
    }
}

/// The discovered token endpoint of each tenant, fetched by one caller while the others wait.
actor TokenEndpointDiscovery {
    private var endpoints: [String: String] = [:]
    private var discovering: [String: Task<String, any Error>] = [:]

    func endpoint(tenant: String, discover: @escaping @Sendable () async throws -> String) async throws -> String {
        if let endpoint = endpoints[tenant] { return endpoint }
        if let running = discovering[tenant] { return try await running.value }
        let task = Task { try await discover() }
        discovering[tenant] = task
        defer { discovering[tenant] = nil }
        let found = try await task.value
        endpoints[tenant] = found
        return found
    }
}

/// `application/x-www-form-urlencoded`, as OAuth 2.0 token requests carry their parameters.
enum FormEncoding {
    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._*")

    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    static func encode(_ value: String) -> String {
        (value.addingPercentEncoding(withAllowedCharacters: unreserved.union(CharacterSet(charactersIn: " "))) ?? value)
            .replacingOccurrences(of: " ", with: "+")
    }
}

/// A token answer from Entra ID, the managed identity endpoints or the Azure CLI.
enum TokenResponse {
    static func parse(_ body: ByteBuffer, credentialName: String, now: Date = Date()) throws -> AccessToken {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw AzureError(.invalidResponse, "\(credentialName): the token response is not a JSON object")
        }
        return try parse(object, credentialName: credentialName, now: now)
    }

    static func parse(_ object: [String: Any], credentialName: String, now: Date = Date()) throws -> AccessToken {
        guard let token = (object["access_token"] ?? object["accessToken"]) as? String, !token.isEmpty else {
            throw AzureError(.invalidResponse, "\(credentialName): the token response has no access_token")
        }
        // expires_on is epoch seconds (a number or a string); expires_in is seconds from now.
        if let expiresOn = seconds(object["expires_on"]) {
            return AccessToken(token: token, expiresOn: Date(timeIntervalSince1970: expiresOn))
        }
        if let expiresIn = seconds(object["expires_in"]) {
            return AccessToken(token: token, expiresOn: now.addingTimeInterval(expiresIn))
        }
        throw AzureError(.invalidResponse, "\(credentialName): the token response has neither expires_on nor expires_in")
    }

    private static func seconds(_ value: Any?) -> TimeInterval? {
        switch value {
        case let number as NSNumber: return number.doubleValue
        case let text as String: return TimeInterval(text)
        default: return nil
        }
    }
}

/// Turns Entra ID's error answers (`{"error": "invalid_client", "error_description": "AADSTS7000215: ..."}`) into
/// ``AzureError``s naming the credential. The description is Entra's own text, which never echoes the secret;
/// the request body is never quoted.
enum EntraErrors {
    static func failure(credentialName: String, statusCode: Int, body: ByteBuffer, context: String) -> AzureError {
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        let code = object?["error"] as? String
        var reason = (object?["error_description"] as? String) ?? code ?? (object?["message"] as? String)
            ?? "\(context) answered \(statusCode)"
        // Entra appends "Trace ID: … Correlation ID: … Timestamp: …" lines; the first line is the reason.
        reason = reason.split(separator: "\r\n").first.map(String.init) ?? reason
        reason = reason.split(separator: "\n").first.map(String.init) ?? reason
        return AzureError(
            .authentication, "\(credentialName) authentication failed: \(reason)", statusCode: statusCode,
            errorCode: code, isRetriable: false)
    }
}
