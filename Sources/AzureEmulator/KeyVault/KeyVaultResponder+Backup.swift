import Foundation
import Hummingbird

/// What a sealed backup holds: every version of one secret or key. `kind` is `secret` or `key`; the object is
/// in the member of that kind.
struct VaultBackup: Codable {
    var kind: String
    var name: String
    var secret: VaultObject<SecretVersion>?
    var key: VaultObject<KeyVersion>?
}

/// Backup and Restore of secrets and keys.
extension KeyVaultResponder {
    /// Backup Secret / Backup Key: every version of the object, sealed with AES-GCM under the vault's backup key
    /// (Azure's backups are likewise opaque and open only in a vault of the same subscription).
    func backup<V: VaultVersion>(_ type: V.Type, name: String) async throws -> Response {
        let backup = await store.read { state -> VaultBackup? in
            guard let object = state[keyPath: V.objects][name], object.deletion == nil else { return nil }
            var backup = VaultBackup(kind: V.kind.rawValue, name: name)
            backup[keyPath: V.backupObject] = object
            return backup
        }
        guard let backup else { throw Self.notFound(V.kind, name) }
        let sealed = try await store.sealBackup(try JSONEncoder().encode(backup))
        return .json(.ok, ["value": Base64URL.encode(sealed)])
    }

    /// Restore Secret / Restore Key: only a backup this vault sealed, of this kind, under a name not in use.
    func restore<V: VaultVersion>(_ type: V.Type, _ request: ServiceRequest) async throws -> Response {
        let body = try body(request)
        guard let text = body["value"] as? String, let data = Base64URL.decode(text),
            let plain = await store.openBackup(data),
            let backup = try? JSONDecoder().decode(VaultBackup.self, from: plain), backup.kind == V.kind.rawValue
        else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "Backup blob contains invalid or corrupt version.")
        }
        let name = backup.name
        let restored = backup[keyPath: V.backupObject]
        try await store.update { state throws in
            if state[keyPath: V.objects][name] != nil {
                throw EmulatorError(
                    status: 409, code: "Conflict",
                    message:
                        "\(V.kind.title) \(name) already exists and cannot be restored over; delete and purge it first."
                )
            }
            if var restored {
                restored.deletion = nil
                state[keyPath: V.objects][name] = restored
            }
        }
        guard let latest = restored?.versions.last else { throw Self.notFound(V.kind, name) }
        return .json(.ok, try latest.bundle(name: name, vaultURL: vaultURL))
    }
}
