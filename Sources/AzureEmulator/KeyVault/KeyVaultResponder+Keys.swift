import Foundation
import Hummingbird

extension KeyVersion: VaultVersion {
    static var kind: VaultObjectKind { .key }
    static var objects: WritableKeyPath<VaultState, [String: VaultObject<KeyVersion>]> { \.keys }
    static var backupObject: WritableKeyPath<VaultBackup, VaultObject<KeyVersion>?> { \.key }

    /// The key bundle: the public members of the JWK only.
    func bundle(name: String, vaultURL: String) throws -> [String: Any] {
        var jwk: [String: Any] = [
            "kid": "\(vaultURL)/keys/\(name)/\(version)", "kty": keyType, "key_ops": keyOperations,
        ]
        for (member, value) in try VaultKeyMaterial.publicMembers(of: self) { jwk[member] = value }
        var json: [String: Any] = ["key": jwk, "attributes": attributes.json(exportable: false)]
        if let tags { json["tags"] = tags }
        return json
    }

    func item(name: String, vaultURL: String, withVersion: Bool) -> [String: Any] {
        var json: [String: Any] = [
            "kid": withVersion ? "\(vaultURL)/keys/\(name)/\(version)" : "\(vaultURL)/keys/\(name)",
            "attributes": attributes.json(exportable: false),
        ]
        if let tags { json["tags"] = tags }
        return json
    }

    mutating func update(from body: [String: Any]) {
        if let operations = body["key_ops"] as? [String] { keyOperations = operations }
    }
}

/// What only keys do: Create Key, Import Key, Rotate Key, Get Key and the rotation policy. Listing, update,
/// delete, recovery, purge and backup are in `VaultObjectLifecycle.swift`; encrypt, sign and the other key
/// operations in `KeyVaultResponder+CryptoOperations.swift`.
extension KeyVaultResponder {
    func createKey(_ request: ServiceRequest, name: String) async throws -> Response {
        try Self.validateName(name, kind: .key)
        let body = try body(request)
        guard let keyType = body["kty"] as? String else {
            throw EmulatorError(status: 400, code: "BadParameter", message: "Property 'kty' is required.")
        }
        let operations = body["key_ops"] as? [String]
        let now = Self.now
        var attributes = VaultAttributes(created: now, updated: now)
        try Self.apply(body["attributes"], to: &attributes)
        let key = try VaultKeyMaterial.generate(
            keyType: keyType, size: try Self.optionalInteger(body["key_size"], named: "key_size"), curve: body["crv"] as? String,
            operations: operations, version: Self.newVersion(), tags: try Self.tags(body["tags"]),
            attributes: attributes)
        try await addVersion(key, name: name)
        return .json(.ok, try key.bundle(name: name, vaultURL: vaultURL))
    }

    /// Import Key: a JWK with its private members (RSA `n e d p q`, EC `crv d`, oct `k`); only the public half
    /// is ever answered.
    func importKey(_ request: ServiceRequest, name: String) async throws -> Response {
        try Self.validateName(name, kind: .key)
        let body = try body(request)
        guard let jwk = body["key"] as? [String: Any], let keyType = jwk["kty"] as? String else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "Property 'key' must be a JSON web key with 'kty'.")
        }
        let now = Self.now
        var attributes = VaultAttributes(created: now, updated: now)
        try Self.apply(body["attributes"], to: &attributes)
        let key = try VaultKeyMaterial.importKey(
            jwk: jwk,
            keyType: (body["Hsm"] as? Bool ?? false) && !keyType.hasSuffix("-HSM") ? keyType + "-HSM" : keyType,
            version: Self.newVersion(), tags: try Self.tags(body["tags"]), attributes: attributes)
        try await addVersion(key, name: name)
        return .json(.ok, try key.bundle(name: name, vaultURL: vaultURL))
    }

    /// Get and Update Key Rotation Policy. Policies are kept but never acted on: rotation happens on request.
    func rotationPolicy(_ request: ServiceRequest, name: String, update: Bool) async throws -> Response {
        let exists = await store.read { state in state.keys[name].map { $0.deletion == nil } ?? false }
        guard exists else { throw Self.notFound(.key, name) }
        let id = "\(vaultURL)/keys/\(name)/rotationpolicy"
        let now = Self.now
        if update {
            var policy = try body(request)
            policy["id"] = id
            var attributes = policy["attributes"] as? [String: Any] ?? [:]
            attributes["updated"] = now
            attributes["created"] = attributes["created"] ?? now
            policy["attributes"] = attributes
            let data = try JSONSerialization.data(withJSONObject: policy)
            try await store.update { state throws in
                var policies = state.rotationPolicies ?? [:]
                policies[name] = data
                state.rotationPolicies = policies
            }
            return .json(.ok, policy)
        }
        if let stored = await store.read({ $0.rotationPolicies?[name] }),
            let policy = try? JSONSerialization.jsonObject(with: stored)
        {
            return .json(.ok, policy)
        }
        return .json(
            .ok,
            [
                "id": id,
                "lifetimeActions": [["trigger": ["timeBeforeExpiry": "P30D"], "action": ["type": "Notify"]]],
                "attributes": ["expiryTime": NSNull(), "created": NSNull(), "updated": NSNull()],
            ] as [String: Any])
    }

    func rotateKey(name: String) async throws -> Response {
        let latest = await store.read { Self.findVersion($0.keys[name], version: "") }
        guard let latest else { throw Self.notFound(.key, name) }
        let now = Self.now
        let key = try VaultKeyMaterial.generate(
            keyType: latest.keyType, size: latest.keySize, curve: latest.curve, operations: latest.keyOperations,
            version: Self.newVersion(), tags: latest.tags, attributes: VaultAttributes(created: now, updated: now))
        try await store.update { state throws in
            guard state.keys[name]?.deletion == nil, state.keys[name] != nil else { throw Self.notFound(.key, name) }
            state.keys[name]!.versions.append(key)
        }
        return .json(.ok, try key.bundle(name: name, vaultURL: vaultURL))
    }

    func getKey(name: String, version: String) async throws -> Response {
        let key = await store.read { Self.findVersion($0.keys[name], version: version) }
        guard let key else { throw Self.notFound(.key, name, version: version) }
        return .json(.ok, try key.bundle(name: name, vaultURL: vaultURL))
    }
}
