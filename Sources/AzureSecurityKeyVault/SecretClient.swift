import AzureCore
import Foundation

/// Stores and reads secrets in an Azure Key Vault (REST API 7.5).
///
/// ```swift
/// let secrets = try SecretClient(vaultURL: URL(string: "https://myvault.vault.azure.net")!,
///                                credential: DefaultAzureCredential())
/// try await secrets.setSecret(name: "db-password", value: password)
/// let secret = try await secrets.getSecret(name: "db-password")
/// ```
///
/// Authentication follows the vault's challenge (see the module's docs), so `ClientOptions.tokenScopes` and
/// `serviceVersion` are not used.
public struct SecretClient: Sendable {
    public var vaultURL: URL { pipeline.vaultURL }
    let pipeline: KeyVaultPipeline

    /// - Throws: ``AzureError`` `.invalidArgument` when `vaultURL` is not a URL, `.authentication` when it is not
    ///   https (plain http is allowed only for a loopback emulator).
    public init(vaultURL: URL, credential: any TokenCredential, options: ClientOptions = ClientOptions(),
                transport: any HTTPTransport = AsyncHTTPClientTransport()) throws {
        pipeline = try KeyVaultPipeline(vaultURL: vaultURL, credential: credential, options: options, transport: transport)
    }

    /// Stores `value` as a new version of the secret `name` (creating the secret if needed).
    @discardableResult
    public func setSecret(
        name: String, value: String, contentType: String? = nil, tags: [String: String] = [:], enabled: Bool? = nil,
        notBefore: Date? = nil, expiresOn: Date? = nil
    ) async throws -> KeyVaultSecret {
        let body = SecretSetParameters(
            value: value, contentType: contentType, tags: tags.isEmpty ? nil : tags,
            attributes: enabled == nil && notBefore == nil && expiresOn == nil
                ? nil : WireAttributes(enabled: enabled, notBefore: notBefore, expiresOn: expiresOn))
        return try await pipeline.send(.put, pipeline.url("secrets", name), body: body, as: WireSecret.self).secret()
    }

    /// The secret `name` at `version`, or its latest version when `version` is nil.
    ///
    /// - Throws: ``AzureError`` with status 404 and code `SecretNotFound` when there is no such secret.
    public func getSecret(name: String, version: String? = nil) async throws -> KeyVaultSecret {
        try await pipeline.send(.get, pipeline.url("secrets", name, version ?? ""), as: WireSecret.self).secret()
    }

    /// Changes the metadata (enabled, dates, content type, tags) of `properties.name` at `properties.version`
    /// (latest when nil); the value cannot be changed this way.
    @discardableResult
    public func updateSecretProperties(_ properties: SecretProperties) async throws -> SecretProperties {
        let body = SecretSetParameters(
            value: nil, contentType: properties.contentType, tags: properties.tags,
            attributes: WireAttributes(enabled: properties.enabled, notBefore: properties.notBefore,
                                       expiresOn: properties.expiresOn))
        return try await pipeline.send(
            .patch, pipeline.url("secrets", properties.name, properties.version ?? ""), body: body, as: WireSecret.self
        ).properties()
    }

    /// Every secret in the vault (latest versions, without values).
    public func listPropertiesOfSecrets(pageSize: Int? = nil) -> PagedResults<SecretProperties> {
        pipeline.list(pipeline.url("secrets", query: [("maxresults", pageSize.map(String.init))]), item: WireSecret.self) {
            try $0.properties()
        }
    }

    /// Every version of the secret `name` (without values).
    public func listPropertiesOfSecretVersions(name: String, pageSize: Int? = nil) -> PagedResults<SecretProperties> {
        pipeline.list(
            pipeline.url("secrets", name, "versions", query: [("maxresults", pageSize.map(String.init))]),
            item: WireSecret.self
        ) { try $0.properties() }
    }

    /// Deletes every version of the secret `name`. With soft delete (the default for new vaults) it can be
    /// recovered until its scheduled purge date.
    @discardableResult
    public func deleteSecret(name: String) async throws -> DeletedSecret {
        try await pipeline.send(.delete, pipeline.url("secrets", name), as: WireSecret.self).deleted()
    }

    public func getDeletedSecret(name: String) async throws -> DeletedSecret {
        try await pipeline.send(.get, pipeline.url("deletedsecrets", name), as: WireSecret.self).deleted()
    }

    /// Every deleted secret still recoverable.
    public func listDeletedSecrets(pageSize: Int? = nil) -> PagedResults<DeletedSecret> {
        pipeline.list(pipeline.url("deletedsecrets", query: [("maxresults", pageSize.map(String.init))]),
                      item: WireSecret.self) { try $0.deleted() }
    }

    /// Restores a deleted secret with all its versions.
    @discardableResult
    public func recoverDeletedSecret(name: String) async throws -> SecretProperties {
        try await pipeline.send(.post, pipeline.url("deletedsecrets", name, "recover"), as: WireSecret.self).properties()
    }

    /// Removes a deleted secret for good.
    public func purgeDeletedSecret(name: String) async throws {
        try await pipeline.sendForData(.delete, pipeline.url("deletedsecrets", name))
    }
}
