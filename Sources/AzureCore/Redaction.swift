import Foundation
import Logging

/// Removes secrets from text bound for logs and errors: SAS signatures (`sig=`, also percent-encoded inside
/// another URL), account keys and SAS tokens in connection strings (`AccountKey=`, `SharedAccessSignature=`),
/// the values of `Authorization`, `x-ms-copy-source-authorization`, `X-IDENTITY-HEADER` and
/// `x-ms-encryption-key` headers, `SharedKey` and `Bearer` credentials wherever they appear, and the
/// secrets of Entra ID token requests and answers (`client_secret`, `client_assertion`, `access_token`,
/// `refresh_token`, `id_token`, in form and JSON encoding).
///
/// ``AzureError`` applies it to everything it stores, and the logging policy to every line, so one list
/// here decides what never leaves the process.
public enum Redaction {
    static let placeholder = "REDACTED"

    /// Values of query parameters that are secrets; ``RequestURL/redacted`` blanks them structurally.
    static let secretQueryParameters: Set<String> = ["sig", "client_secret", "client_assertion", "code"]

    /// Header names whose values are secrets (matched as a suffix, so `x-ms-copy-source-authorization` is
    /// covered by `authorization`).
    private static let secretHeaders = ["authorization", "x-identity-header", "x-ms-encryption-key"]

    public static func redact(_ text: String) -> String {
        var result = text
        // A SAS value ends at the next parameter; percent-encoded (a SAS URL inside another URL's query), the
        // next parameter starts at `%26`.
        // A SAS value is percent-encoded base64, so brackets, quotes and punctuation after a quoted URL end it.
        result = redactValues(after: "sig=", in: result, terminators: "&\" \n'<>()[]:;,")
        result = redactValues(after: "sig%3D", in: result, terminators: "&\" \n'<>()[]:;,", stopAt: ["%26", "%2526"])
        for marker in ["AccountKey=", "SharedAccessSignature="] {
            result = redactValues(after: marker, in: result, terminators: ";\" \n'")
        }
        for header in secretHeaders {
            // `Name: value` (HTTP, logs) and `"Name": "value"` (dictionary and JSON dumps).
            result = redactValues(after: header + ": ", in: result, terminators: "\"\n',")
            result = redactValues(after: header + "\": \"", in: result, terminators: "\"")
            result = redactValues(after: header + "\":\"", in: result, terminators: "\"")
        }
        for scheme in ["SharedKey ", "Bearer "] {
            result = redactValues(after: scheme, in: result, terminators: "\" \n',")
        }
        for field in ["client_secret", "client_assertion", "access_token", "refresh_token", "id_token", "accessToken"] {
            result = redactValues(after: field + "=", in: result, terminators: "&\" \n'")
            result = redactValues(after: "\"\(field)\":\"", in: result, terminators: "\"")
            result = redactValues(after: "\"\(field)\": \"", in: result, terminators: "\"")
        }
        return result
    }

    private static func redactValues(
        after marker: String, in text: String, terminators: String, stopAt sequences: [String] = []
    ) -> String {
        var output = ""
        var rest = Substring(text)
        while let range = rest.range(of: marker, options: .caseInsensitive) {
            output += rest[..<range.upperBound]
            rest = rest[range.upperBound...]
            var end = rest.firstIndex(where: { terminators.contains($0) }) ?? rest.endIndex
            for sequence in sequences {
                if let found = rest[..<end].range(of: sequence, options: .caseInsensitive) { end = found.lowerBound }
            }
            if end != rest.startIndex { output += placeholder }
            rest = rest[end...]
        }
        return output + rest
    }
}

extension RequestURL {
    /// The URL as sent, with the values of secret query parameters (a SAS `sig`) replaced, for errors and logs.
    public var redacted: String {
        var copy = self
        copy.query = query.map { parameter in
            Redaction.secretQueryParameters.contains(parameter.name.lowercased())
                ? (parameter.name, Redaction.placeholder) : parameter
        }
        return Redaction.redact(copy.string)
    }
}

/// A log handler that passes every message and metadata value through ``Redaction/redact(_:)`` before
/// handing it on, so a log line cannot carry a secret whichever component wrote it.
public struct RedactingLogHandler: LogHandler {
    public var wrapped: any LogHandler

    public init(_ wrapped: any LogHandler) { self.wrapped = wrapped }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
        function: String, line: UInt
    ) {
        // The handler's own metadata is printed with each line too, so it is redacted here as well.
        var merged = wrapped.metadata
        if let metadata { merged.merge(metadata) { $1 } }
        var handler = wrapped
        handler.metadata = [:]
        handler.log(
            level: level, message: "\(Redaction.redact(message.description))",
            metadata: merged.isEmpty ? nil : merged.mapValues(Self.redact), source: source, file: file,
            function: function, line: line)
    }

    private static func redact(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): return .string(Redaction.redact(text))
        case .stringConvertible(let convertible): return .string(Redaction.redact(convertible.description))
        case .array(let values): return .array(values.map(redact))
        case .dictionary(let values): return .dictionary(values.mapValues(redact))
        }
    }
}
