import AzureCore
import Crypto
import Foundation

/// A shared access policy's name and key (a connection string's `SharedAccessKeyName` and `SharedAccessKey`),
/// which signs ``EventHubsSharedAccessSignature`` tokens for the Event Hubs CBS node.
///
/// The key is used as its UTF-8 bytes, exactly as the portal shows it (it is not base64-decoded), as Microsoft's
/// SDKs do. `description`, `dump` and string interpolation show the key name only.
public struct EventHubsSharedKeyCredential: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The shared access policy's name, e.g. `RootManageSharedAccessKey`.
    public let keyName: String
    private let key: String

    /// - Throws: ``AzureError`` `.invalidArgument` when the key name or the key is empty.
    public init(keyName: String, key: String) throws {
        guard !keyName.isEmpty else { throw AzureError(.invalidArgument, "the shared access key name is empty") }
        guard !key.isEmpty else {
            throw AzureError(.invalidArgument, "the shared access key of policy '\(keyName)' is empty")
        }
        self.keyName = keyName
        self.key = key
    }

    /// Signs a token for `resource` valid until `expiresOn` (truncated to whole seconds).
    ///
    /// The token is `SharedAccessSignature sr=<R>&sig=<S>&se=<expiry>&skn=<key name>`, where `R` is the
    /// lower-cased resource URI form-encoded, `S` the form-encoded base64 of HMAC-SHA256 over `"<R>\n<expiry>"`
    /// keyed with the key's UTF-8 bytes, and expiry Unix seconds. Byte for byte what azure-eventhub's
    /// `generate_sas_token` makes for the same lower-cased resource.
    ///
    /// - Parameter resource: Usually
    ///   ``EventHubsSharedAccessSignature/resource(fullyQualifiedNamespace:eventHubName:)``.
    public func signature(for resource: String, expiresOn: Date) -> EventHubsSharedAccessSignature {
        // Resource URIs are case-insensitive to the service; lower-casing makes one token per resource, as .NET's
        // SDK does when it builds the audience.
        let resource = resource.lowercased()
        let seconds = Int64(expiresOn.timeIntervalSince1970.rounded(.down))
        let encodedResource = EventHubsSharedAccessSignature.formEncode(resource)
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("\(encodedResource)\n\(seconds)".utf8), using: SymmetricKey(data: Data(key.utf8)))
        let signature = Data(mac).base64EncodedString()
        let token =
            "SharedAccessSignature sr=\(encodedResource)&sig=\(EventHubsSharedAccessSignature.formEncode(signature))"
            + "&se=\(seconds)&skn=\(EventHubsSharedAccessSignature.formEncode(keyName))"
        return EventHubsSharedAccessSignature(
            token: token, resource: resource, expiresOn: Date(timeIntervalSince1970: TimeInterval(seconds)),
            keyName: keyName)
    }

    /// Signs a token for `resource` valid for `validity` from `now` (default one hour, as Microsoft's SDKs).
    public func signature(
        for resource: String, validFor validity: Duration = .seconds(3600), now: Date = Date()
    ) -> EventHubsSharedAccessSignature {
        let seconds = Double(validity.components.seconds) + Double(validity.components.attoseconds) / 1e18
        return signature(for: resource, expiresOn: now.addingTimeInterval(seconds))
    }

    public var description: String { "EventHubsSharedKeyCredential(keyName: \(keyName), key: REDACTED)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["keyName": keyName]) }
}
