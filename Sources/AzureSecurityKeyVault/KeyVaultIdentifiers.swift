import AzureCore
import Foundation

/// The parts of a Key Vault object identifier, `{vault}/{collection}/{name}[/{version}]`.
struct KeyVaultObjectIdentifier: Sendable, Hashable {
    var sourceID: URL
    var vaultURL: URL
    var name: String
    var version: String?

    init(_ id: URL, collection: String, kind: String) throws {
        guard let scheme = id.scheme?.lowercased(), scheme == "https" || scheme == "http", let host = id.host else {
            throw AzureError(.invalidArgument, "'\(id.absoluteString)' is not a Key Vault \(kind) identifier: not an https URL")
        }
        let segments = id.path.split(separator: "/").map(String.init)
        guard segments.count == 2 || segments.count == 3, segments[0] == collection, !segments[1].isEmpty else {
            throw AzureError(
                .invalidArgument,
                "'\(id.absoluteString)' is not a Key Vault \(kind) identifier: expected {vault}/\(collection)/{name}[/{version}]")
        }
        sourceID = id
        vaultURL = URL(string: "\(scheme)://\(host)" + (id.port.map { ":\($0)" } ?? ""))!
        name = segments[1]
        version = segments.count == 3 && !segments[2].isEmpty ? segments[2] : nil
    }
}

/// A key's identifier, `https://{vault}.vault.azure.net/keys/{name}[/{version}]`, split into its parts.
public struct KeyVaultKeyIdentifier: Sendable, Hashable {
    /// The identifier as given.
    public let sourceID: URL
    public let vaultURL: URL
    public let name: String
    /// nil when the identifier names the latest version.
    public let version: String?

    /// - Throws: ``AzureError`` `.invalidArgument` when `id` is not `{vault}/keys/{name}[/{version}]`.
    public init(_ id: URL) throws {
        let parts = try KeyVaultObjectIdentifier(id, collection: "keys", kind: "key")
        (sourceID, vaultURL, name, version) = (parts.sourceID, parts.vaultURL, parts.name, parts.version)
    }
}

/// A secret's identifier, `https://{vault}.vault.azure.net/secrets/{name}[/{version}]`, split into its parts.
public struct KeyVaultSecretIdentifier: Sendable, Hashable {
    public let sourceID: URL
    public let vaultURL: URL
    public let name: String
    /// nil when the identifier names the latest version.
    public let version: String?

    /// - Throws: ``AzureError`` `.invalidArgument` when `id` is not `{vault}/secrets/{name}[/{version}]`.
    public init(_ id: URL) throws {
        let parts = try KeyVaultObjectIdentifier(id, collection: "secrets", kind: "secret")
        (sourceID, vaultURL, name, version) = (parts.sourceID, parts.vaultURL, parts.name, parts.version)
    }
}
