import AzureCore
import Crypto
import Foundation
import NIOCore
import Synchronization
import Testing
import _CryptoExtras

@testable import AzureIdentity

/// Answers requests from a closure and records them, to check the bytes credentials send (form bodies,
/// headers, URLs). The answers are Entra's documented ones.
final class RecordingTransport: HTTPTransport {
    private let recorded = Mutex<[AzureHTTPRequest]>([])
    let answer: @Sendable (AzureHTTPRequest) throws -> (Int, String)

    init(answer: @escaping @Sendable (AzureHTTPRequest) throws -> (Int, String)) { self.answer = answer }

    var requests: [AzureHTTPRequest] { recorded.withLock { $0 } }

    func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse {
        recorded.withLock { $0.append(request) }
        let (status, body) = try answer(request)
        return AzureHTTPResponse(
            statusCode: status, headers: HTTPHeaderFields([("Content-Type", "application/json")]),
            body: HTTPResponseBody(ByteBuffer(string: body)))
    }

    /// An Entra tenant whose discovery document points the token endpoint at `tokenPath`.
    static func entra(tokenPath: String = "/custom/token", tokenAnswer: @escaping @Sendable (String) -> (Int, String))
        -> RecordingTransport
    {
        RecordingTransport { request in
            if request.url.encodedPath.hasSuffix("/.well-known/openid-configuration") {
                return (200, #"{"token_endpoint":"\#(request.url.origin)\#(tokenPath)","issuer":"x"}"#)
            }
            let form = request.body.map { String(buffer: $0) } ?? ""
            return tokenAnswer(form)
        }
    }
}

func formFields(_ body: String) -> [String: String] {
    var fields: [String: String] = [:]
    for pair in body.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1).map {
            String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
        }
        fields[parts[0]] = parts.count > 1 ? parts[1] : ""
    }
    return fields
}

func options(_ transport: any HTTPTransport, authority: String = "https://login.example.test") -> TokenCredentialOptions {
    var options = TokenCredentialOptions(authorityHost: URL(string: authority)!, transport: transport)
    options.retry = .noRetry
    return options
}

@Suite struct ClientSecretCredentialTests {
    @Test func discoversTheTokenEndpointAndPostsTheClientCredentialsForm() async throws {
        let transport = RecordingTransport.entra { _ in
            (200, #"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAi.abc"}"#)
        }
        let credential = try ClientSecretCredential(
            tenantID: "contoso-tenant", clientID: "app-id", clientSecret: "s3cr3t&=+ value", options: options(transport),
            environment: [:])
        let token = try await credential.token(for: ["https://vault.azure.net/.default"])
        #expect(token.token == "eyJ0eXAi.abc")
        #expect(token.expiresOn.timeIntervalSinceNow > 3500)
        _ = try await credential.token(for: ["https://vault.azure.net/.default"])

        let requests = transport.requests
        #expect(requests.count == 2, "one discovery, one token request; the second token comes from the cache")
        #expect(requests[0].method == .get)
        #expect(requests[0].url.string == "https://login.example.test/contoso-tenant/v2.0/.well-known/openid-configuration")
        #expect(requests[1].method == .post)
        #expect(requests[1].url.string == "https://login.example.test/custom/token")
        #expect(requests[1].headers["Content-Type"] == "application/x-www-form-urlencoded")
        let form = formFields(String(buffer: try #require(requests[1].body)))
        #expect(form == [
            "grant_type": "client_credentials", "client_id": "app-id", "client_secret": "s3cr3t&=+ value",
            "scope": "https://vault.azure.net/.default",
        ])
    }

    @Test func entraErrorsNameTheCredentialAndTheReasonButNotTheSecret() async throws {
        let transport = RecordingTransport.entra { _ in
            (401, #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[7000215]}"#)
        }
        let credential = try ClientSecretCredential(
            tenantID: "t", clientID: "app-id", clientSecret: "very-secret-value", options: options(transport),
            environment: [:])
        let error = await #expect(throws: AzureError.self) { try await credential.token(for: ["s/.default"]) }
        let text = String(describing: try #require(error))
        #expect(error?.code == .authentication)
        #expect(error?.statusCode == 401)
        #expect(error?.errorCode == "invalid_client")
        #expect(text.contains("ClientSecretCredential authentication failed: AADSTS7000215: Invalid client secret provided"))
        #expect(!text.contains("Trace ID"))
        #expect(!text.contains("very-secret-value"))
        #expect(!String(describing: credential).contains("very-secret-value"))
        var dumped = ""
        dump(credential, to: &dumped)
        #expect(!dumped.contains("very-secret-value"))
        let token = AccessToken(token: "eyJsecret.token.value", expiresOn: Date())
        var dumpedToken = ""
        dump(token, to: &dumpedToken)
        for text in [String(describing: token), String(reflecting: token), dumpedToken] {
            #expect(!text.contains("eyJsecret"))
        }
    }

    @Test func refusesAuthoritiesThatAreNotHTTPS() throws {
        let transport = RecordingTransport { _ in (500, "") }
        let error = #expect(throws: AzureError.self) {
            try ClientSecretCredential(tenantID: "t", clientID: "c", clientSecret: "s",
                                       options: options(transport, authority: "http://login.example.test"),
                                       environment: [:])
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("ClientSecretCredential: the authority host 'http://login.example.test' must be an https URL") == true)
        let fromEnvironment = #expect(throws: AzureError.self) {
            try ClientSecretCredential(tenantID: "t", clientID: "c", clientSecret: "s",
                                       options: TokenCredentialOptions(transport: transport),
                                       environment: ["AZURE_AUTHORITY_HOST": "http://127.0.0.1:1"])
        }
        #expect(fromEnvironment?.message.contains("must be an https URL") == true)
    }

    @Test func otherTenantsOnlyWhenAdditionallyAllowed() async throws {
        let transport = RecordingTransport.entra { _ in (200, #"{"access_token":"tok","expires_in":3600}"#) }
        let strict = try ClientSecretCredential(
            tenantID: "home", clientID: "c", clientSecret: "s", options: options(transport), environment: [:])
        let refused = await #expect(throws: AzureError.self) { try await strict.token(for: ["s/.default"], tenantID: "elsewhere") }
        #expect(refused?.message.contains("configured for tenant 'home'") == true)
        #expect(refused?.message.contains("additionallyAllowedTenants") == true)
        #expect(transport.requests.isEmpty)
        _ = try await strict.token(for: ["s/.default"], tenantID: "HOME")

        var permissive = options(transport)
        permissive.additionallyAllowedTenants = ["elsewhere"]
        let allowed = try ClientSecretCredential(
            tenantID: "home", clientID: "c", clientSecret: "s", options: permissive, environment: [:])
        _ = try await allowed.token(for: ["s/.default"], tenantID: "elsewhere")
        #expect(transport.requests.contains { $0.url.encodedPath == "/elsewhere/v2.0/.well-known/openid-configuration" })
    }

    @Test func refusesMalformedTenants() {
        let transport = RecordingTransport { _ in (500, "") }
        #expect(throws: AzureError.self) {
            try ClientSecretCredential(tenantID: "../evil", clientID: "c", clientSecret: "s", options: options(transport),
                                       environment: [:])
        }
    }

    @Test func formEncodingEscapesReservedCharacters() {
        #expect(FormEncoding.encode([("a b", "x&y=z+/~"), ("scope", "https://s/.default other")])
            == "a+b=x%26y%3Dz%2B%2F%7E&scope=https%3A%2F%2Fs%2F.default+other")
    }
}

@Suite struct ClientCertificateCredentialTests {
    static let certificateDER = Data((0..<300).map { UInt8($0 % 251) })

    static func pem(_ label: String, _ der: Data) -> String {
        let base64 = der.base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(base64)\n-----END \(label)-----\n"
    }

    func decode(_ part: Substring) throws -> [String: Any] {
        let data = try #require(Base64URL.decode(String(part)))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test(arguments: [true, false])
    func assertionIsASignedJWTWithThumbprints(pkcs8: Bool) throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let keyPEM = pkcs8 ? key.pkcs8PEMRepresentation : key.pemRepresentation
        #expect(keyPEM.contains(pkcs8 ? "BEGIN PRIVATE KEY" : "BEGIN RSA PRIVATE KEY"))
        let file = Self.pem("CERTIFICATE", Self.certificateDER) + keyPEM
        let signer = try ClientAssertionSigner(pem: file, source: "test.pem")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let assertion = try signer.assertion(audience: "https://login.example.test/t/oauth2/v2.0/token",
                                             clientID: "app-id", now: now)
        let parts = assertion.split(separator: ".")
        try #require(parts.count == 3)

        let header = try decode(parts[0])
        #expect(header["alg"] as? String == "RS256")
        #expect(header["typ"] as? String == "JWT")
        #expect(header["x5t"] as? String == Base64URL.encode(Data(Insecure.SHA1.hash(data: Self.certificateDER))))
        #expect(header["x5t#S256"] as? String == Base64URL.encode(Data(SHA256.hash(data: Self.certificateDER))))

        let claims = try decode(parts[1])
        #expect(claims["aud"] as? String == "https://login.example.test/t/oauth2/v2.0/token")
        #expect(claims["iss"] as? String == "app-id")
        #expect(claims["sub"] as? String == "app-id")
        #expect((claims["jti"] as? String)?.isEmpty == false)
        #expect(claims["nbf"] as? Int == 1_800_000_000)
        #expect(claims["exp"] as? Int == 1_800_000_600)

        let signature = _RSA.Signing.RSASignature(rawRepresentation: try #require(Base64URL.decode(String(parts[2]))))
        let signingInput = Data("\(parts[0]).\(parts[1])".utf8)
        #expect(key.publicKey.isValidSignature(signature, for: signingInput, padding: .insecurePKCS1v1_5))
        #expect(!key.publicKey.isValidSignature(signature, for: Data("tampered".utf8), padding: .insecurePKCS1v1_5))
    }

    @Test func ps256AssertionsUsePSS() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let signer = try ClientAssertionSigner(
            pem: Self.pem("CERTIFICATE", Self.certificateDER) + key.pkcs8PEMRepresentation, source: "t", algorithm: .ps256)
        let parts = try signer.assertion(audience: "aud", clientID: "c").split(separator: ".")
        #expect(try decode(parts[0])["alg"] as? String == "PS256")
        let signature = _RSA.Signing.RSASignature(rawRepresentation: try #require(Base64URL.decode(String(parts[2]))))
        #expect(key.publicKey.isValidSignature(signature, for: Data("\(parts[0]).\(parts[1])".utf8), padding: .PSS))
    }

    @Test func tokenRequestCarriesTheAssertionForTheDiscoveredEndpoint() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("client.pem").path
        try (Self.pem("CERTIFICATE", Self.certificateDER) + key.pemRepresentation).write(toFile: path, atomically: true, encoding: .utf8)

        let transport = RecordingTransport.entra { _ in (200, #"{"access_token":"tok","expires_in":"3600"}"#) }
        let credential = try ClientCertificateCredential(
            tenantID: "t", clientID: "app-id", certificatePath: path, options: options(transport), environment: [:])
        #expect(try await credential.token(for: ["https://storage.azure.com/.default"]).token == "tok")
        let form = formFields(String(buffer: try #require(transport.requests.last?.body)))
        #expect(form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        #expect(form["client_secret"] == nil)
        let claims = try decode(try #require(form["client_assertion"]?.split(separator: ".").dropFirst().first))
        #expect(claims["aud"] as? String == "https://login.example.test/custom/token")
    }

    @Test func unreadableOrIncompleteFilesAreNamed() throws {
        let transport = RecordingTransport { _ in (500, "") }
        let missing = #expect(throws: AzureError.self) {
            try ClientCertificateCredential(tenantID: "t", clientID: "c", certificatePath: "/nonexistent/cert.pem",
                                            options: options(transport), environment: [:])
        }
        #expect(missing?.message.contains("/nonexistent/cert.pem") == true)
        let noKey = #expect(throws: AzureError.self) {
            try ClientAssertionSigner(pem: Self.pem("CERTIFICATE", Self.certificateDER), source: "only-cert.pem")
        }
        #expect(noKey?.message.contains("only-cert.pem") == true)
        #expect(noKey?.message.contains("private key") == true)
    }
}

@Suite struct TokenResponseTests {
    @Test func parsesEveryExpiryForm() throws {
        let now = Date(timeIntervalSince1970: 1_000)
        let number = try TokenResponse.parse(["access_token": "a", "expires_on": 1_800_000_000], credentialName: "X", now: now)
        #expect(number.expiresOn == Date(timeIntervalSince1970: 1_800_000_000))
        let string = try TokenResponse.parse(["access_token": "a", "expires_on": "1800000000"], credentialName: "X", now: now)
        #expect(string.expiresOn == Date(timeIntervalSince1970: 1_800_000_000))
        let relative = try TokenResponse.parse(["access_token": "a", "expires_in": "3600"], credentialName: "X", now: now)
        #expect(relative.expiresOn == Date(timeIntervalSince1970: 4_600))
        #expect(throws: AzureError.self) { try TokenResponse.parse(["access_token": "a"], credentialName: "X") }
        #expect(throws: AzureError.self) { try TokenResponse.parse(["expires_in": 1], credentialName: "X") }
    }

    @Test func redactionCoversTokenRequestSecrets() {
        let text = Redaction.redact(
            #"grant_type=client_credentials&client_secret=abc123&client_assertion=eyJ.x.y&scope=s {"access_token":"eyJtok","expires_in":1} X-IDENTITY-HEADER: hdr"#)
        for secret in ["abc123", "eyJ.x.y", "eyJtok", "hdr"] { #expect(!text.contains(secret), "\(secret) leaked") }
        #expect(text.contains("scope=s"))
    }
}
