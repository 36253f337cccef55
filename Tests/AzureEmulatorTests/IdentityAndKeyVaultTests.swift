import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import AzureEmulator

/// Byte-level checks of the emulator's JWTs, key operations and certificates, plus one live emulator on free
/// ports reached over its own HTTPS listener.
@Suite("Entra ID, Key Vault and TLS")
struct IdentityAndKeyVaultTests {
    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kumo-identity-\(UUID().uuidString)").path
    }

    static func bytes(_ hex: String) -> Data {
        var data = Data()
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            data.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return data
    }

    @Test func base64URLHasNoPaddingAndRoundTrips() {
        let data = Data([0xFB, 0xFF, 0xBF, 0x00])
        #expect(Base64URL.encode(data) == "-_-_AA")
        #expect(Base64URL.decode("-_-_AA") == data)
        #expect(Base64URL.decode("-_-_AA==") == data)
    }

    @Test func issuedTokensVerifyAndCarryTheClaims() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let issuer = try TokenIssuer(dataDirectory: directory, tenantID: "t1", lifetime: .seconds(600))
        issuer.setHTTPSPort(12345)
        let issued = try issuer.issue(audience: "https://vault.azure.net", clientID: "app")
        let token = try #require(JSONWebToken(compact: issued.token))
        #expect(token.header["alg"] as? String == "RS256")
        #expect(token.header["kid"] as? String == issuer.keyID)
        #expect(token.string("iss") == "https://127.0.0.1:12345/t1/v2.0")
        #expect(token.string("aud") == "https://vault.azure.net")
        #expect(token.string("appid") == "app" && token.string("tid") == "t1")
        #expect(token.date("exp")!.timeIntervalSince(token.date("iat")!) == 600)

        guard case .valid = issuer.validate(issued.token, audiences: ["https://vault.azure.net"]) else {
            Issue.record("a fresh token must validate"); return
        }
        guard case .rejected(.wrongAudience) = issuer.validate(issued.token, audiences: ["https://storage.azure.com"])
        else {
            Issue.record("another audience must be refused"); return
        }
        let late = Date().addingTimeInterval(1000)
        guard
            case .rejected(.expired) = issuer.validate(issued.token, audiences: ["https://vault.azure.net"], now: late)
        else {
            Issue.record("an expired token must be refused"); return
        }
        // Flipping one signature byte breaks it.
        var parts = issued.token.split(separator: ".").map(String.init)
        var signature = Base64URL.decode(parts[2])!
        signature[0] ^= 1
        parts[2] = Base64URL.encode(signature)
        guard
            case .rejected(.badSignature) = issuer.validate(
                parts.joined(separator: "."), audiences: ["https://vault.azure.net"])
        else {
            Issue.record("a changed signature must be refused"); return
        }

        // The key survives a restart: a second issuer on the same directory accepts the first one's token.
        let reopened = try TokenIssuer(dataDirectory: directory, tenantID: "t1", lifetime: .seconds(600))
        reopened.setHTTPSPort(12345)
        guard case .valid = reopened.validate(issued.token, audiences: ["https://vault.azure.net"]) else {
            Issue.record("the signing key must persist"); return
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/entra/signing-key.pem")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test func jwksPublishesTheSigningKey() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let issuer = try TokenIssuer(dataDirectory: directory, tenantID: "t1", lifetime: .seconds(60))
        let jwks = try issuer.jwks()
        let key = try #require((jwks["keys"] as? [[String: Any]])?.first)
        let publicKey = try _RSA.Signing.PublicKey(
            n: Base64URL.decode(key["n"] as! String)!, e: Base64URL.decode(key["e"] as! String)!)
        let token = try #require(JSONWebToken(compact: try issuer.issue(audience: "a", clientID: "b").token))
        #expect(token.hasValidRSASignature(from: publicKey))
    }

    static func octKey(_ hex: String) -> KeyVersion {
        KeyVersion(
            version: "v", keyType: "oct", keyOperations: VaultKeyMaterial.octOperations, keySize: hex.count * 4,
            curve: nil,
            secretMaterial: bytes(hex), tags: nil, attributes: VaultAttributes(created: 0, updated: 0))
    }

    /// RFC 3394 §4.3 and §4.6: 128-bit and 256-bit key data under a 256-bit KEK.
    @Test(arguments: [
        ("00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"),
        (
            "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
        ),
    ])
    func aesKeyWrapMatchesRFC3394(keyData: String, wrapped: String) throws {
        let key = Self.octKey("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
        let result = try VaultKeyMaterial.cipher(
            key, operation: "wrapKey", algorithm: "A256KW", value: Self.bytes(keyData), parameters: .init())
        #expect(result.value == Self.bytes(wrapped))
        let back = try VaultKeyMaterial.cipher(
            key, operation: "unwrapKey", algorithm: "A256KW", value: result.value, parameters: .init())
        #expect(back.value == Self.bytes(keyData))
        #expect(throws: EmulatorError.self) {
            try VaultKeyMaterial.cipher(
                key, operation: "unwrapKey", algorithm: "A128KW", value: result.value, parameters: .init())
        }
    }

    @Test(arguments: ["RSA-OAEP", "RSA-OAEP-256"])
    func rsaOAEPRoundTripsAndMatchesThePublicKey(algorithm: String) throws {
        let key = try VaultKeyMaterial.generate(
            keyType: "RSA", size: 2048, curve: nil, operations: nil, version: "v", tags: nil,
            attributes: VaultAttributes(created: 0, updated: 0))
        let members = try VaultKeyMaterial.publicMembers(of: key)
        #expect(members["d"] == nil && members["p"] == nil)
        let secret = Data((0..<32).map { UInt8($0) })
        // Encrypt with the public JWK alone, as a client does locally; the vault decrypts.
        let publicKey = try _RSA.Encryption.PublicKey(
            n: Base64URL.decode(members["n"] as! String)!, e: Base64URL.decode(members["e"] as! String)!)
        let wrapped = try publicKey.encrypt(secret, padding: algorithm == "RSA-OAEP" ? .PKCS1_OAEP : .PKCS1_OAEP_SHA256)
        let unwrapped = try VaultKeyMaterial.cipher(
            key, operation: "unwrapKey", algorithm: algorithm, value: wrapped, parameters: .init())
        #expect(unwrapped.value == secret)
    }

    @Test func signaturesOverClientDigestsVerify() throws {
        let key = try VaultKeyMaterial.generate(
            keyType: "RSA", size: 2048, curve: nil, operations: nil, version: "v", tags: nil,
            attributes: VaultAttributes(created: 0, updated: 0))
        let digest = Data(SHA256.hash(data: Data("message".utf8)))
        for algorithm in ["RS256", "PS256"] {
            let signature = try VaultKeyMaterial.sign(key, algorithm: algorithm, digest: digest)
            #expect(try VaultKeyMaterial.verify(key, algorithm: algorithm, digest: digest, signature: signature))
            #expect(
                try !VaultKeyMaterial.verify(
                    key, algorithm: algorithm, digest: Data(repeating: 0, count: 32), signature: signature))
        }
        let publicKey = try _RSA.Signing.PrivateKey(derRepresentation: key.secretMaterial).publicKey
        let signature = try VaultKeyMaterial.sign(key, algorithm: "RS256", digest: digest)
        #expect(
            publicKey.isValidSignature(
                .init(rawRepresentation: signature), for: Data("message".utf8), padding: .insecurePKCS1v1_5))
    }

    @Test func generatedCertificatesCarryWhatStrictVerifiersNeed() throws {
        let made = try TLSMaterial.generate()
        let ca = try Certificate(pemEncoded: made.caCertificatePEM)
        let server = try Certificate(pemEncoded: made.serverCertificatePEM)
        let constraints = try #require(try ca.extensions.basicConstraints)
        #expect(constraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(ca.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        let usage = try #require(try ca.extensions.keyUsage)
        #expect(usage.keyCertSign && usage.cRLSign)
        let caIdentifier = try #require(try ca.extensions.subjectKeyIdentifier)
        #expect(try server.extensions.authorityKeyIdentifier?.keyIdentifier == caIdentifier.keyIdentifier)
        #expect(try server.extensions.subjectKeyIdentifier != nil)
        #expect(try server.extensions.extendedKeyUsage?.contains(.serverAuth) == true)
        let names = try #require(try server.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("localhost")))
        #expect(names.contains(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))))
        #expect(server.issuer == ca.subject)
        #expect(ca.publicKey.isValidSignature(server.signature, for: server))
    }

    @Test func liveEmulatorIssuesTokensOverItsOwnTLS() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = EmulatorConfiguration(blobPort: 0, dataDirectory: directory)
        let (stream, continuation) = AsyncStream<EmulatorEndpoints>.makeStream()
        let server = Task { try await AzureEmulatorServer(configuration: configuration).run { continuation.yield($0) } }
        defer { server.cancel() }
        var iterator = stream.makeAsyncIterator()
        let endpoints = try #require(await iterator.next())
        #expect(endpoints.httpsPort != 0 && endpoints.blobPort != 0 && endpoints.httpsPort != endpoints.blobPort)
        #expect(endpoints.caCertificatePath == directory + "/tls/ca.pem")

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(endpoints.caCertificatePath))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        do {
            var request = HTTPClientRequest(url: endpoints.tokenEndpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(
                ByteBuffer(
                    string:
                        "grant_type=client_credentials&client_id=kumo-dev&client_secret=kumo-dev-secret&scope=https%3A%2F%2Fvault.azure.net%2F.default"
                ))
            let response = try await client.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            let body = try await response.body.collect(upTo: 1 << 20)
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
            let token = try #require(json["access_token"] as? String)

            var vault = HTTPClientRequest(url: endpoints.keyVaultURL + "/secrets/answer?api-version=7.6")
            vault.method = .PUT
            vault.headers.add(name: "Authorization", value: "Bearer \(token)")
            vault.headers.add(name: "Content-Type", value: "application/json")
            vault.body = .bytes(ByteBuffer(string: #"{"value":"42"}"#))
            let stored = try await client.execute(vault, timeout: .seconds(30))
            #expect(stored.status == .ok)

            let challenge = try await client.execute(
                HTTPClientRequest(url: endpoints.keyVaultURL + "/secrets?api-version=7.6"), timeout: .seconds(30))
            #expect(challenge.status == .unauthorized)
            #expect(
                challenge.headers.first(name: "WWW-Authenticate")?.contains("resource=\"https://vault.azure.net\"")
                    == true)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
