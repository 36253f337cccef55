import Crypto
import Foundation
import Synchronization
import _CryptoExtras

/// Issues and checks the emulator's access tokens: RS256 JWTs signed by one RSA key kept in
/// `<dataDirectory>/entra/signing-key.pem`, so tokens issued before a restart stay valid after it.
final class TokenIssuer: Sendable {
    let tenantID: String
    let lifetime: Duration
    private let signingKey: _RSA.Signing.PrivateKey
    /// The JWKS `kid` of the signing key: a thumbprint of its public key.
    let keyID: String
    private let authority = Mutex("https://127.0.0.1:10443")

    /// The audience of federated tokens (workload identity), as Entra expects it in client assertions.
    static let tokenExchangeAudience = "api://AzureADTokenExchange"

    init(dataDirectory: String, tenantID: String, lifetime: Duration) throws {
        self.tenantID = tenantID
        self.lifetime = lifetime
        let directory = URL(fileURLWithPath: dataDirectory).appendingPathComponent("entra")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let keyURL = directory.appendingPathComponent("signing-key.pem")
        if let pem = try? String(contentsOf: keyURL, encoding: .utf8) {
            signingKey = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } else {
            signingKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            try SecretFile.write(signingKey.pemRepresentation, to: keyURL)
        }
        keyID = Base64URL.encode(Data(Insecure.SHA1.hash(data: signingKey.publicKey.derRepresentation)))
    }

    /// Set once the HTTPS listener is bound: issuer and endpoints name the real port.
    func setHTTPSPort(_ port: Int) {
        authority.withLock { $0 = "https://127.0.0.1:\(port)" }
    }

    /// `https://127.0.0.1:<httpsPort>`, the authority host.
    var authorityHost: String { authority.withLock { $0 } }
    /// `https://127.0.0.1:<httpsPort>/<tenant>/v2.0`, the `iss` of every token (as the discovery document says).
    var issuer: String { "\(authorityHost)/\(tenantID)/v2.0" }

    struct Issued {
        var token: String
        var expiresOn: Date
        var notBefore: Date
        var lifetimeSeconds: Int
    }

    /// A signed access token for `audience`, issued to the application `clientID`.
    func issue(audience: String, clientID: String, subject: String? = nil, now: Date = Date()) throws -> Issued {
        let seconds = max(1, Int(lifetime.components.seconds))
        let issuedAt = now.timeIntervalSince1970.rounded(.down)
        let expires = issuedAt + Double(seconds)
        let objectID = Self.stableUUID(clientID)
        let claims: [String: Any] = [
            "aud": audience, "iss": issuer, "iat": Int(issuedAt), "nbf": Int(issuedAt), "exp": Int(expires),
            "tid": tenantID, "oid": objectID, "sub": subject ?? objectID, "appid": clientID, "azp": clientID,
            "appidacr": "1", "idtyp": "app", "ver": "2.0",
            "uti": Base64URL.encode(Data(UUID().uuidString.utf8).prefix(16)),
        ]
        let header: [String: Any] = ["alg": "RS256", "typ": "JWT", "kid": keyID]
        return Issued(
            token: try JSONWebToken.sign(header: header, claims: claims, with: signingKey),
            expiresOn: Date(timeIntervalSince1970: expires), notBefore: Date(timeIntervalSince1970: issuedAt),
            lifetimeSeconds: seconds)
    }

    /// Why a presented token is not accepted.
    enum Rejection: Equatable {
        case malformed
        case badSignature
        case expired
        case notYetValid
        case wrongIssuer
        case wrongAudience

        var description: String {
            switch self {
            case .malformed: "The access token is not a well-formed JWT."
            case .badSignature: "The access token signature is invalid."
            case .expired: "Lifetime validation failed, the token is expired."
            case .notYetValid: "Lifetime validation failed, the token is not yet valid."
            case .wrongIssuer: "Issuer validation failed."
            case .wrongAudience: "Audience validation failed. Audience did not match."
            }
        }
    }

    /// Checks signature, lifetime, issuer and audience; answers the token's claims or why it is refused.
    /// Lifetimes get Azure's five minutes of clock skew, cut to the token lifetime so that short-lived tokens
    /// configured for tests do expire soon.
    func validate(_ compact: String, audiences: Set<String>, now: Date = Date()) -> Validation {
        guard let token = JSONWebToken(compact: compact) else { return .rejected(.malformed) }
        guard token.algorithm == "RS256", token.header["kid"] as? String == keyID || token.header["kid"] == nil,
            token.hasValidRSASignature(from: signingKey.publicKey)
        else { return .rejected(.badSignature) }
        let skew = TimeInterval(min(300, max(1, lifetime.components.seconds)))
        guard let expires = token.date("exp"), expires.addingTimeInterval(skew) > now else {
            return .rejected(.expired)
        }
        if let notBefore = token.date("nbf"), notBefore.addingTimeInterval(-skew) > now {
            return .rejected(.notYetValid)
        }
        guard let issuer = token.string("iss"), acceptedIssuers.contains(issuer) else {
            return .rejected(.wrongIssuer)
        }
        guard token.audiences.contains(where: { audiences.contains($0) }) else {
            return .rejected(.wrongAudience)
        }
        return .valid(token)
    }

    /// Tokens name whichever host the client reached: the emulator answers for both loopback names.
    private var acceptedIssuers: Set<String> {
        let host = authorityHost
        return [issuer, host.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/\(tenantID)/v2.0"]
    }

    enum Validation {
        case valid(JSONWebToken)
        case rejected(Rejection)
    }

    /// The JWKS document (`/{tenant}/discovery/v2.0/keys`).
    func jwks() throws -> [String: Any] {
        let primitives = try signingKey.publicKey.getKeyPrimitives()
        return [
            "keys": [
                [
                    "kty": "RSA", "use": "sig", "kid": keyID, "x5t": keyID,
                    "n": Base64URL.encode(primitives.modulus), "e": Base64URL.encode(primitives.publicExponent),
                    "issuer": issuer,
                ]
            ]
        ]
    }

    /// A deterministic UUID-shaped object id for a client id, so `oid` stays the same across tokens and restarts.
    static func stableUUID(_ text: String) -> String {
        var bytes = Array(SHA256.hash(data: Data(text.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let parts = [
            hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4),
            hex.dropFirst(20),
        ]
        return parts.joined(separator: "-")
    }
}
