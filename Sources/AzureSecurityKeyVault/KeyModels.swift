import AzureCore
import Foundation

/// A JSON Web Key type (`kty`).
public struct KeyType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static let rsa = KeyType("RSA")
    public static let rsaHSM = KeyType("RSA-HSM")
    public static let ec = KeyType("EC")
    public static let ecHSM = KeyType("EC-HSM")
    /// A symmetric (AES) key; Managed HSM only on Azure.
    public static let oct = KeyType("oct")
    public static let octHSM = KeyType("oct-HSM")

    public var description: String { rawValue }
}

/// An operation a key may be used for (`key_ops`).
public struct KeyOperation: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static let encrypt = KeyOperation("encrypt")
    public static let decrypt = KeyOperation("decrypt")
    public static let sign = KeyOperation("sign")
    public static let verify = KeyOperation("verify")
    public static let wrapKey = KeyOperation("wrapKey")
    public static let unwrapKey = KeyOperation("unwrapKey")
    public static let `import` = KeyOperation("import")

    public var description: String { rawValue }
}

/// An elliptic curve name (`crv`).
public struct KeyCurveName: RawRepresentable, Hashable, Sendable, Codable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static let p256 = KeyCurveName("P-256")
    public static let p384 = KeyCurveName("P-384")
    public static let p521 = KeyCurveName("P-521")
    public static let p256K = KeyCurveName("P-256K")
}

/// The public parts of a key as Key Vault returns them (private material never leaves the vault).
public struct JsonWebKey: Sendable, Hashable {
    /// `kid`: the key's versioned identifier.
    public let id: String?
    public let keyType: KeyType
    public let keyOperations: [KeyOperation]
    /// RSA modulus.
    public let n: Data?
    /// RSA public exponent.
    public let e: Data?
    public let curveName: KeyCurveName?
    public let x: Data?
    public let y: Data?
}

/// A key's metadata.
public struct KeyProperties: Sendable, Hashable {
    /// `https://{vault}/keys/{name}/{version}`.
    public let id: URL?
    public let vaultURL: URL?
    public let name: String
    public let version: String?
    public var enabled: Bool?
    public var notBefore: Date?
    public var expiresOn: Date?
    public let createdOn: Date?
    public let updatedOn: Date?
    public var tags: [String: String]
    public let managed: Bool
    public let recoveryLevel: String?
    public let exportable: Bool?

    /// Properties to pass to ``KeyClient/updateKeyProperties(_:keyOperations:)``.
    public init(name: String, version: String? = nil) {
        self.init(id: nil, vaultURL: nil, name: name, version: version, attributes: nil, tags: nil, managed: nil)
    }

    init(id: URL?, vaultURL: URL?, name: String, version: String?, attributes: WireAttributes?, tags: [String: String]?,
         managed: Bool?) {
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
        exportable = attributes?.exportable
        self.tags = tags ?? [:]
        self.managed = managed ?? false
    }

    init(wireID: String?, attributes: WireAttributes?, tags: [String: String]?, managed: Bool?) throws {
        guard let wireID, let url = URL(string: wireID) else {
            throw AzureError(.invalidResponse, "a Key Vault key in the answer has no kid")
        }
        let parts = try KeyVaultKeyIdentifier(url)
        self.init(id: url, vaultURL: parts.vaultURL, name: parts.name, version: parts.version, attributes: attributes,
                  tags: tags, managed: managed)
    }
}

/// A key: its public JSON Web Key and its properties.
public struct KeyVaultKey: Sendable, Hashable {
    public let key: JsonWebKey
    public let properties: KeyProperties

    /// The versioned identifier, which ``CryptographyClient`` takes.
    public var id: URL? { properties.id }
    public var name: String { properties.name }
    public var keyType: KeyType { key.keyType }
    public var keyOperations: [KeyOperation] { key.keyOperations }
}

/// A deleted key, recoverable until its scheduled purge date.
public struct DeletedKey: Sendable {
    public let key: KeyVaultKey
    public let recoveryID: URL?
    public let deletedOn: Date?
    public let scheduledPurgeDate: Date?

    public var name: String { key.name }
}

/// `JsonWebKey` of the REST API.
struct WireJsonWebKey: Codable, Sendable {
    var kid: String?
    var kty: KeyType?
    var keyOperations: [KeyOperation]?
    var n: Base64URLData?
    var e: Base64URLData?
    var crv: KeyCurveName?
    var x: Base64URLData?
    var y: Base64URLData?

    enum CodingKeys: String, CodingKey {
        case kid, kty, n, e, crv, x, y
        case keyOperations = "key_ops"
    }
}

/// `KeyBundle`, `DeletedKeyBundle` and `KeyItem` of the REST API.
struct WireKey: Codable, Sendable {
    var key: WireJsonWebKey?
    var kid: String?
    var attributes: WireAttributes?
    var tags: [String: String]?
    var managed: Bool?
    var recoveryId: String?
    var scheduledPurgeDate: Double?
    var deletedDate: Double?

    func properties() throws -> KeyProperties {
        try KeyProperties(wireID: key?.kid ?? kid, attributes: attributes, tags: tags, managed: managed)
    }

    func keyVaultKey() throws -> KeyVaultKey {
        guard let jwk = key, let kty = jwk.kty else {
            throw AzureError(.invalidResponse, "a Key Vault key in the answer has no JSON Web Key")
        }
        return KeyVaultKey(
            key: JsonWebKey(
                id: jwk.kid, keyType: kty, keyOperations: jwk.keyOperations ?? [], n: jwk.n?.data, e: jwk.e?.data,
                curveName: jwk.crv, x: jwk.x?.data, y: jwk.y?.data),
            properties: try properties())
    }

    func deleted() throws -> DeletedKey {
        DeletedKey(
            key: try keyVaultKey(), recoveryID: recoveryId.flatMap(URL.init(string:)),
            deletedOn: WireAttributes.date(deletedDate), scheduledPurgeDate: WireAttributes.date(scheduledPurgeDate))
    }
}

/// The body of Create Key and Update Key.
struct KeyCreateParameters: Encodable {
    var kty: KeyType?
    var keySize: Int?
    var crv: KeyCurveName?
    var keyOperations: [KeyOperation]?
    var attributes: WireAttributes?
    var tags: [String: String]?

    enum CodingKeys: String, CodingKey {
        case kty, crv, attributes, tags
        case keySize = "key_size"
        case keyOperations = "key_ops"
    }
}
