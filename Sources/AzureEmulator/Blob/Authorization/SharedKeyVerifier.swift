import Crypto
import Foundation

/// Checks Shared Key signatures as the Storage REST documentation defines them ("Authorize with Shared Key",
/// Blob service, version 2009-09-19 and later).
enum SharedKeyVerifier {
    /// What a request contributes to its string-to-sign.
    struct SignedRequest {
        var method: String
        /// The request path exactly as sent (still percent-encoded), e.g. `/devstoreaccount1/c/my%20blob`.
        var path: String
        /// Query parameters, percent-decoded.
        var query: [(name: String, value: String)]
        /// Header names in any case; values as received.
        var headers: [(name: String, value: String)]
    }

    /// Whether `signature` signs `request` with `key`.
    ///
    /// The documentation folds runs of whitespace in canonicalised header values, but Microsoft's SDKs sign
    /// values as they are; both forms are accepted so either kind of client authenticates.
    static func isValid(signature: String, for request: SignedRequest, account: String, key: String) -> Bool {
        for fold in [true, false] {
            if let expected = Self.signature(stringToSign(request, account: account, foldHeaderWhitespace: fold), key: key),
                SecretComparison.matches(signature, expected)
            {
                return true
            }
        }
        return false
    }

    /// The string-to-sign for `request` against `account`.
    static func stringToSign(_ request: SignedRequest, account: String, foldHeaderWhitespace: Bool = true) -> String {
        func header(_ name: String) -> String {
            request.headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value ?? ""
        }
        var contentLength = header("Content-Length")
        // Since version 2015-02-21 a zero Content-Length is signed as the empty string.
        if contentLength == "0" { contentLength = "" }
        var parts = [
            request.method.uppercased(), header("Content-Encoding"), header("Content-Language"), contentLength,
            header("Content-MD5"), header("Content-Type"), header("Date"), header("If-Modified-Since"),
            header("If-Match"), header("If-None-Match"), header("If-Unmodified-Since"), header("Range"),
        ].joined(separator: "\n")
        parts += "\n"

        let msHeaders = request.headers
            .map { (name: $0.name.lowercased(), value: $0.value) }
            .filter { $0.name.hasPrefix("x-ms-") }
            .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        for (name, value) in msHeaders {
            parts += "\(name):\(foldHeaderWhitespace ? foldWhitespace(value) : value)\n"
        }

        parts += "/\(account)\(request.path)"
        var grouped: [String: [String]] = [:]
        for item in request.query { grouped[item.name.lowercased(), default: []].append(item.value) }
        for name in grouped.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            parts += "\n\(name):\(grouped[name]!.sorted().joined(separator: ","))"
        }
        return parts
    }

    /// Base64 of HMAC-SHA256 over `stringToSign`, keyed with the base64-decoded account key.
    static func signature(_ stringToSign: String, key: String) -> String? {
        guard let keyData = Data(base64Encoded: key) else { return nil }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: SymmetricKey(data: keyData))
        return Data(mac).base64EncodedString()
    }

    /// Collapses runs of whitespace to one space and trims the ends, as canonicalised headers require.
    private static func foldWhitespace(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }).joined(separator: " ")
    }
}
