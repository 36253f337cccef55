import AzureCore
import AzureSecurityKeyVault
import Crypto
import Foundation
import Synchronization

/// A key-encryption key held in Azure Key Vault: data keys are wrapped and unwrapped by the vault, so the key
/// itself never leaves it. RSA keys wrap with RSA-OAEP-256, oct (AES) keys with A256KW.
///
/// Its ``id`` is the key's URL with the version that wrapped new data keys; data keys wrapped under any other
/// version of the same key still unwrap (each unwrap goes to the version recorded in the manifest), so rotating
/// the key in Key Vault never strands a backup. `kumo backup rekey` moves old data keys to the new version.
public struct KeyVaultKeyEncryptionKey: KeyEncryptionKey {
    public let id: String
    let identifier: KeyVaultKeyIdentifier
    let algorithm: KeyWrapAlgorithm
    let credential: any TokenCredential
    let options: ClientOptions
    let transport: any HTTPTransport
    /// One client per key version, so the Key Vault challenge is answered once, not once per file.
    let clients = CryptographyClients()

    /// Looks the key up (latest version unless `keyURL` names one) to learn its type and version.
    /// - Throws: ``BackupError`` `.invalidArgument` when the URL is not a Key Vault key URL or the key cannot
    ///   wrap keys; `.io` when Key Vault cannot be reached or refuses.
    public static func open(
        _ keyURL: URL, credential: any TokenCredential, options: ClientOptions = ClientOptions(),
        transport: any HTTPTransport = AsyncHTTPClientTransport()
    ) async throws -> KeyVaultKeyEncryptionKey {
        let identifier = try parse(keyURL.absoluteString)
        let client = try KeyClient(vaultURL: identifier.vaultURL, credential: credential, options: options, transport: transport)
        let key: KeyVaultKey
        do {
            key = try await client.getKey(name: identifier.name, version: identifier.version)
        } catch {
            throw BackupError(.keyUnavailable, "cannot read the key \(keyURL.absoluteString) from Key Vault: \(Redaction.redact(String(describing: error)))")
        }
        let algorithm: KeyWrapAlgorithm
        switch key.keyType.rawValue {
        case "RSA", "RSA-HSM": algorithm = .rsaOAEP256
        case "oct", "oct-HSM": algorithm = .a256KW
        default:
            throw BackupError(.invalidArgument, "the Key Vault key \(keyURL.absoluteString) is of type \(key.keyType.rawValue); backups need an RSA or oct key")
        }
        guard let versioned = key.id else {
            throw BackupError(.keyUnavailable, "Key Vault returned the key \(keyURL.absoluteString) without its id")
        }
        return KeyVaultKeyEncryptionKey(
            id: versioned.absoluteString, identifier: identifier, algorithm: algorithm, credential: credential,
            options: options, transport: transport)
    }

    /// A key that only unwraps (restore, verify): no lookup, since each wrapped key names its version and
    /// algorithm.
    public static func forUnwrapping(
        _ keyID: String, credential: any TokenCredential, options: ClientOptions = ClientOptions(),
        transport: any HTTPTransport = AsyncHTTPClientTransport()
    ) throws -> KeyVaultKeyEncryptionKey {
        KeyVaultKeyEncryptionKey(
            id: keyID, identifier: try parse(keyID), algorithm: .rsaOAEP256, credential: credential, options: options,
            transport: transport)
    }

    init(id: String, identifier: KeyVaultKeyIdentifier, algorithm: KeyWrapAlgorithm, credential: any TokenCredential,
         options: ClientOptions, transport: any HTTPTransport) {
        self.id = id
        self.identifier = identifier
        self.algorithm = algorithm
        self.credential = credential
        self.options = options
        self.transport = transport
    }

    static func parse(_ text: String) throws -> KeyVaultKeyIdentifier {
        guard let url = URL(string: text), url.scheme == "https" else {
            throw BackupError(.invalidArgument, "'\(text)' is not a Key Vault key URL (https://<vault>/keys/<name>[/<version>])")
        }
        do {
            return try KeyVaultKeyIdentifier(url)
        } catch {
            throw BackupError(.invalidArgument, "'\(text)' is not a Key Vault key URL (https://<vault>/keys/<name>[/<version>])")
        }
    }

    public func canUnwrap(keyID kekID: String) -> Bool {
        guard let other = try? Self.parse(kekID) else { return false }
        return other.vaultURL == identifier.vaultURL && other.name == identifier.name
    }

    public func wrap(_ dataKey: SymmetricKey) async throws -> WrappedKey {
        let client = try cryptographyClient(id)
        let bytes = dataKey.withUnsafeBytes { Data($0) }
        do {
            let result = try await client.wrapKey(algorithm, key: bytes)
            return WrappedKey(kekID: result.keyID, algorithm: algorithm.rawValue, wrapped: result.encryptedKey.base64EncodedString())
        } catch {
            throw BackupError(.keyUnavailable, "Key Vault key \(id) cannot wrap a data key: \(Redaction.redact(String(describing: error)))")
        }
    }

    public func unwrap(_ wrapped: WrappedKey) async throws -> SymmetricKey {
        guard canUnwrap(keyID: wrapped.kekID) else {
            throw BackupError(.invalidArgument, "the data key was wrapped by \(wrapped.kekID), not by a version of \(identifier.vaultURL.absoluteString)/keys/\(identifier.name)")
        }
        guard let bytes = Data(base64Encoded: wrapped.wrapped) else { throw BackupError(.corrupt, "a wrapped data key is not base64") }
        let client = try cryptographyClient(wrapped.kekID)
        let result: UnwrapResult
        do {
            result = try await client.unwrapKey(KeyWrapAlgorithm(rawValue: wrapped.algorithm), encryptedKey: bytes)
        } catch let error as AzureError where error.statusCode == 400 {
            throw BackupError(.corrupt, "Key Vault key \(wrapped.kekID) cannot unwrap the data key: wrong key, or the wrapped key was altered")
        } catch {
            throw BackupError(.keyUnavailable, "Key Vault key \(wrapped.kekID) cannot unwrap a data key: \(Redaction.redact(String(describing: error)))")
        }
        guard result.key.count == 32 else {
            throw BackupError(.corrupt, "Key Vault key \(wrapped.kekID) unwrapped a \(result.key.count)-byte data key, not 32 bytes")
        }
        return SymmetricKey(data: result.key)
    }

    /// RSA keys wrap with the public key, which anyone allowed to read the key has, so a wrapped MAC key would
    /// prove nothing: their manifests are signed by the vault (PS256) instead. AES keys wrap with a secret.
    public var manifestSealAlgorithm: String { algorithm == .rsaOAEP256 ? SignatureAlgorithm.ps256.rawValue : BackupManifest.macAlgorithm }

    public func signManifest(digest: [UInt8]) async throws -> [UInt8] {
        do {
            return Array(try await cryptographyClient(id).sign(.ps256, digest: Data(digest)).signature)
        } catch {
            throw BackupError(.keyUnavailable, "Key Vault key \(id) cannot sign the manifest (the identity needs the 'sign' key permission): \(Redaction.redact(String(describing: error)))")
        }
    }

    public func verifyManifest(digest: [UInt8], signature: [UInt8], keyID: String) async throws -> Bool {
        guard canUnwrap(keyID: keyID) else { return false }
        do {
            return try await cryptographyClient(keyID).verify(.ps256, digest: Data(digest), signature: Data(signature)).isValid
        } catch let error as AzureError where error.statusCode == 400 {
            return false
        } catch {
            throw BackupError(.keyUnavailable, "Key Vault key \(keyID) cannot verify the manifest's signature: \(Redaction.redact(String(describing: error)))")
        }
    }

    private func cryptographyClient(_ keyID: String) throws -> CryptographyClient {
        try clients.client(for: keyID) { id in
            guard let url = URL(string: id) else { throw BackupError(.invalidArgument, "'\(id)' is not a URL") }
            return try CryptographyClient(keyID: url, credential: credential, options: options, transport: transport)
        }
    }
}

/// Cryptography clients by key id, shared by every copy of a key-encryption key.
final class CryptographyClients: Sendable {
    private let clients = Mutex<[String: CryptographyClient]>([:])

    func client(for keyID: String, make: (String) throws -> CryptographyClient) throws -> CryptographyClient {
        if let existing = clients.withLock({ $0[keyID] }) { return existing }
        let created = try make(keyID)
        return clients.withLock { table in
            if let existing = table[keyID] { return existing }
            table[keyID] = created
            return created
        }
    }
}

/// Resolves Key Vault key URLs recorded in manifests to keys that unwrap through Key Vault.
public final class KeyVaultKeyResolver: KeyEncryptionKeyResolver {
    let credential: any TokenCredential
    let options: ClientOptions
    let transport: any HTTPTransport
    /// Keys already resolved, by key URL without version, so their clients (and answered challenges) are reused.
    private let resolved = Mutex<[String: KeyVaultKeyEncryptionKey]>([:])

    public init(credential: any TokenCredential, options: ClientOptions = ClientOptions(),
                transport: any HTTPTransport = AsyncHTTPClientTransport()) {
        self.credential = credential
        self.options = options
        self.transport = transport
    }

    public func resolve(_ kekID: String) async throws -> (any KeyEncryptionKey)? {
        guard kekID.hasPrefix("https://"), kekID.contains("/keys/") else { return nil }
        let identifier = try KeyVaultKeyEncryptionKey.parse(kekID)
        let name = identifier.vaultURL.absoluteString + "/keys/" + identifier.name
        if let known = resolved.withLock({ $0[name] }) { return known }
        let key = try KeyVaultKeyEncryptionKey.forUnwrapping(kekID, credential: credential, options: options, transport: transport)
        return resolved.withLock { table in
            if let known = table[name] { return known }
            table[name] = key
            return key
        }
    }
}
