import AzureCore
import Crypto
import Foundation
import _CryptoExtras

/// Authenticates a service principal with a certificate: each token request carries a client assertion (a JWT
/// signed with the certificate's private key) instead of a secret.
public struct ClientCertificateCredential: TokenCredential, CustomStringConvertible {
    /// How the client assertion is signed.
    public enum SignatureAlgorithm: String, Sendable {
        /// RSASSA-PKCS1-v1_5 with SHA-256, what Entra ID has always accepted.
        case rs256 = "RS256"
        /// RSASSA-PSS with SHA-256.
        case ps256 = "PS256"
    }

    let client: EntraTokenClient
    let certificatePath: String
    private let signer: ClientAssertionSigner
    private let cache = TokenCache()

    /// - Parameters:
    ///   - certificatePath: a PEM file holding the certificate and its RSA private key (PKCS#8 `PRIVATE KEY` or
    ///     PKCS#1 `RSA PRIVATE KEY`, unencrypted).
    /// - Throws: ``AzureError`` `.invalidArgument` naming the file when it cannot be read or lacks the certificate
    ///   or the key, and for a malformed tenant ID or a non-https authority.
    public init(
        tenantID: String, clientID: String, certificatePath: String, signatureAlgorithm: SignatureAlgorithm = .rs256,
        options: TokenCredentialOptions = .init(), environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        client = try EntraTokenClient(
            credentialName: "ClientCertificateCredential", tenantID: tenantID, clientID: clientID, options: options,
            environment: environment)
        self.certificatePath = certificatePath
        guard let pem = FileManager.default.contents(atPath: certificatePath).flatMap({ String(data: $0, encoding: .utf8) })
        else {
            throw AzureError(.invalidArgument, "ClientCertificateCredential: cannot read the certificate file '\(certificatePath)'")
        }
        signer = try ClientAssertionSigner(pem: pem, source: certificatePath, algorithm: signatureAlgorithm)
    }

    public func token(for scopes: [String]) async throws -> AccessToken {
        try await token(for: scopes, tenantID: nil)
    }

    /// A token from `tenantID` (the credential's own when nil; another only when additionally allowed).
    public func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
        let client = client
        let signer = signer
        let tenant = try client.resolveTenant(tenantID)
        return try await cache.token(for: scopes, tenantID: tenant) {
            let endpoint = try await client.tokenEndpoint(tenant: tenant)
            let assertion = try signer.assertion(audience: endpoint, clientID: client.clientID)
            return try await client.requestToken(
                endpoint: endpoint, scopes: scopes,
                form: [
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion),
                ])
        }
    }

    public var description: String {
        "ClientCertificateCredential(tenantID: \(client.tenantID), clientID: \(client.clientID), "
            + "certificatePath: \(certificatePath))"
    }
}

/// Builds the client assertion JWT Entra ID expects from certificate credentials: header `alg`, `typ`, `x5t`
/// (base64url SHA-1 of the certificate DER) and `x5t#S256`; claims `aud` (the token endpoint), `iss` = `sub` =
/// client ID, a fresh `jti`, `nbf` now and `exp` ten minutes later.
package struct ClientAssertionSigner: Sendable {
    let certificateDER: Data
    let privateKey: _RSA.Signing.PrivateKey
    let algorithm: ClientCertificateCredential.SignatureAlgorithm

    package init(pem: String, source: String, algorithm: ClientCertificateCredential.SignatureAlgorithm = .rs256) throws {
        let blocks = PEMBlock.all(in: pem)
        guard let certificate = blocks.first(where: { $0.label == "CERTIFICATE" }) else {
            throw AzureError(.invalidArgument, "ClientCertificateCredential: '\(source)' holds no CERTIFICATE block")
        }
        guard let key = blocks.first(where: { $0.label == "PRIVATE KEY" || $0.label == "RSA PRIVATE KEY" }) else {
            throw AzureError(
                .invalidArgument,
                "ClientCertificateCredential: '\(source)' holds no unencrypted RSA private key (PRIVATE KEY or RSA PRIVATE KEY)")
        }
        do {
            privateKey = try _RSA.Signing.PrivateKey(derRepresentation: key.der)
        } catch {
            throw AzureError(
                .invalidArgument, "ClientCertificateCredential: the private key in '\(source)' is not a usable RSA key")
        }
        certificateDER = certificate.der
        self.algorithm = algorithm
    }

    package var publicKeyPEM: String { privateKey.publicKey.pemRepresentation }

    package func assertion(audience: String, clientID: String, now: Date = Date()) throws -> String {
        let header: [String: String] = [
            "alg": algorithm.rawValue, "typ": "JWT",
            "x5t": Base64URL.encode(Data(Insecure.SHA1.hash(data: certificateDER))),
            "x5t#S256": Base64URL.encode(Data(SHA256.hash(data: certificateDER))),
        ]
        let issued = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = [
            "aud": audience, "iss": clientID, "sub": clientID, "jti": UUID().uuidString.lowercased(),
            "nbf": issued, "iat": issued, "exp": issued + 600,
        ]
        let signingInput = try Base64URL.encode(JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
            + "." + Base64URL.encode(JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let signature: _RSA.Signing.RSASignature
        do {
            signature = try privateKey.signature(
                for: Data(signingInput.utf8), padding: algorithm == .rs256 ? .insecurePKCS1v1_5 : .PSS)
        } catch {
            throw AzureError(.authentication, "ClientCertificateCredential could not sign the client assertion")
        }
        return signingInput + "." + Base64URL.encode(signature.rawRepresentation)
    }
}

/// A `-----BEGIN <label>-----` block of a PEM file.
struct PEMBlock {
    var label: String
    var der: Data

    static func all(in text: String) -> [PEMBlock] {
        var blocks: [PEMBlock] = []
        var label: String?
        var base64 = ""
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") {
                label = String(line.dropFirst("-----BEGIN ".count).dropLast(5))
                base64 = ""
            } else if line.hasPrefix("-----END "), let current = label {
                if let der = Data(base64Encoded: base64) { blocks.append(PEMBlock(label: current, der: der)) }
                label = nil
            } else if label != nil {
                base64 += line
            }
        }
        return blocks
    }
}
