import AzureCore
import Foundation

/// Creates and manages keys in an Azure Key Vault (REST API 7.5). Cryptographic operations with a key go
/// through ``CryptographyClient``.
public struct KeyClient: Sendable {
    public var vaultURL: URL { pipeline.vaultURL }
    let pipeline: KeyVaultPipeline
    let credential: any TokenCredential
    let options: ClientOptions
    let transport: any HTTPTransport

    /// - Throws: ``AzureError`` `.invalidArgument` when `vaultURL` is not a URL, `.authentication` when it is not
    ///   https (plain http is allowed only for a loopback emulator).
    public init(vaultURL: URL, credential: any TokenCredential, options: ClientOptions = ClientOptions(),
                transport: any HTTPTransport = AsyncHTTPClientTransport()) throws {
        pipeline = try KeyVaultPipeline(vaultURL: vaultURL, credential: credential, options: options, transport: transport)
        self.credential = credential
        self.options = options
        self.transport = transport
    }

    /// Creates a key, or a new version of it when `name` exists.
    ///
    /// - Parameters:
    ///   - size: RSA key size in bits (2048, 3072, 4096) or AES size (128, 192, 256); the service default when nil.
    ///   - curve: the curve of an EC key.
    @discardableResult
    public func createKey(
        name: String, type: KeyType, size: Int? = nil, curve: KeyCurveName? = nil, keyOperations: [KeyOperation]? = nil,
        enabled: Bool? = nil, notBefore: Date? = nil, expiresOn: Date? = nil, tags: [String: String] = [:]
    ) async throws -> KeyVaultKey {
        let body = KeyCreateParameters(
            kty: type, keySize: size, crv: curve, keyOperations: keyOperations,
            attributes: enabled == nil && notBefore == nil && expiresOn == nil
                ? nil : WireAttributes(enabled: enabled, notBefore: notBefore, expiresOn: expiresOn),
            tags: tags.isEmpty ? nil : tags)
        return try await pipeline.send(.post, pipeline.url("keys", name, "create"), body: body, as: WireKey.self)
            .keyVaultKey()
    }

    /// Creates an RSA key (`RSA-HSM` when `hardwareProtected`).
    @discardableResult
    public func createRSAKey(
        name: String, size: Int? = nil, hardwareProtected: Bool = false, keyOperations: [KeyOperation]? = nil,
        tags: [String: String] = [:]
    ) async throws -> KeyVaultKey {
        try await createKey(name: name, type: hardwareProtected ? .rsaHSM : .rsa, size: size,
                            keyOperations: keyOperations, tags: tags)
    }

    /// Creates a symmetric AES key (`oct-HSM` when `hardwareProtected`), e.g. for A256KW key wrapping.
    @discardableResult
    public func createOctKey(
        name: String, size: Int? = nil, hardwareProtected: Bool = false, keyOperations: [KeyOperation]? = nil,
        tags: [String: String] = [:]
    ) async throws -> KeyVaultKey {
        try await createKey(name: name, type: hardwareProtected ? .octHSM : .oct, size: size,
                            keyOperations: keyOperations, tags: tags)
    }

    /// Creates an elliptic curve key (`EC-HSM` when `hardwareProtected`).
    @discardableResult
    public func createECKey(
        name: String, curve: KeyCurveName? = nil, hardwareProtected: Bool = false, keyOperations: [KeyOperation]? = nil,
        tags: [String: String] = [:]
    ) async throws -> KeyVaultKey {
        try await createKey(name: name, type: hardwareProtected ? .ecHSM : .ec, curve: curve,
                            keyOperations: keyOperations, tags: tags)
    }

    /// The key `name` at `version`, or its latest version when `version` is nil.
    ///
    /// - Throws: ``AzureError`` with status 404 and code `KeyNotFound` when there is no such key.
    public func getKey(name: String, version: String? = nil) async throws -> KeyVaultKey {
        try await pipeline.send(.get, pipeline.url("keys", name, version ?? ""), as: WireKey.self).keyVaultKey()
    }

    /// Changes a key version's metadata (enabled, dates, tags) and, when given, its permitted operations.
    @discardableResult
    public func updateKeyProperties(_ properties: KeyProperties, keyOperations: [KeyOperation]? = nil) async throws
        -> KeyVaultKey
    {
        let body = KeyCreateParameters(
            keyOperations: keyOperations,
            attributes: WireAttributes(enabled: properties.enabled, notBefore: properties.notBefore,
                                       expiresOn: properties.expiresOn),
            tags: properties.tags)
        return try await pipeline.send(
            .patch, pipeline.url("keys", properties.name, properties.version ?? ""), body: body, as: WireKey.self
        ).keyVaultKey()
    }

    /// Every key in the vault (latest versions).
    public func listPropertiesOfKeys(pageSize: Int? = nil) -> PagedResults<KeyProperties> {
        pipeline.list(pipeline.url("keys", query: [("maxresults", pageSize.map(String.init))]), item: WireKey.self) {
            try $0.properties()
        }
    }

    /// Every version of the key `name`.
    public func listPropertiesOfKeyVersions(name: String, pageSize: Int? = nil) -> PagedResults<KeyProperties> {
        pipeline.list(
            pipeline.url("keys", name, "versions", query: [("maxresults", pageSize.map(String.init))]), item: WireKey.self
        ) { try $0.properties() }
    }

    /// Creates a new version of the key `name` with the same type and size. Older versions stay usable for
    /// unwrap and decrypt, so data protected under them can still be read.
    @discardableResult
    public func rotateKey(name: String) async throws -> KeyVaultKey {
        try await pipeline.send(.post, pipeline.url("keys", name, "rotate"), as: WireKey.self).keyVaultKey()
    }

    /// Deletes every version of the key `name` (recoverable with soft delete).
    @discardableResult
    public func deleteKey(name: String) async throws -> DeletedKey {
        try await pipeline.send(.delete, pipeline.url("keys", name), as: WireKey.self).deleted()
    }

    public func getDeletedKey(name: String) async throws -> DeletedKey {
        try await pipeline.send(.get, pipeline.url("deletedkeys", name), as: WireKey.self).deleted()
    }

    public func listDeletedKeys(pageSize: Int? = nil) -> PagedResults<DeletedKey> {
        pipeline.list(pipeline.url("deletedkeys", query: [("maxresults", pageSize.map(String.init))]),
                      item: WireKey.self) { try $0.deleted() }
    }

    /// Restores a deleted key with all its versions.
    @discardableResult
    public func recoverDeletedKey(name: String) async throws -> KeyVaultKey {
        try await pipeline.send(.post, pipeline.url("deletedkeys", name, "recover"), as: WireKey.self).keyVaultKey()
    }

    /// Removes a deleted key for good; data wrapped under it can no longer be unwrapped.
    public func purgeDeletedKey(name: String) async throws {
        try await pipeline.sendForData(.delete, pipeline.url("deletedkeys", name))
    }

    /// A ``CryptographyClient`` for the key `name` (at `version`, or the latest), sharing this client's
    /// credential, options and transport.
    public func cryptographyClient(keyName name: String, version: String? = nil) throws -> CryptographyClient {
        let id = vaultURL.appendingPathComponent("keys").appendingPathComponent(name)
        return try CryptographyClient(
            keyID: version.map { id.appendingPathComponent($0) } ?? id, credential: credential, options: options,
            transport: transport)
    }
}
