import Crypto
import Foundation

/// Attributes Key Vault keeps for every secret and key version (Unix seconds, as Key Vault's JSON has them).
struct VaultAttributes: Codable, Sendable {
    var enabled: Bool = true
    var notBefore: Int?
    var expires: Int?
    var created: Int
    var updated: Int
}

struct SecretVersion: Codable, Sendable {
    var version: String
    var value: String
    var contentType: String?
    var tags: [String: String]?
    var attributes: VaultAttributes
}

struct KeyVersion: Codable, Sendable {
    var version: String
    /// `RSA`, `RSA-HSM`, `oct`, `oct-HSM`, `EC` or `EC-HSM`, as created.
    var keyType: String
    var keyOperations: [String]
    var keySize: Int?
    var curve: String?
    /// The private key (PKCS#8/PKCS#1 DER for RSA, raw for EC) or the symmetric key; it never leaves the store.
    var secretMaterial: Data
    var tags: [String: String]?
    var attributes: VaultAttributes
}

struct Deletion: Codable, Sendable {
    var deletedDate: Int
    var scheduledPurgeDate: Int
}

/// One name's history: versions oldest first; the last one is "latest".
struct VaultObject<Version: Codable & Sendable>: Codable, Sendable {
    var versions: [Version]
    var deletion: Deletion?
}

struct VaultState: Codable, Sendable {
    var secrets: [String: VaultObject<SecretVersion>] = [:]
    var keys: [String: VaultObject<KeyVersion>] = [:]
    /// Rotation policies by key name, as the JSON the client last set (absent: the vault's default policy).
    var rotationPolicies: [String: Data]?
}

/// The emulator's one vault, kept in `<dataDirectory>/keyvault/vault.json`. The file holds secret values and
/// private keys, so it is readable by its owner only, and it is rewritten atomically after every change so a
/// crash leaves either the old or the new state.
actor KeyVaultStore {
    private var state: VaultState
    private let file: URL
    /// Seals backups (Backup Secret/Key), which carry secret values and private keys; only this vault opens them.
    private let backupKey: SymmetricKey

    init(dataDirectory: String) throws {
        let directory = URL(fileURLWithPath: dataDirectory).appendingPathComponent("keyvault")
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        file = directory.appendingPathComponent("vault.json")
        let keyFile = directory.appendingPathComponent("backup.key")
        if let data = try? Data(contentsOf: keyFile), data.count == 32 {
            backupKey = SymmetricKey(data: data)
        } else {
            backupKey = SymmetricKey(size: .bits256)
            try SecretFile.write(backupKey.withUnsafeBytes { Data($0) }, to: keyFile)
        }
        if let data = try? Data(contentsOf: file) {
            state = try JSONDecoder().decode(VaultState.self, from: data)
        } else {
            state = VaultState()
        }
    }

    func sealBackup(_ plain: Data) throws -> Data {
        try AES.GCM.seal(plain, using: backupKey).combined!
    }

    /// The plaintext of a backup this vault sealed; nil for anything else.
    func openBackup(_ sealed: Data) -> Data? {
        guard let box = try? AES.GCM.SealedBox(combined: sealed) else { return nil }
        return try? AES.GCM.open(box, using: backupKey)
    }

    func read<T: Sendable>(_ body: (VaultState) throws -> T) rethrows -> T {
        try body(purgeExpired())
    }

    /// Applies a change and persists it before answering; a change that throws is not kept.
    func update<T: Sendable>(_ body: (inout VaultState) throws -> T) throws -> T {
        var copy = purgeExpired()
        let result = try body(&copy)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try SecretFile.write(try encoder.encode(copy), to: file)
        state = copy
        return result
    }

    /// Deleted objects past their scheduled purge date are gone, as in a vault with soft delete.
    private func purgeExpired() -> VaultState {
        let now = Int(Date().timeIntervalSince1970)
        state.secrets = state.secrets.filter { ($0.value.deletion?.scheduledPurgeDate ?? Int.max) > now }
        state.keys = state.keys.filter { ($0.value.deletion?.scheduledPurgeDate ?? Int.max) > now }
        return state
    }
}
