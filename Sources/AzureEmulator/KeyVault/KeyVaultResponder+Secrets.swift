import Foundation
import Hummingbird

extension SecretVersion: VaultVersion {
    static var kind: VaultObjectKind { .secret }
    static var objects: WritableKeyPath<VaultState, [String: VaultObject<SecretVersion>]> { \.secrets }
    static var backupObject: WritableKeyPath<VaultBackup, VaultObject<SecretVersion>?> { \.secret }

    /// The secret bundle; only Set Secret and Get Secret answer with the value.
    func bundle(name: String, vaultURL: String, includeValue: Bool) -> [String: Any] {
        var json: [String: Any] = [
            "id": "\(vaultURL)/secrets/\(name)/\(version)", "attributes": attributes.json(),
        ]
        if includeValue { json["value"] = value }
        if let contentType { json["contentType"] = contentType }
        if let tags { json["tags"] = tags }
        return json
    }

    func bundle(name: String, vaultURL: String) -> [String: Any] {
        bundle(name: name, vaultURL: vaultURL, includeValue: false)
    }

    func item(name: String, vaultURL: String, withVersion: Bool) -> [String: Any] {
        var json: [String: Any] = [
            "id": withVersion ? "\(vaultURL)/secrets/\(name)/\(version)" : "\(vaultURL)/secrets/\(name)",
            "attributes": attributes.json(),
        ]
        if let contentType { json["contentType"] = contentType }
        if let tags { json["tags"] = tags }
        return json
    }

    mutating func update(from body: [String: Any]) {
        if body.keys.contains("contentType") { contentType = body["contentType"] as? String }
    }
}

/// What only secrets do: Set Secret (a new version) and Get Secret (with its value). Listing, update, delete,
/// recovery, purge and backup are in `VaultObjectLifecycle.swift`.
extension KeyVaultResponder {
    func setSecret(_ request: ServiceRequest, name: String) async throws -> Response {
        try Self.validateName(name, kind: .secret)
        let body = try body(request)
        guard let value = body["value"] as? String else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "Property 'value' is required and must be a string.")
        }
        guard value.utf8.count <= 25 * 1024 else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "The secret value exceeds the 25 KB limit.")
        }
        let now = Self.now
        var attributes = VaultAttributes(created: now, updated: now)
        try Self.apply(body["attributes"], to: &attributes)
        let secret = SecretVersion(
            version: Self.newVersion(), value: value, contentType: body["contentType"] as? String,
            tags: try Self.tags(body["tags"]),
            attributes: attributes)
        try await addVersion(secret, name: name)
        return .json(.ok, secret.bundle(name: name, vaultURL: vaultURL, includeValue: true))
    }

    func getSecret(name: String, version: String) async throws -> Response {
        let secret = await store.read { Self.findVersion($0.secrets[name], version: version) }
        guard let secret else { throw Self.notFound(.secret, name, version: version) }
        guard secret.attributes.enabled else { throw Self.disabled(.secret, operation: "get") }
        return .json(.ok, secret.bundle(name: name, vaultURL: vaultURL, includeValue: true))
    }
}
