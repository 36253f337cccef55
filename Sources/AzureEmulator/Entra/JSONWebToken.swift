import Crypto
import Foundation
import _CryptoExtras

/// Base64url without padding (RFC 4648 §5), the encoding of JWT segments and JWK members.
enum Base64URL {
    static func encode(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: some StringProtocol) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        // Some clients send padded or standard base64; both decode to the same bytes.
        base64 = base64.replacingOccurrences(of: "=", with: "")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}

/// A compact-serialised JWS (RFC 7515) split into its parts, with header and claims parsed as JSON objects.
struct JSONWebToken {
    var header: [String: Any]
    var claims: [String: Any]
    /// `base64url(header).base64url(claims)`: the bytes the signature covers.
    var signingInput: String
    var signature: Data

    init?(compact: String) {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerData = Base64URL.decode(parts[0]), let claimsData = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2]),
            let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any],
            let claims = (try? JSONSerialization.jsonObject(with: claimsData)) as? [String: Any]
        else { return nil }
        self.header = header
        self.claims = claims
        self.signingInput = "\(parts[0]).\(parts[1])"
        self.signature = signature
    }

    var algorithm: String? { header["alg"] as? String }

    func string(_ claim: String) -> String? { claims[claim] as? String }

    /// A NumericDate claim (seconds since the epoch; JSON numbers may arrive as integers or doubles).
    func date(_ claim: String) -> Date? {
        Self.number(claims[claim]).map { Date(timeIntervalSince1970: $0) }
    }

    /// A JSON number from `JSONSerialization`, whichever Swift type it arrived as.
    static func number(_ value: Any?) -> Double? {
        switch value {
        case let value as Int: Double(value)
        case let value as Double: value
        case let value as NSNumber: value.doubleValue
        default: nil
        }
    }

    /// A JSON number that is an integer `Int` can hold exactly; nil for fractions, `1e300`, and non-numbers.
    static func integer(_ value: Any?) -> Int? {
        if let value = value as? Int { return value }
        return number(value).flatMap { Int(exactly: $0) }
    }

    /// `aud` may be one string or an array of them (RFC 7519 §4.1.3).
    var audiences: [String] {
        if let one = claims["aud"] as? String { return [one] }
        return claims["aud"] as? [String] ?? []
    }

    /// Checks an RS256 or PS256 signature with an RSA public key.
    func hasValidRSASignature(from key: _RSA.Signing.PublicKey) -> Bool {
        let signature = _RSA.Signing.RSASignature(rawRepresentation: self.signature)
        let digest = SHA256.hash(data: Data(signingInput.utf8))
        switch algorithm {
        case "RS256": return key.isValidSignature(signature, for: digest, padding: .insecurePKCS1v1_5)
        case "PS256": return key.isValidSignature(signature, for: digest, padding: .PSS)
        default: return false
        }
    }

    /// Serialises and RS256-signs a token. Keys are sorted so equal inputs give equal tokens.
    static func sign(header: [String: Any], claims: [String: Any], with key: _RSA.Signing.PrivateKey) throws -> String {
        let headerData = try JSONSerialization.data(
            withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        let claimsData = try JSONSerialization.data(
            withJSONObject: claims, options: [.sortedKeys, .withoutEscapingSlashes])
        let input = "\(Base64URL.encode(headerData)).\(Base64URL.encode(claimsData))"
        let signature = try key.signature(for: SHA256.hash(data: Data(input.utf8)), padding: .insecurePKCS1v1_5)
        return "\(input).\(Base64URL.encode(signature.rawRepresentation))"
    }
}
