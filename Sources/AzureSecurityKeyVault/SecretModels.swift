import AzureCore
import Foundation

/// A secret's metadata: everything but its value.
public struct SecretProperties: Sendable, Hashable {
    /// `https://{vault}/secrets/{name}/{version}`.
    public let id: URL?
    public let vaultURL: URL?
    public let name: String
    public let version: String?
    public var enabled: Bool?
    public var notBefore: Date?
    public var expiresOn: Date?
    public let createdOn: Date?
    public let updatedOn: Date?
    /// A hint for the value's format, e.g. `text/plain` or `application/x-pkcs12`.
    public var contentType: String?
    public var tags: [String: String]
    /// Whether Key Vault manages the secret (the secret behind a certificate).
    public let managed: Bool
    /// The deletion recovery level, e.g. `Recoverable+Purgeable`.
    public let recoveryLevel: String?

    /// Properties to pass to ``SecretClient/updateSecretProperties(_:)`` for the latest (or given) version of a
    /// secret.
    public init(name: String, version: String? = nil) {
        self.init(id: nil, vaultURL: nil, name: name, version: version, attributes: nil, contentType: nil, tags: nil,
                  managed: nil)
    }

    init(id: URL?, vaultURL: URL?, name: String, version: String?, attributes: WireAttributes?, contentType: String?,
         tags: [String: String]?, managed: Bool?) {
        self.id = id
        self.vaultURL = vaultURL
        self.name = name
        self.version = version
        enabled = attributes?.enabled
        notBefore = WireAttributes.date(attributes?.nbf)
        expiresOn = WireAttributes.date(attributes?.exp)
        createdOn = WireAttributes.date(attributes?.created)
        updatedOn = WireAttributes.date(attributes?.updated)
        recoveryLevel = attributes?.recoveryLevel
        self.contentType = contentType
        self.tags = tags ?? [:]
        self.managed = managed ?? false
    }

    init(wireID: String?, attributes: WireAttributes?, contentType: String?, tags: [String: String]?, managed: Bool?) throws {
        guard let wireID, let url = URL(string: wireID) else {
            throw AzureError(.invalidResponse, "a Key Vault secret in the answer has no id")
        }
        let parts = try KeyVaultSecretIdentifier(url)
        self.init(id: url, vaultURL: parts.vaultURL, name: parts.name, version: parts.version, attributes: attributes,
                  contentType: contentType, tags: tags, managed: managed)
    }
}

/// A secret with its value. Its `description` never shows the value.
public struct KeyVaultSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String
    public let properties: SecretProperties

    public var id: URL? { properties.id }
    public var name: String { properties.name }

    public var description: String {
        "KeyVaultSecret(name: \(name), version: \(properties.version ?? "latest"), value: REDACTED)"
    }

    public var debugDescription: String { description }
    /// `dump` and debuggers see the properties, not the value.
    public var customMirror: Mirror { Mirror(self, children: ["properties": properties]) }
}

/// A deleted secret, recoverable until its scheduled purge date (vaults with soft delete).
public struct DeletedSecret: Sendable {
    public let properties: SecretProperties
    /// The identifier to recover it with.
    public let recoveryID: URL?
    public let deletedOn: Date?
    public let scheduledPurgeDate: Date?

    public var name: String { properties.name }
}

/// `SecretBundle`, `DeletedSecretBundle` and `SecretItem` of the REST API.
struct WireSecret: Codable, Sendable {
    var value: String?
    var id: String?
    var contentType: String?
    var attributes: WireAttributes?
    var tags: [String: String]?
    var kid: String?
    var managed: Bool?
    var recoveryId: String?
    var scheduledPurgeDate: Double?
    var deletedDate: Double?

    func properties() throws -> SecretProperties {
        try SecretProperties(wireID: id, attributes: attributes, contentType: contentType, tags: tags, managed: managed)
    }

    func secret() throws -> KeyVaultSecret {
        KeyVaultSecret(value: value ?? "", properties: try properties())
    }

    func deleted() throws -> DeletedSecret {
        DeletedSecret(
            properties: try properties(), recoveryID: recoveryId.flatMap(URL.init(string:)),
            deletedOn: WireAttributes.date(deletedDate), scheduledPurgeDate: WireAttributes.date(scheduledPurgeDate))
    }
}

/// The body of Set Secret and Update Secret.
struct SecretSetParameters: Encodable {
    var value: String?
    var contentType: String?
    var tags: [String: String]?
    var attributes: WireAttributes?
}
