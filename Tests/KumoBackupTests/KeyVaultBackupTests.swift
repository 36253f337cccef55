import AzureCore
import Crypto
import AzureEmulator
import AzureIdentity
import AzureSecurityKeyVault
import AzureStorageBlobs
import EmulatorTestSupport
import Foundation
import KumoBackup
import KumoKV
import Testing

@testable import KumoBackup

/// The emulator (Blob, Entra ID, Key Vault) in this process for `body`, with a credential for its development
/// application and a transport trusting its CA.
func withIdentityEmulator(
    _ body: @Sendable (EmulatorEndpoints, any TokenCredential, any HTTPTransport) async throws -> Void
) async throws {
    let scratch = Scratch()
    try await withInProcessEmulator(EmulatorConfiguration(blobPort: 0, dataDirectory: scratch.path + "/emulator")) { endpoints in
        let transport = try AsyncHTTPClientTransport(trustingCertificateAuthorities: [endpoints.caCertificatePath])
        let credential = try ClientSecretCredential(
            tenantID: endpoints.tenantID, clientID: ServicePrincipal.development.clientID,
            clientSecret: ServicePrincipal.development.clientSecret!,
            options: TokenCredentialOptions(authorityHost: URL(string: endpoints.authorityHost)!, transport: transport),
            environment: [:])
        try await body(endpoints, credential, transport)
    }
}

@Suite("Backups encrypted with Key Vault keys")
struct KeyVaultBackupTests {
    @Test func rsaKeyChainAcrossRotationRekeyAndRestoreFromTheManifest() async throws {
        try await withIdentityEmulator { endpoints, credential, transport in
            let scratch = Scratch()
            let vault = URL(string: endpoints.keyVaultURL)!
            let keys = try KeyClient(vaultURL: vault, credential: credential, transport: transport)
            let created = try await keys.createRSAKey(name: "backup-kek", size: 2048)
            let keyURL = vault.appendingPathComponent("keys/backup-kek")

            // Blob Storage over https with an Entra ID token, as production would run it.
            let service = try BlobServiceClient(
                endpoint: URL(string: endpoints.blobHTTPSEndpoint())!, credential: .token(credential), transport: transport)
            let container = service.containerClient("backups")
            try await container.create()
            let target = AzureBlobTarget(container: container, prefix: "kv1")

            let store = try await Store.open(at: scratch.path + "/db")
            defer { try? store.close() }
            var snapshots: [(String, [String: [KeyValue]])] = []
            var kek = try await KeyVaultKeyEncryptionKey.open(keyURL, credential: credential, transport: transport)
            #expect(kek.id == created.id?.absoluteString, "the KEK id is the key URL with its version")
            for round in 0..<3 {
                if round == 2 {
                    _ = try await keys.rotateKey(name: "backup-kek")
                    kek = try await KeyVaultKeyEncryptionKey.open(keyURL, credential: credential, transport: transport)
                    #expect(kek.id != created.id?.absoluteString)
                }
                for index in 0..<800 { try store.put(bytes("r\(round)-\(index)"), bytes("value \(round) \(index)")) }
                try await store.flush()
                let manifest = try await BackupEngine(target: target, keyEncryptionKey: kek).create(store)
                #expect(manifest.files.allSatisfy { $0.encryption?.dataKey.algorithm == "RSA-OAEP-256" })
                if round > 0 {
                    // After the rotation too: SSTs wrapped under the old version are still reused.
                    #expect(manifest.files.contains { $0.kind == .sst && !$0.uploaded })
                }
                snapshots.append((manifest.id, try snapshotContents(store)))
            }
            let latest = try await BackupEngine(target: target).manifest("latest")
            #expect(Set(latest.files.compactMap { $0.encryption?.dataKey.kekID }).count == 2, "two key versions in the newest backup")

            // No key given: the resolver finds the Key Vault key each manifest names.
            let resolving = BackupEngine(target: target, keyResolver: KeyVaultKeyResolver(credential: credential, transport: transport))
            for (index, (id, contents)) in snapshots.enumerated() {
                _ = try await resolving.restore(id, to: scratch.path + "/restore-\(index)")
                let restored = try await openRestored(scratch.path + "/restore-\(index)")
                #expect(try snapshotContents(restored) == contents)
                try restored.close()
            }

            // Rekey to the newest version: every data key now names it, and restores still work.
            let rewrapped = try await resolving.rekey(to: kek)
            #expect(rewrapped > 0)
            for backup in try await resolving.list() {
                #expect(backup.files.allSatisfy { $0.encryption?.dataKey.kekID == kek.id })
            }
            _ = try await resolving.restore(snapshots[0].0, to: scratch.path + "/after-rekey")
            let restored = try await openRestored(scratch.path + "/after-rekey")
            #expect(try snapshotContents(restored) == snapshots[0].1)
            try restored.close()

            // Another Key Vault key cannot restore it: the manifest is sealed by the first key, the error names the
            // manifest and the key, and nothing is written.
            _ = try await keys.createRSAKey(name: "other-kek", size: 2048)
            let other = try await KeyVaultKeyEncryptionKey.open(
                vault.appendingPathComponent("keys/other-kek"), credential: credential, transport: transport)
            let wrong = try await #require(throws: BackupError.self) {
                try await BackupEngine(target: target, keyEncryptionKey: other).restore("latest", to: scratch.path + "/wrong")
            }
            #expect(wrong.message.contains("manifest.json") && wrong.message.contains("is sealed by"))
            #expect(wrong.message.contains(kek.id))
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/wrong"))
        }
    }

    @Test func rsaSealsAreVaultSignaturesAndAForgedMACSealIsRefused() async throws {
        try await withIdentityEmulator { endpoints, credential, transport in
            let scratch = Scratch()
            let vault = URL(string: endpoints.keyVaultURL)!
            _ = try await KeyClient(vaultURL: vault, credential: credential, transport: transport).createRSAKey(name: "sealer", size: 2048)
            let kek = try await KeyVaultKeyEncryptionKey.open(vault.appendingPathComponent("keys/sealer"), credential: credential, transport: transport)
            let target = try LocalDirectoryTarget(root: scratch.path + "/target")
            let resolver = KeyVaultKeyResolver(credential: credential, transport: transport)
            let store = try await Store.open(at: scratch.path + "/db")
            defer { try? store.close() }
            try addItems(store, from: 0, count: 300)
            let backup = try await BackupEngine(target: target, keyEncryptionKey: kek).create(store)
            let path = BackupManifest.path(id: backup.id, createdAt: backup.createdAt)
            let original = try await target.read(path)
            let sealed = try BackupManifest.decode(original, path: path)
            #expect(sealed.authentication?.algorithm == "PS256" && sealed.authentication?.key.kekID == kek.id)
            _ = try await BackupEngine(target: target, keyResolver: resolver).restore(backup.id, to: scratch.path + "/found-from-manifest")

            // An attacker edits the manifest and, knowing only the public key, wraps a MAC key of their own.
            var forged = sealed
            forged.label = "forged"
            let macKey = SymmetricKey(size: .bits256)
            let input = try forged.sealInput(.init(algorithm: "HMAC-SHA256", key: try await kek.wrap(macKey), manifestMAC: ""))
            try await target.write(
                try BackupManifest.insertSeal(Array(HMAC<SHA256>.authenticationCode(for: input, using: macKey)), into: input),
                to: path, createOnly: false)
            let refused = try await #require(throws: BackupError.self) {
                try await BackupEngine(target: target, keyEncryptionKey: kek).restore(backup.id, to: scratch.path + "/forged")
            }
            #expect(refused.message.contains("is sealed with HMAC-SHA256, but \(kek.id) seals with PS256"), "\(refused.message)")

            // The signed manifest with one field changed fails its signature, with or without a pinned key.
            var edited = String(decoding: original, as: UTF8.self)
            edited = edited.replacingOccurrences(of: "\"sequenceNumber\" : \(backup.sequenceNumber)", with: "\"sequenceNumber\" : 1")
            try await target.write(Array(edited.utf8), to: path, createOnly: false)
            for engine in [BackupEngine(target: target, keyEncryptionKey: kek), BackupEngine(target: target, keyResolver: resolver)] {
                let altered = try await #require(throws: BackupError.self) { try await engine.restore(backup.id, to: scratch.path + "/edited") }
                #expect(altered.message.contains("fails authentication"), "\(altered.message)")
            }
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/forged"))
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/edited"))
        }
    }

    @Test func octKeyWrapsWithA256KWAndAlteredWrappedKeysFail() async throws {
        try await withIdentityEmulator { endpoints, credential, transport in
            let scratch = Scratch()
            let vault = URL(string: endpoints.keyVaultURL)!
            let keys = try KeyClient(vaultURL: vault, credential: credential, transport: transport)
            _ = try await keys.createOctKey(name: "aes-kek", size: 256)
            let kek = try await KeyVaultKeyEncryptionKey.open(
                vault.appendingPathComponent("keys/aes-kek"), credential: credential, transport: transport)
            let target = try LocalDirectoryTarget(root: scratch.path + "/target")
            let store = try await Store.open(at: scratch.path + "/db")
            defer { try? store.close() }
            for index in 0..<500 { try store.put(bytes("k\(index)"), bytes("v\(index)")) }
            let engine = BackupEngine(target: target, keyEncryptionKey: kek)
            var manifest = try await engine.create(store)
            #expect(manifest.files.allSatisfy { $0.encryption?.dataKey.algorithm == "A256KW" })
            _ = try await engine.restore(manifest.id, to: scratch.path + "/restored")

            // Flip a byte of one wrapped data key: Key Vault refuses to unwrap it; the restore names the file.
            let index = try #require(manifest.files.firstIndex { $0.kind == .sst })
            var wrapped = Data(base64Encoded: manifest.files[index].encryption!.dataKey.wrapped)!
            wrapped[3] ^= 0x40
            manifest.files[index].encryption!.dataKey.wrapped = wrapped.base64EncodedString()
            try await target.write(try manifest.encoded(), to: BackupManifest.path(id: manifest.id, createdAt: manifest.createdAt), createOnly: false)
            let altered = try await #require(throws: BackupError.self) {
                try await engine.restore(manifest.id, to: scratch.path + "/altered")
            }
            #expect(altered.code == .corrupt)
            #expect(altered.message.contains(manifest.files[index].name) || altered.message.contains(manifest.files[index].encryption!.dataKey.kekID))
            #expect(!FileManager.default.fileExists(atPath: scratch.path + "/altered"))
        }
    }
}
