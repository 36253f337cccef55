import Foundation

/// Removes secrets from text bound for logs and errors: SAS signatures (`sig=`), account keys in connection
/// strings (`AccountKey=`), `Authorization` header values, and the secrets of Entra ID token requests and
/// answers (`client_secret=`, `client_assertion=`, `access_token`, `refresh_token`, `X-IDENTITY-HEADER`).
public enum Redaction {
    static let placeholder = "REDACTED"

    public static func redact(_ text: String) -> String {
        var result = text
        for marker in ["sig=", "AccountKey=", "SharedAccessSignature="] {
            result = redactValues(after: marker, in: result, terminators: marker == "sig=" ? "&\" \n'" : ";\" \n'")
        }
        for scheme in ["SharedKey ", "Bearer "] {
            result = redactValues(after: scheme, in: result, terminators: "\" \n',")
        }
        for field in ["client_secret=", "client_assertion=", "access_token=", "refresh_token=", "id_token="] {
            result = redactValues(after: field, in: result, terminators: "&\" \n'")
        }
        for field in ["\"access_token\":\"", "\"refresh_token\":\"", "\"id_token\":\"", "\"client_secret\":\""] {
            result = redactValues(after: field, in: result, terminators: "\"")
        }
        result = redactValues(after: "X-IDENTITY-HEADER: ", in: result, terminators: "\" \n',")
        return result
    }

    private static func redactValues(after marker: String, in text: String, terminators: String) -> String {
        var output = ""
        var rest = Substring(text)
        while let range = rest.range(of: marker, options: .caseInsensitive) {
            output += rest[..<range.upperBound]
            rest = rest[range.upperBound...]
            let end = rest.firstIndex(where: { terminators.contains($0) }) ?? rest.endIndex
            if end != rest.startIndex { output += placeholder }
            rest = rest[end...]
        }
        return output + rest
    }
}
