import AzureCore
import Foundation

/// A shared access signature token for Event Hubs, as its claims-based security (CBS) node accepts it:
/// `SharedAccessSignature sr=<resource>&sig=<signature>&se=<expiry>&skn=<key name>`.
///
/// Made by ``EventHubsSharedKeyCredential/signature(for:expiresOn:)``, or parsed from a token someone else
/// issued (``init(parsing:)``) so a client knows when it expires and must be replaced. `description`, `dump` and
/// string interpolation never show the token.
public struct EventHubsSharedAccessSignature: Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
{
    /// The whole token, starting with `SharedAccessSignature `, as sent to the CBS node. A secret.
    public let token: String
    /// The resource URI the token grants access to (`sr`, percent-decoded), e.g.
    /// `sb://contoso.servicebus.windows.net/orders`. Access extends to every entity below it.
    public let resource: String
    /// When the token stops being accepted (`se`).
    public let expiresOn: Date
    /// The name of the shared access policy that signed it (`skn`), when the token names one.
    public let keyName: String?

    /// The type the CBS `put-token` request declares for this kind of token.
    public static let tokenType = "servicebus.windows.net:sastoken"

    private static let scheme = "SharedAccessSignature "

    /// Reads a token issued elsewhere (a connection string's `SharedAccessSignature`, an
    /// `EventHubsSharedAccessSignature` handed over by a token service).
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` when the text is not `SharedAccessSignature k=v&…`, or lacks
    ///   `sr`, `sig` or `se`, or `se` is not a Unix time in seconds. The message names the missing or bad field and
    ///   never contains the token or its signature.
    public init(parsing token: String) throws {
        let trimmed = token.trimmingCharacters(in: .whitespaces)
        guard trimmed.count > Self.scheme.count,
            trimmed.prefix(Self.scheme.count).lowercased() == Self.scheme.lowercased()
        else {
            throw Self.invalid("it does not start with 'SharedAccessSignature '")
        }
        var fields: [String: String] = [:]
        for pair in trimmed.dropFirst(Self.scheme.count).split(separator: "&", omittingEmptySubsequences: true) {
            guard let equals = pair.firstIndex(of: "=") else {
                throw Self.invalid("a field has no '=' (expected name=value)")
            }
            let name = String(pair[..<equals]).trimmingCharacters(in: .whitespaces).lowercased()
            let value = String(pair[pair.index(after: equals)...])
            // Field names are short known words; naming an unknown one would risk echoing a pasted secret.
            guard ["sr", "sig", "se", "skn"].contains(name) else { continue }
            guard fields[name] == nil else { throw Self.invalid("field '\(name)' appears twice") }
            fields[name] = value
        }
        guard let encodedResource = fields["sr"], !encodedResource.isEmpty else {
            throw Self.invalid("it has no resource (sr)")
        }
        guard let resource = Self.formDecode(encodedResource) else {
            throw Self.invalid("its resource (sr) is not valid percent-encoding")
        }
        guard let signature = fields["sig"], !signature.isEmpty else { throw Self.invalid("it has no signature (sig)") }
        guard let expiry = fields["se"], !expiry.isEmpty else { throw Self.invalid("it has no expiry (se)") }
        guard let seconds = Int64(expiry), seconds >= 0 else {
            throw Self.invalid("its expiry (se) '\(expiry)' is not a Unix time in seconds")
        }
        self.token = trimmed
        self.resource = resource
        self.expiresOn = Date(timeIntervalSince1970: TimeInterval(seconds))
        self.keyName = fields["skn"].flatMap(Self.formDecode).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Builds a token from its already computed parts; ``EventHubsSharedKeyCredential`` is the only caller.
    init(token: String, resource: String, expiresOn: Date, keyName: String?) {
        self.token = token
        self.resource = resource
        self.expiresOn = expiresOn
        self.keyName = keyName
    }

    /// Whether the token has expired at `date`, or will within `margin` (renew before the service refuses it).
    public func isExpired(at date: Date = Date(), margin: Duration = .zero) -> Bool {
        let seconds = Double(margin.components.seconds) + Double(margin.components.attoseconds) / 1e18
        return expiresOn.timeIntervalSince(date) <= seconds
    }

    /// The token as an ``AccessToken`` (the token text and its expiry), for code that caches tokens generically.
    public var accessToken: AccessToken { AccessToken(token: token, expiresOn: expiresOn) }

    /// The resource URI Event Hubs authorizes for an event hub (or, with `eventHubName` nil, the whole
    /// namespace): `sb://<namespace>/<event hub>`, lower-cased. Pass it to
    /// ``EventHubsSharedKeyCredential/signature(for:expiresOn:)``.
    public static func resource(fullyQualifiedNamespace: String, eventHubName: String?) -> String {
        var uri = "sb://\(fullyQualifiedNamespace)/"
        if let eventHubName, !eventHubName.isEmpty { uri += eventHubName }
        return uri.lowercased()
    }

    public var description: String {
        "EventHubsSharedAccessSignature(resource: \(resource), expiresOn: \(expiresOn), keyName: \(keyName ?? "none"), "
            + "token: REDACTED)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["resource": resource, "expiresOn": expiresOn, "keyName": keyName as Any])
    }

    private static func invalid(_ reason: String) -> AzureError {
        AzureError(.invalidArgument, "malformed Event Hubs shared access signature: \(reason)")
    }

    // MARK: Form encoding

    /// Percent-encodes as Python's `urllib.parse.quote_plus`, which Microsoft's Event Hubs SDK uses for `sr`,
    /// `sig` and `skn`: letters, digits and `_.-~` stay, a space becomes `+`, every other UTF-8 byte `%XX`.
    static func formEncode(_ text: String) -> String {
        var output = ""
        output.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"),
                UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                output += "+"
            default:
                output += "%"
                output += String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return output
    }

    /// The inverse of ``formEncode(_:)`` (`+` is a space); nil when a `%` is not followed by two hex digits or the
    /// bytes are not UTF-8.
    static func formDecode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
