import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SwiftASN1
import X509
import _CryptoExtras

/// Entra ID for one tenant: OpenID discovery, JWKS, instance discovery, the v2.0 (and v1) token endpoint
/// for the client credentials flow (secret, certificate assertion, federated assertion), the managed identity
/// endpoints of IMDS and App Service, and an emulator-only endpoint that mints federated tokens for tests.
struct EntraResponder: Sendable {
    let configuration: EmulatorConfiguration
    let issuer: TokenIssuer
    /// Registered certificates of each client, by SHA-1 and SHA-256 thumbprint (base64url of the DER digest).
    private let certificates: [String: [String: RegisteredCertificate]]

    struct RegisteredCertificate: Sendable {
        var publicKey: _RSA.Signing.PublicKey
    }

    init(configuration: EmulatorConfiguration, issuer: TokenIssuer) throws {
        self.configuration = configuration
        self.issuer = issuer
        var certificates: [String: [String: RegisteredCertificate]] = [:]
        for principal in configuration.servicePrincipals {
            guard let pem = principal.certificatePEM else { continue }
            for document in try PEMDocument.parseMultiple(pemString: pem) where document.discriminator == "CERTIFICATE"
            {
                let certificate = try Certificate(derEncoded: document.derBytes)
                guard let key = _RSA.Signing.PublicKey(certificate.publicKey) else {
                    throw EmulatorError(
                        status: 400, code: "UnsupportedCertificate",
                        message:
                            "The certificate of client '\(principal.clientID)' has no RSA public key; client assertions must be RS256 or PS256."
                    )
                }
                let entry = RegisteredCertificate(publicKey: key)
                certificates[principal.clientID, default: [:]][
                    Base64URL.encode(Data(Insecure.SHA1.hash(data: document.derBytes)))] = entry
                certificates[principal.clientID, default: [:]][
                    Base64URL.encode(Data(SHA256.hash(data: document.derBytes)))] = entry
            }
        }
        self.certificates = certificates
    }

    /// Whether a path belongs to Entra ID: `/<tenant>/<an Entra endpoint>/...`. Unknown tenants are Entra's
    /// to refuse (AADSTS90002); the caller keeps paths of storage accounts for the Blob service.
    static func handles(_ segments: [String]) -> Bool {
        guard segments.count >= 2, !segments[0].isEmpty else { return false }
        return ["v2.0", ".well-known", "oauth2", "discovery", "federated-token"].contains(segments[1])
    }

    static func handlesManagedIdentity(_ segments: [String]) -> Bool {
        segments.starts(with: ["metadata", "identity", "oauth2", "token"]) || segments.starts(with: ["msi", "token"])
    }

    func respond(_ request: ServiceRequest) async throws -> Response {
        let segments = request.segments
        if segments.starts(with: ["metadata", "identity"]) { return try imds(request) }
        if segments.starts(with: ["msi", "token"]) { return try appService(request) }
        let tenant = segments.first ?? ""
        let rest = Array(segments.dropFirst())
        switch (request.method, rest) {
        case (.get, ["v2.0", ".well-known", "openid-configuration"]), (.get, [".well-known", "openid-configuration"]):
            guard tenant == configuration.tenantID || ["common", "organizations"].contains(tenant) else {
                return tenantNotFound(tenant)
            }
            return .json(.ok, openIDConfiguration(tenant: tenant, v2: rest.first == "v2.0"))
        case (.get, ["discovery", "v2.0", "keys"]), (.get, ["discovery", "keys"]):
            return .json(.ok, try issuer.jwks())
        case (.get, ["discovery", "instance"]):
            return .json(.ok, instanceDiscovery(request))
        case (.post, ["oauth2", "v2.0", "token"]), (.post, ["oauth2", "token"]):
            guard tenant == configuration.tenantID else { return tenantNotFound(tenant) }
            return try token(request, v1: rest.count == 2)
        case (.post, ["federated-token"]), (.get, ["federated-token"]):
            guard tenant == configuration.tenantID else { return tenantNotFound(tenant) }
            let subject = request.query["sub"] ?? request.form["sub"] ?? ""
            guard !subject.isEmpty else {
                return entraError(
                    400, "invalid_request", 900144, "The request body must contain the following parameter: 'sub'.")
            }
            let issued = try issuer.issue(
                audience: TokenIssuer.tokenExchangeAudience, clientID: "kumo-federation", subject: subject)
            return .json(
                .ok, ["token_type": "Bearer", "access_token": issued.token, "expires_in": issued.lifetimeSeconds])
        default:
            return entraError(
                404, "invalid_request", 90027,
                "The endpoint '\(segments.joined(separator: "/"))' is not served by this authority.")
        }
    }

    // MARK: Discovery

    private func openIDConfiguration(tenant: String, v2: Bool) -> [String: Any] {
        let host = issuer.authorityHost
        let base = "\(host)/\(tenant)"
        let version = v2 ? "/v2.0" : ""
        return [
            "token_endpoint": "\(base)/oauth2\(version)/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": "\(base)/discovery\(version)/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": [
                "code", "id_token", "code id_token", v2 ? "id_token token" : "token id_token",
            ],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": v2 ? "\(host)/\(configuration.tenantID)/v2.0" : "\(host)/\(configuration.tenantID)/",
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "\(host)/oidc/userinfo",
            "authorization_endpoint": "\(base)/oauth2\(version)/authorize",
            "device_authorization_endpoint": "\(base)/oauth2\(version)/devicecode",
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": "\(base)/oauth2\(version)/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "azp", "appid", "ver"],
            "kerberos_endpoint": "\(base)/kerberos",
            "tenant_region_scope": NSNull(),
            "cloud_instance_name": "kumo.local",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        ]
    }

    private func instanceDiscovery(_ request: ServiceRequest) -> [String: Any] {
        let host = issuer.authorityHost
        let hostName = String(host.dropFirst("https://".count))
        return [
            "tenant_discovery_endpoint": "\(host)/\(configuration.tenantID)/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                [
                    "preferred_network": hostName, "preferred_cache": hostName,
                    "aliases": [hostName, hostName.replacingOccurrences(of: "127.0.0.1", with: "localhost")],
                ]
            ],
        ]
    }

    // MARK: Token endpoint

    private func token(_ request: ServiceRequest, v1: Bool) throws -> Response {
        let form = request.form
        guard let grantType = form["grant_type"], !grantType.isEmpty else {
            return entraError(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
        }
        guard grantType == "client_credentials" else {
            return entraError(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '\(grantType)'.")
        }
        var clientID = form["client_id"]
        var secret = form["client_secret"]
        // client_secret_basic: the id and secret in an HTTP Basic header instead of the body.
        if let authorization = request.header("Authorization"), authorization.hasPrefix("Basic "),
            let decoded = Data(base64Encoded: String(authorization.dropFirst(6))).map({
                String(decoding: $0, as: UTF8.self)
            }),
            let colon = decoded.firstIndex(of: ":")
        {
            clientID = clientID ?? String(decoded[..<colon]).removingPercentEncoding
            secret = secret ?? String(decoded[decoded.index(after: colon)...]).removingPercentEncoding
        }
        guard let clientID, !clientID.isEmpty else {
            return entraError(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
        }
        let audience: String
        if v1 {
            guard let resource = form["resource"], !resource.isEmpty else {
                return entraError(
                    400, "invalid_request", 900144, "The request body must contain the following parameter: 'resource'."
                )
            }
            audience = resource
        } else {
            guard let scope = form["scope"], !scope.isEmpty else {
                return entraError(
                    400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
            }
            let scopes = scope.split(separator: " ").map(String.init).filter {
                !["openid", "profile", "offline_access", "email"].contains($0)
            }
            guard scopes.count == 1, scopes[0].hasSuffix("/.default"), scopes[0].count > "/.default".count else {
                return entraError(
                    400, "invalid_scope", 1002012,
                    "The provided value for scope \(scope) is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                )
            }
            audience = String(scopes[0].dropLast("/.default".count))
        }
        guard let principal = configuration.servicePrincipals.first(where: { $0.clientID == clientID }) else {
            return entraError(
                400, "unauthorized_client", 700016,
                "Application with identifier '\(clientID)' was not found in the directory '\(configuration.tenantID)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            )
        }
        if let secret {
            guard let expected = principal.clientSecret, SecretComparison.matches(secret, expected) else {
                return entraError(
                    401, "invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(clientID)'."
                )
            }
        } else if let assertion = form["client_assertion"] {
            guard form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else {
                return entraError(
                    400, "invalid_request", 50027,
                    "The client_assertion_type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.")
            }
            if let failure = checkAssertion(assertion, principal: principal, tenantPath: request.segments[0], v1: v1) {
                return failure
            }
        } else {
            return entraError(
                401, "invalid_client", 7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        }
        let issued = try issuer.issue(audience: audience, clientID: clientID)
        var body: [String: Any] = [
            "token_type": "Bearer", "expires_in": issued.lifetimeSeconds, "ext_expires_in": issued.lifetimeSeconds,
            "access_token": issued.token,
        ]
        if v1 {
            body["expires_on"] = String(Int(issued.expiresOn.timeIntervalSince1970))
            body["not_before"] = String(Int(issued.notBefore.timeIntervalSince1970))
            body["resource"] = audience
            body["expires_in"] = String(issued.lifetimeSeconds)
            body["ext_expires_in"] = String(issued.lifetimeSeconds)
        }
        return .json(.ok, body)
    }

    /// Checks a client assertion: a certificate-signed JWT (header `x5t` or `x5t#S256` names a registered
    /// certificate) or a federated token the emulator issued for the client's registered subject. Answers the
    /// error response, or nil when the assertion is good.
    private func checkAssertion(_ assertion: String, principal: ServicePrincipal, tenantPath: String, v1: Bool)
        -> Response?
    {
        guard let jwt = JSONWebToken(compact: assertion) else {
            return entraError(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        }
        let thumbprint = (jwt.header["x5t#S256"] as? String) ?? (jwt.header["x5t"] as? String)
        guard let thumbprint else {
            // Not a certificate assertion: a federated token (workload identity).
            guard let subject = principal.federatedSubject else {
                return entraError(
                    401, "invalid_client", 700212,
                    "No matching federated identity record found for presented assertion audience '\(TokenIssuer.tokenExchangeAudience)'."
                )
            }
            switch issuer.validate(assertion, audiences: [TokenIssuer.tokenExchangeAudience]) {
            case .rejected(.expired):
                return entraError(400, "invalid_client", 700024, "Client assertion is not within its valid time range.")
            case .rejected(.wrongAudience):
                return entraError(
                    400, "invalid_client", 700212,
                    "No matching federated identity record found for presented assertion audience '\(jwt.audiences.joined(separator: ","))'."
                )
            case .rejected:
                return entraError(401, "invalid_client", 700027, "Client assertion failed signature validation.")
            case .valid(let token):
                guard token.string("sub") == subject else {
                    return entraError(
                        400, "invalid_request", 70021,
                        "No matching federated identity record found for presented assertion. Assertion Issuer: '\(issuer.issuer)'. Assertion Subject: '\(token.string("sub") ?? "")'. Assertion Audience: '\(TokenIssuer.tokenExchangeAudience)'."
                    )
                }
                return nil
            }
        }
        guard let certificate = certificates[principal.clientID]?[thumbprint.replacingOccurrences(of: "=", with: "")]
        else {
            return entraError(
                401, "invalid_client", 700027,
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '\(thumbprint)', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '\(principal.clientID)'.]"
            )
        }
        guard jwt.hasValidRSASignature(from: certificate.publicKey) else {
            return entraError(401, "invalid_client", 700027, "Client assertion failed signature validation.")
        }
        let now = Date()
        guard let expires = jwt.date("exp"), expires > now.addingTimeInterval(-300) else {
            return entraError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        }
        if let notBefore = jwt.date("nbf"), notBefore > now.addingTimeInterval(300) {
            return entraError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        }
        guard jwt.string("iss") == principal.clientID, jwt.string("sub") == principal.clientID else {
            return entraError(
                401, "invalid_client", 700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.")
        }
        let accepted = acceptedAssertionAudiences(tenantPath: tenantPath)
        guard jwt.audiences.contains(where: { accepted.contains($0.hasSuffix("/") ? String($0.dropLast()) : $0) })
        else {
            return entraError(
                401, "invalid_client", 50013,
                "Client assertion contains an invalid audience claim; expected the token endpoint of this authority.")
        }
        return nil
    }

    /// The token endpoint URL (v2 or v1) under either loopback name, and the issuer, as client assertion audiences.
    private func acceptedAssertionAudiences(tenantPath: String) -> Set<String> {
        var accepted: Set<String> = []
        for host in [
            issuer.authorityHost, issuer.authorityHost.replacingOccurrences(of: "127.0.0.1", with: "localhost"),
        ] {
            for tenant in Set([tenantPath, configuration.tenantID]) {
                accepted.insert("\(host)/\(tenant)/oauth2/v2.0/token")
                accepted.insert("\(host)/\(tenant)/oauth2/token")
                accepted.insert("\(host)/\(tenant)/v2.0")
                accepted.insert("\(host)/\(tenant)")
            }
        }
        return accepted
    }

    // MARK: Managed identity

    /// IMDS: `GET /metadata/identity/oauth2/token` with `Metadata: true`.
    private func imds(_ request: ServiceRequest) throws -> Response {
        guard request.header("Metadata")?.lowercased() == "true" else {
            return .json(
                .badRequest,
                ["error": "invalid_request", "error_description": "Required metadata header not specified"])
        }
        switch request.method {
        case .get:
            guard request.query["api-version"]?.isEmpty == false else {
                return .json(
                    .badRequest,
                    [
                        "error": "invalid_request",
                        "error_description": "Required query variable 'api-version' is missing",
                    ])
            }
            return try managedIdentityToken(request, imds: true)
        case .post:
            // Cloud Shell's variant (MSI_ENDPOINT): the same answer, asked with a form body and no api-version.
            var form = request
            form.query = request.form.merging(request.query) { first, _ in first }
            return try managedIdentityToken(form, imds: true)
        default:
            return .json(
                .methodNotAllowed,
                ["error": "invalid_request", "error_description": "The request method is not supported."])
        }
    }

    /// App Service / Functions: `GET /msi/token` with `X-IDENTITY-HEADER`.
    private func appService(_ request: ServiceRequest) throws -> Response {
        guard let header = request.header("X-IDENTITY-HEADER"), SecretComparison.matches(header, configuration.identityHeader) else {
            return .json(
                .unauthorized,
                [
                    "statusCode": 401,
                    "message": "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.",
                    "correlationId": UUID().uuidString.lowercased(),
                ])
        }
        guard request.query["api-version"]?.isEmpty == false else {
            return .json(.badRequest, ["statusCode": 400, "message": "The api-version query parameter is required."])
        }
        return try managedIdentityToken(request, imds: false)
    }

    private func managedIdentityToken(_ request: ServiceRequest, imds: Bool) throws -> Response {
        guard var resource = request.query["resource"], !resource.isEmpty else {
            let message = "Required query variable 'resource' is missing"
            return imds
                ? .json(.badRequest, ["error": "invalid_request", "error_description": message])
                : .json(.badRequest, ["statusCode": 400, "message": message])
        }
        if resource.hasSuffix("/.default") { resource = String(resource.dropLast("/.default".count)) }
        let identity = configuration.managedIdentityClientID
        let objectID = TokenIssuer.stableUUID(identity)
        if let requested = request.query["client_id"] ?? request.query["object_id"] ?? request.query["principal_id"],
            requested != identity, requested != objectID
        {
            return imds
                ? .json(.badRequest, ["error": "invalid_request", "error_description": "Identity not found"])
                : .json(
                    .badRequest,
                    [
                        "statusCode": 400,
                        "message": "No managed identity matches the requested identity '\(requested)'.",
                    ])
        }
        let issued = try issuer.issue(audience: resource, clientID: identity)
        return .json(
            .ok,
            [
                "access_token": issued.token, "client_id": identity,
                "expires_in": String(issued.lifetimeSeconds), "ext_expires_in": String(issued.lifetimeSeconds),
                "expires_on": String(Int(issued.expiresOn.timeIntervalSince1970)),
                "not_before": String(Int(issued.notBefore.timeIntervalSince1970)),
                "resource": resource, "token_type": "Bearer",
            ])
    }

    // MARK: Errors

    private func tenantNotFound(_ tenant: String) -> Response {
        entraError(
            400, "invalid_tenant", 90002,
            "Tenant '\(tenant)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        )
    }

    /// Entra's error body: the AADSTS code leads the description, which ends with trace, correlation and time.
    private func entraError(_ status: Int, _ error: String, _ code: Int, _ message: String) -> Response {
        let traceID = UUID().uuidString.lowercased()
        let correlationID = UUID().uuidString.lowercased()
        let timestamp = Self.timestamp(Date())
        return .json(
            .init(code: status),
            [
                "error": error,
                "error_description":
                    "AADSTS\(code): \(message) Trace ID: \(traceID) Correlation ID: \(correlationID) Timestamp: \(timestamp)",
                "error_codes": [code], "timestamp": timestamp, "trace_id": traceID, "correlation_id": correlationID,
                "error_uri": "\(issuer.authorityHost)/error?code=\(code)",
            ])
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        return formatter.string(from: date)
    }
}
