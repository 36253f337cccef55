import AzureCore
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import AzureSecurityKeyVault

@Suite struct IdentifierTests {
    @Test func parsesVersionedAndLatestIdentifiers() throws {
        let versioned = try KeyVaultKeyIdentifier(URL(string: "https://myvault.vault.azure.net/keys/backup-kek/78deebed173b48e48f55abf87ed4cf71")!)
        #expect(versioned.vaultURL.absoluteString == "https://myvault.vault.azure.net")
        #expect(versioned.name == "backup-kek")
        #expect(versioned.version == "78deebed173b48e48f55abf87ed4cf71")
        let latest = try KeyVaultKeyIdentifier(URL(string: "https://127.0.0.1:8443/keys/k")!)
        #expect(latest.vaultURL.absoluteString == "https://127.0.0.1:8443")
        #expect(latest.version == nil)
        let secret = try KeyVaultSecretIdentifier(URL(string: "https://myvault.vault.azure.net/secrets/db-password/")!)
        #expect(secret.name == "db-password")
        #expect(secret.version == nil)
    }

    @Test(arguments: [
        "https://myvault.vault.azure.net/secrets/name", "https://myvault.vault.azure.net/keys",
        "https://myvault.vault.azure.net/keys/a/b/c", "ftp://myvault/keys/a", "https://myvault.vault.azure.net/",
    ])
    func rejectsOtherURLsAsKeyIdentifiers(_ text: String) {
        let error = #expect(throws: AzureError.self) { try KeyVaultKeyIdentifier(URL(string: text)!) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(text) == true)
    }
}

@Suite struct ChallengeTests {
    @Test func parsesAzureChallenges() throws {
        let challenge = try #require(KeyVaultChallenge.parse(
            #"Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net""#))
        #expect(challenge.scopes == ["https://vault.azure.net/.default"])
        #expect(challenge.tenantID == "72f988bf-86f1-41af-91ab-2d7cd011db47")

        let uriForm = try #require(KeyVaultChallenge.parse(
            #"Bearer authorization_uri="https://login.windows.net/kumo-emulator",resource="https://vault.azure.net/""#))
        #expect(uriForm.scopes == ["https://vault.azure.net/.default"])
        #expect(uriForm.tenantID == "kumo-emulator")

        let scoped = try #require(KeyVaultChallenge.parse(
            #"Bearer authorization="https://login.microsoftonline.com/t", scope="https://managedhsm.azure.net/.default""#))
        #expect(scoped.scopes == ["https://managedhsm.azure.net/.default"])
    }

    @Test func ignoresHeadersWithoutABearerResource() {
        #expect(KeyVaultChallenge.parse(#"Basic realm="x""#) == nil)
        #expect(KeyVaultChallenge.parse(#"Bearer authorization="https://login.microsoftonline.com/t""#) == nil)
    }
}

/// A vault that answers like Key Vault: 401 with a challenge without a token, else the scripted answer. It
/// records what it receives, to check the challenge protocol's bytes.
final class ChallengingVault: HTTPTransport {
    struct Seen: Sendable {
        var authorization: String?
        var hasBody: Bool
        var path: String
    }
    private let seen = Mutex<[Seen]>([])
    private let acceptedToken = Mutex("token-1")
    var requests: [Seen] { seen.withLock { $0 } }
    func accept(_ token: String) { acceptedToken.withLock { $0 = token } }

    func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse {
        seen.withLock {
            $0.append(Seen(authorization: request.headers["Authorization"], hasBody: request.body != nil,
                           path: request.url.encodedPath))
        }
        let accepted = acceptedToken.withLock { $0 }
        guard request.headers["Authorization"] == "Bearer \(accepted)" else {
            return AzureHTTPResponse(
                statusCode: 401,
                headers: HTTPHeaderFields([("WWW-Authenticate", #"Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net""#)]),
                body: HTTPResponseBody(ByteBuffer(string: #"{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}"#)))
        }
        let body = #"{"value":"v","id":"https://myvault.vault.azure.net/secrets/s/1","attributes":{"enabled":true,"created":1,"updated":1}}"#
        return AzureHTTPResponse(statusCode: 200, headers: HTTPHeaderFields(), body: HTTPResponseBody(ByteBuffer(string: body)))
    }
}

final class ScopeRecordingCredential: TokenCredential {
    private let state = Mutex<(scopes: [[String]], tenants: [String?], next: Int)>(([], [], 1))
    var scopes: [[String]] { state.withLock { $0.scopes } }
    var tenants: [String?] { state.withLock { $0.tenants } }
    func token(for scopes: [String]) async throws -> AccessToken {
        try await token(for: scopes, tenantID: nil)
    }
    func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
        let number = state.withLock { state -> Int in
            state.scopes.append(scopes)
            state.tenants.append(tenantID)
            defer { state.next += 1 }
            return state.next
        }
        return AccessToken(token: "token-\(number)", expiresOn: Date().addingTimeInterval(3600))
    }
}

@Suite struct ChallengePolicyTests {
    @Test func firstRequestIsBareThenAuthorizedWithTheChallengedScope() async throws {
        let vault = ChallengingVault()
        let credential = ScopeRecordingCredential()
        var options = ClientOptions()
        options.retry = .noRetry
        let client = try SecretClient(vaultURL: URL(string: "https://myvault.vault.azure.net")!, credential: credential,
                                      options: options, transport: vault)
        let secret = try await client.setSecret(name: "s", value: "v")
        #expect(secret.value == "v")
        _ = try await client.getSecret(name: "s")
        let seen = vault.requests
        #expect(seen.count == 3)
        #expect(seen[0].authorization == nil && !seen[0].hasBody)
        #expect(seen[1].authorization == "Bearer token-1" && seen[1].hasBody)
        #expect(seen[2].authorization == "Bearer token-1", "the challenge is cached per vault")
        #expect(credential.scopes == [["https://vault.azure.net/.default"]])
        #expect(credential.tenants == ["t"], "the challenge's tenant is passed to the credential")
    }

    @Test func aLater401ChallengesOnceMore() async throws {
        let vault = ChallengingVault()
        let credential = ScopeRecordingCredential()
        var options = ClientOptions()
        options.retry = .noRetry
        let client = try SecretClient(vaultURL: URL(string: "https://myvault.vault.azure.net")!, credential: credential,
                                      options: options, transport: vault)
        _ = try await client.getSecret(name: "s")
        vault.accept("token-2")
        _ = try await client.getSecret(name: "s")
        #expect(vault.requests.map(\.authorization) == [nil, "Bearer token-1", "Bearer token-1", "Bearer token-2"])
        vault.accept("token-99")
        let error = await #expect(throws: AzureError.self) { try await client.getSecret(name: "s") }
        #expect(error?.statusCode == 401)
        #expect(error?.errorCode == "Unauthorized")
    }

    @Test func refusesAChallengeForAResourceOutsideTheVaultsDomain() async throws {
        let vault = ChallengingVault()
        var options = ClientOptions()
        options.retry = .noRetry
        let client = try SecretClient(vaultURL: URL(string: "https://evil.example.com")!,
                                      credential: ScopeRecordingCredential(), options: options, transport: vault)
        let error = await #expect(throws: AzureError.self) { try await client.getSecret(name: "s") }
        #expect(error?.message.contains("not in its domain") == true)
    }

    @Test func refusesPlainHTTPVaultsOffLoopback() {
        #expect(throws: AzureError.self) {
            try SecretClient(vaultURL: URL(string: "http://myvault.vault.azure.net")!, credential: ScopeRecordingCredential())
        }
    }
}

/// Sample payloads from the Key Vault REST API reference (api-version 7.5).
@Suite struct ModelDecodingTests {
    @Test func secretBundle() throws {
        let json = #"""
        {"value":"mysecretvalue","id":"https://myvault.vault.azure.net/secrets/mysecretname/4387e9f3d6e14c459867679a90fd0f79",
         "contentType":"text/plain","attributes":{"enabled":true,"created":1493938410,"updated":1493938410,
         "recoveryLevel":"Recoverable+Purgeable"},"tags":{"env":"prod"}}
        """#
        let secret = try JSONDecoder().decode(WireSecret.self, from: Data(json.utf8)).secret()
        #expect(secret.value == "mysecretvalue")
        #expect(secret.name == "mysecretname")
        #expect(secret.properties.version == "4387e9f3d6e14c459867679a90fd0f79")
        #expect(secret.properties.vaultURL?.absoluteString == "https://myvault.vault.azure.net")
        #expect(secret.properties.createdOn == Date(timeIntervalSince1970: 1_493_938_410))
        #expect(secret.properties.contentType == "text/plain")
        #expect(secret.properties.tags == ["env": "prod"])
        #expect(secret.properties.enabled == true)
        #expect(!String(describing: secret).contains("mysecretvalue"))
        #expect(!String(reflecting: secret).contains("mysecretvalue"))
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("mysecretvalue"))
        #expect(dumped.contains("mysecretname"))
    }

    @Test func deletedSecretBundle() throws {
        let json = #"""
        {"recoveryId":"https://myvault.vault.azure.net/deletedsecrets/GetDeletedSecretTest","deletedDate":1493938433,
         "scheduledPurgeDate":1501714433,"id":"https://myvault.vault.azure.net/secrets/GetDeletedSecretTest/1e8d3c6fd0b7484d9f1aa2b1dbf5c3f6",
         "attributes":{"enabled":true,"created":1493938433,"updated":1493938433,"recoveryLevel":"Recoverable+Purgeable"}}
        """#
        let deleted = try JSONDecoder().decode(WireSecret.self, from: Data(json.utf8)).deleted()
        #expect(deleted.name == "GetDeletedSecretTest")
        #expect(deleted.recoveryID?.absoluteString == "https://myvault.vault.azure.net/deletedsecrets/GetDeletedSecretTest")
        #expect(deleted.deletedOn == Date(timeIntervalSince1970: 1_493_938_433))
        #expect(deleted.scheduledPurgeDate == Date(timeIntervalSince1970: 1_501_714_433))
        #expect(deleted.properties.recoveryLevel == "Recoverable+Purgeable")
    }

    @Test func keyBundle() throws {
        let json = #"""
        {"key":{"kid":"https://myvault.vault.azure.net/keys/CreateSoftKeyTest/78deebed173b48e48f55abf87ed4cf71","kty":"RSA",
         "key_ops":["encrypt","decrypt","sign","verify","wrapKey","unwrapKey"],
         "n":"2HJAE5fU3Cw2Rt9hEuq-F6XjINKGa-zskfISVqopqUy60GOs2eyhxbWbBBeGhZO6pZm6ESt2bbYYdK3UIAVXn6qMDbyGhGLR6l2MM7FE","e":"AQAB"},
         "attributes":{"enabled":true,"created":1493942451,"updated":1493942451,"recoveryLevel":"Recoverable+Purgeable","exportable":false},
         "tags":{"purpose":"unit test","test name ":"CreateGetDeleteKeyTest"}}
        """#
        let key = try JSONDecoder().decode(WireKey.self, from: Data(json.utf8)).keyVaultKey()
        #expect(key.name == "CreateSoftKeyTest")
        #expect(key.properties.version == "78deebed173b48e48f55abf87ed4cf71")
        #expect(key.id?.absoluteString == "https://myvault.vault.azure.net/keys/CreateSoftKeyTest/78deebed173b48e48f55abf87ed4cf71")
        #expect(key.keyType == .rsa)
        #expect(key.keyOperations == [.encrypt, .decrypt, .sign, .verify, .wrapKey, .unwrapKey])
        #expect(key.key.e == Data([1, 0, 1]))
        #expect(key.key.n?.first == 0xD8)
        #expect(key.properties.exportable == false)
        #expect(key.properties.tags["purpose"] == "unit test")
    }

    @Test func listingPages() throws {
        let json = #"""
        {"value":[{"kid":"https://myvault.vault.azure.net/keys/listkeytest0","attributes":{"enabled":true,"created":1493942444,"updated":1493942444},"managed":false}],
         "nextLink":"https://myvault.vault.azure.net:443/keys?api-version=7.5&$skiptoken=eyJOZXh0TWFya2VyIjoiMiExMDAhTURBd01ESXhJV3RsZVM5TVNWTlVTMFZaVkVWVFZERXdJVEF3TURBeU9DRXlNREUzTFRBMUxUQTBWREl6T2pVeU9qTXlMamN6TkRneU9UUmFJUS0tIiwiVGFyZ2V0TG9jYXRpb24iOjB9&maxresults=1"}
        """#
        let page = try JSONDecoder().decode(ListPage<WireKey>.self, from: Data(json.utf8))
        let properties = try #require(page.value?.first).properties()
        #expect(properties.name == "listkeytest0")
        #expect(properties.version == nil)
        #expect(page.nextLink?.contains("$skiptoken=") == true)
    }

    @Test func keyOperationResult() throws {
        let json = #"{"kid":"https://myvault.vault.azure.net/keys/k/v1","value":"AQID_-8"}"#
        let answer = try JSONDecoder().decode(KeyOperationAnswer.self, from: Data(json.utf8))
        #expect(answer.kid == "https://myvault.vault.azure.net/keys/k/v1")
        #expect(answer.value?.data == Data([1, 2, 3, 0xFF, 0xEF]))
        let encoded = try JSONEncoder().encode(KeyOperationParameters(algorithm: "RSA-OAEP-256", value: Data([0xFB, 0xFF])))
        let object = try #require(JSONSerialization.jsonObject(with: encoded) as? [String: String])
        #expect(object == ["alg": "RSA-OAEP-256", "value": "-_8"])
    }

    @Test func serviceErrors() {
        let body = ByteBuffer(string: #"{"error":{"code":"SecretNotFound","message":"A secret with (name/id) missing was not found in this key vault."}}"#)
        let error = KeyVaultErrors.from(
            AzureHTTPResponse(statusCode: 404, headers: HTTPHeaderFields([("x-ms-request-id", "req-1")])), body: body)
        #expect(error.code == .service)
        #expect(error.statusCode == 404)
        #expect(error.errorCode == "SecretNotFound")
        #expect(error.requestID == "req-1")
        #expect(error.message == "A secret with (name/id) missing was not found in this key vault.")
    }

    @Test func algorithmNames() {
        #expect(KeyWrapAlgorithm.rsaOAEP256.rawValue == "RSA-OAEP-256")
        #expect(KeyWrapAlgorithm.rsaOAEP.rawValue == "RSA-OAEP")
        #expect(KeyWrapAlgorithm.rsa15.rawValue == "RSA1_5")
        #expect([KeyWrapAlgorithm.a128KW, .a192KW, .a256KW].map(\.rawValue) == ["A128KW", "A192KW", "A256KW"])
    }
}
