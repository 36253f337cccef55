import AzureCore
import AzureEmulator
import AzureIdentity
import Crypto
import Foundation
import Testing

@testable import AzureSecurityKeyVault

/// The Key Vault clients against the emulator's vault over https, authenticated through the challenge with
/// tokens from its Entra ID issuer.
@Suite struct EmulatorKeyVaultTests {
    @Test func secretLifecycle() async throws {
        try await withVault { vault in
            let secrets = try vault.secretClient()
            let first = try await secrets.setSecret(name: "db-password", value: "hunter2", contentType: "text/plain",
                                                    tags: ["env": "test"])
            #expect(first.value == "hunter2")
            #expect(first.properties.contentType == "text/plain")
            #expect(first.properties.tags == ["env": "test"])
            #expect(first.properties.enabled == true)
            #expect(first.properties.createdOn != nil)
            let firstVersion = try #require(first.properties.version)
            #expect(first.id?.absoluteString == "\(vault.endpoints.keyVaultURL)/secrets/db-password/\(firstVersion)")

            let second = try await secrets.setSecret(name: "db-password", value: "correct horse")
            #expect(try await secrets.getSecret(name: "db-password").value == "correct horse")
            #expect(try await secrets.getSecret(name: "db-password", version: firstVersion).value == "hunter2")

            var properties = first.properties
            properties.enabled = false
            properties.tags = ["env": "retired"]
            let updated = try await secrets.updateSecretProperties(properties)
            #expect(updated.enabled == false)
            #expect(updated.tags == ["env": "retired"])
            let disabled = await #expect(throws: AzureError.self) {
                try await secrets.getSecret(name: "db-password", version: firstVersion)
            }
            #expect(disabled?.statusCode == 403)
            #expect(disabled?.errorCode == "Forbidden")

            for index in 0..<3 { try await secrets.setSecret(name: "other-\(index)", value: "v\(index)") }
            let pages = try await collect(PagedResults<Int> { _ in .init(items: [], continuationToken: nil) })
            #expect(pages.isEmpty)
            var pageCount = 0
            var names: [String] = []
            for try await page in secrets.listPropertiesOfSecrets(pageSize: 2).byPage() {
                pageCount += 1
                names += page.items.map(\.name)
            }
            #expect(Set(names) == ["db-password", "other-0", "other-1", "other-2"])
            #expect(pageCount >= 2)
            let versions = try await collect(secrets.listPropertiesOfSecretVersions(name: "db-password", pageSize: 1))
            #expect(Set(versions.compactMap(\.version)) == [firstVersion, try #require(second.properties.version)])

            let deleted = try await secrets.deleteSecret(name: "db-password")
            #expect(deleted.name == "db-password")
            #expect(deleted.recoveryID != nil)
            #expect(deleted.scheduledPurgeDate != nil)
            let missing = await #expect(throws: AzureError.self) { try await secrets.getSecret(name: "db-password") }
            #expect(missing?.statusCode == 404)
            #expect(missing?.errorCode == "SecretNotFound")
            #expect(try await secrets.getDeletedSecret(name: "db-password").name == "db-password")
            #expect(try await collect(secrets.listDeletedSecrets()).map(\.name) == ["db-password"])
            try await secrets.recoverDeletedSecret(name: "db-password")
            #expect(try await secrets.getSecret(name: "db-password").value == "correct horse")

            try await secrets.deleteSecret(name: "db-password")
            try await secrets.purgeDeletedSecret(name: "db-password")
            let purged = await #expect(throws: AzureError.self) { try await secrets.getDeletedSecret(name: "db-password") }
            #expect(purged?.statusCode == 404)

            let badName = await #expect(throws: AzureError.self) { try await secrets.setSecret(name: "no_underscores", value: "x") }
            #expect(badName?.errorCode == "BadParameter")
        }
    }

    @Test func keyLifecycle() async throws {
        try await withVault { vault in
            let keys = try vault.keyClient()
            let rsa = try await keys.createRSAKey(name: "backup-kek", size: 2048)
            #expect(rsa.keyType == .rsa)
            #expect(rsa.key.n?.count == 256)
            #expect(rsa.key.e == Data([1, 0, 1]))
            #expect(rsa.properties.version != nil)
            let fetched = try await keys.getKey(name: "backup-kek")
            #expect(fetched.id == rsa.id)
            #expect(fetched.key.n == rsa.key.n)

            let oct = try await keys.createOctKey(name: "aes-kek", size: 256)
            #expect(oct.keyType == .oct)
            #expect(oct.key.n == nil)
            let ec = try await keys.createECKey(name: "signer", curve: .p256)
            #expect(ec.key.curveName == .p256)
            #expect(ec.key.x?.count == 32)

            let rotated = try await keys.rotateKey(name: "backup-kek")
            #expect(rotated.properties.version != rsa.properties.version)
            #expect(rotated.key.n != rsa.key.n)
            #expect(try await keys.getKey(name: "backup-kek").id == rotated.id)
            let versions = try await collect(keys.listPropertiesOfKeyVersions(name: "backup-kek"))
            #expect(versions.count == 2)
            #expect(Set(try await collect(keys.listPropertiesOfKeys(pageSize: 1)).map(\.name)) == ["backup-kek", "aes-kek", "signer"])

            var properties = try #require(Optional(rotated.properties))
            properties.tags = ["purpose": "backups"]
            let updated = try await keys.updateKeyProperties(properties, keyOperations: [.wrapKey, .unwrapKey])
            #expect(updated.properties.tags == ["purpose": "backups"])
            #expect(Set(updated.keyOperations) == [.wrapKey, .unwrapKey])

            let deleted = try await keys.deleteKey(name: "signer")
            #expect(deleted.name == "signer")
            let missing = await #expect(throws: AzureError.self) { try await keys.getKey(name: "signer") }
            #expect(missing?.errorCode == "KeyNotFound")
            #expect(try await keys.getDeletedKey(name: "signer").key.keyType == .ec)
            #expect(try await keys.recoverDeletedKey(name: "signer").name == "signer")
            try await keys.deleteKey(name: "signer")
            try await keys.purgeDeletedKey(name: "signer")
            #expect(try await collect(keys.listDeletedKeys()).isEmpty)
        }
    }

    @Test func wrapAndUnwrapSurviveRotation() async throws {
        try await withVault { vault in
            let keys = try vault.keyClient()
            let rsa = try await keys.createRSAKey(name: "rsa-kek", size: 2048)
            let dataKey = Data((0..<32).map { UInt8($0) })

            // A client for the latest version: the result names the version actually used.
            let latest = try keys.cryptographyClient(keyName: "rsa-kek")
            for algorithm in [KeyWrapAlgorithm.rsaOAEP256, .rsaOAEP] {
                let wrapped = try await latest.wrapKey(algorithm, key: dataKey)
                #expect(wrapped.keyID == rsa.id?.absoluteString)
                #expect(wrapped.encryptedKey.count == 256)
                let unwrapped = try await vault.cryptographyClient(URL(string: wrapped.keyID)!)
                    .unwrapKey(algorithm, encryptedKey: wrapped.encryptedKey)
                #expect(unwrapped.key == dataKey)
                #expect(!String(describing: unwrapped).contains(dataKey.base64EncodedString()))
            }

            let wrappedBefore = try await latest.wrapKey(.rsaOAEP256, key: dataKey)
            let rotated = try await keys.rotateKey(name: "rsa-kek")
            let wrappedAfter = try await latest.wrapKey(.rsaOAEP256, key: dataKey)
            #expect(wrappedAfter.keyID == rotated.id?.absoluteString)
            #expect(wrappedAfter.keyID != wrappedBefore.keyID)
            let oldVersion = try vault.cryptographyClient(URL(string: wrappedBefore.keyID)!)
            #expect(try await oldVersion.unwrapKey(.rsaOAEP256, encryptedKey: wrappedBefore.encryptedKey).key == dataKey)
            // The latest version cannot unwrap what the old one wrapped.
            await #expect(throws: AzureError.self) {
                try await latest.unwrapKey(.rsaOAEP256, encryptedKey: wrappedBefore.encryptedKey)
            }

            let aes = try await keys.createOctKey(name: "aes-kek", size: 256)
            let aesClient = try vault.cryptographyClient(try #require(aes.id))
            let aesWrapped = try await aesClient.wrapKey(.a256KW, key: dataKey)
            #expect(aesWrapped.encryptedKey.count == 40)
            #expect(try await aesClient.unwrapKey(.a256KW, encryptedKey: aesWrapped.encryptedKey).key == dataKey)
        }
    }

    @Test func localRSAWrapIsUnwrappedByTheVault() async throws {
        try await withVault { vault in
            let key = try await vault.keyClient().createRSAKey(name: "local-kek", size: 3072)
            // No network for local operations: a transport that refuses everything proves it.
            let offline = try CryptographyClient(key: key, credential: vault.credential, options: vault.options,
                                                 transport: RefusingTransport())
            let remote = try vault.cryptographyClient(try #require(key.id))
            let dataKey = Data((0..<32).map { UInt8(255 - $0) })
            for algorithm in [KeyWrapAlgorithm.rsaOAEP256, .rsaOAEP] {
                let wrapped = try await offline.wrapKey(algorithm, key: dataKey)
                #expect(wrapped.keyID == key.id?.absoluteString)
                #expect(wrapped.encryptedKey.count == 384)
                #expect(try await remote.unwrapKey(algorithm, encryptedKey: wrapped.encryptedKey).key == dataKey)
            }
            let encrypted = try await offline.encrypt(.rsaOAEP256, plaintext: Data("local".utf8))
            #expect(try await remote.decrypt(.rsaOAEP256, ciphertext: encrypted.ciphertext).plaintext == Data("local".utf8))
            // Unwrap needs the private key, so it goes to the vault (and fails here, offline).
            await #expect(throws: AzureError.self) { try await offline.unwrapKey(.rsaOAEP256, encryptedKey: Data(count: 384)) }
        }
    }

    @Test func encryptDecryptSignVerify() async throws {
        try await withVault { vault in
            let keys = try vault.keyClient()
            let rsa = try await keys.createRSAKey(name: "rsa", size: 2048)
            let crypto = try vault.cryptographyClient(try #require(rsa.id))
            let encrypted = try await crypto.encrypt(.rsaOAEP256, plaintext: Data("attack at dawn".utf8))
            #expect(try await crypto.decrypt(.rsaOAEP256, ciphertext: encrypted.ciphertext).plaintext == Data("attack at dawn".utf8))

            let digest = Data(SHA256.hash(data: Data("manifest".utf8)))
            for algorithm in [SignatureAlgorithm.rs256, .ps256] {
                let signed = try await crypto.sign(algorithm, digest: digest)
                #expect(signed.keyID == rsa.id?.absoluteString)
                #expect(try await crypto.verify(algorithm, digest: digest, signature: signed.signature).isValid)
                let other = Data(SHA256.hash(data: Data("tampered".utf8)))
                #expect(try await !crypto.verify(algorithm, digest: other, signature: signed.signature).isValid)
            }
        }
    }

    @Test func wrongCredentialIsRefusedWithTheCredentialNamed() async throws {
        try await withVault { vault in
            var options = TokenCredentialOptions(authorityHost: URL(string: vault.endpoints.authorityHost)!, transport: vault.transport)
            options.retry = .noRetry
            let wrong = try ClientSecretCredential(
                tenantID: vault.endpoints.tenantID, clientID: "kumo-dev", clientSecret: "wrong", options: options,
                environment: [:])
            let secrets = try SecretClient(vaultURL: vault.vaultURL, credential: wrong, options: vault.options,
                                           transport: vault.transport)
            let error = await #expect(throws: AzureError.self) { try await secrets.getSecret(name: "anything") }
            #expect(error?.message.contains("ClientSecretCredential authentication failed: AADSTS7000215") == true)
        }
    }
}

struct RefusingTransport: HTTPTransport {
    func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse {
        throw AzureError(.transport, "this transport refuses every request (\(request.url.encodedPath))")
    }
}
