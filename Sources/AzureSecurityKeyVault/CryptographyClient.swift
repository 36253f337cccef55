import AzureCore
import Foundation
import _CryptoExtras

/// A key wrapping algorithm.
public struct KeyWrapAlgorithm: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// RSA-OAEP with SHA-256 and MGF1 SHA-256: the one to choose for RSA keys.
    public static let rsaOAEP256 = KeyWrapAlgorithm("RSA-OAEP-256")
    /// RSA-OAEP with SHA-1.
    public static let rsaOAEP = KeyWrapAlgorithm("RSA-OAEP")
    /// RSAES-PKCS1-v1_5; only for existing data.
    public static let rsa15 = KeyWrapAlgorithm("RSA1_5")
    /// AES key wrap (RFC 3394) with 128, 192 or 256-bit keys (`oct` keys).
    public static let a128KW = KeyWrapAlgorithm("A128KW")
    public static let a192KW = KeyWrapAlgorithm("A192KW")
    public static let a256KW = KeyWrapAlgorithm("A256KW")

    public var description: String { rawValue }
}

/// An encryption algorithm.
public struct EncryptionAlgorithm: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static let rsaOAEP256 = EncryptionAlgorithm("RSA-OAEP-256")
    public static let rsaOAEP = EncryptionAlgorithm("RSA-OAEP")
    public static let rsa15 = EncryptionAlgorithm("RSA1_5")
    public static let a128GCM = EncryptionAlgorithm("A128GCM")
    public static let a192GCM = EncryptionAlgorithm("A192GCM")
    public static let a256GCM = EncryptionAlgorithm("A256GCM")
    public static let a128CBCPAD = EncryptionAlgorithm("A128CBCPAD")
    public static let a192CBCPAD = EncryptionAlgorithm("A192CBCPAD")
    public static let a256CBCPAD = EncryptionAlgorithm("A256CBCPAD")

    public var description: String { rawValue }
}

/// A signature algorithm; the digest passed to ``CryptographyClient/sign(_:digest:)`` must match its hash.
public struct SignatureAlgorithm: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static let rs256 = SignatureAlgorithm("RS256")
    public static let rs384 = SignatureAlgorithm("RS384")
    public static let rs512 = SignatureAlgorithm("RS512")
    public static let ps256 = SignatureAlgorithm("PS256")
    public static let ps384 = SignatureAlgorithm("PS384")
    public static let ps512 = SignatureAlgorithm("PS512")
    public static let es256 = SignatureAlgorithm("ES256")
    public static let es384 = SignatureAlgorithm("ES384")
    public static let es512 = SignatureAlgorithm("ES512")
    public static let es256K = SignatureAlgorithm("ES256K")

    public var description: String { rawValue }
}

/// A wrapped key. `keyID` names the key version that wrapped it: keep it with the wrapped key, so unwrapping
/// still works after the key is rotated.
public struct WrapResult: Sendable, Hashable {
    public let keyID: String
    public let algorithm: KeyWrapAlgorithm
    public let encryptedKey: Data
}

/// An unwrapped key. Its `description` does not show the key.
public struct UnwrapResult: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    public let keyID: String
    public let algorithm: KeyWrapAlgorithm
    public let key: Data

    public var description: String { "UnwrapResult(keyID: \(keyID), algorithm: \(algorithm), key: \(key.count) bytes)" }
    public var customMirror: Mirror { Mirror(self, children: ["keyID": keyID, "algorithm": algorithm]) }
}

public struct EncryptResult: Sendable, Hashable {
    public let keyID: String
    public let algorithm: EncryptionAlgorithm
    public let ciphertext: Data
    /// The initialization vector (AES algorithms).
    public let iv: Data?
    /// The authentication tag (AES-GCM).
    public let authenticationTag: Data?
    public let additionalAuthenticatedData: Data?
}

/// A decrypted plaintext. Its `description` does not show the plaintext.
public struct DecryptResult: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    public let keyID: String
    public let algorithm: EncryptionAlgorithm
    public let plaintext: Data

    public var description: String {
        "DecryptResult(keyID: \(keyID), algorithm: \(algorithm), plaintext: \(plaintext.count) bytes)"
    }
    public var customMirror: Mirror { Mirror(self, children: ["keyID": keyID, "algorithm": algorithm]) }
}

public struct SignResult: Sendable, Hashable {
    public let keyID: String
    public let algorithm: SignatureAlgorithm
    public let signature: Data
}

public struct VerifyResult: Sendable, Hashable {
    public let keyID: String
    public let algorithm: SignatureAlgorithm
    public let isValid: Bool
}

/// Cryptographic operations with one Key Vault key, performed by the vault so the private key never leaves it.
///
/// ```swift
/// let crypto = try CryptographyClient(keyID: key.id!, credential: credential)
/// let wrapped = try await crypto.wrapKey(.rsaOAEP256, key: dataKey)
/// // store wrapped.keyID and wrapped.encryptedKey; later, even after a rotation:
/// let unwrapped = try await CryptographyClient(keyID: URL(string: wrapped.keyID)!, credential: credential)
///     .unwrapKey(.rsaOAEP256, encryptedKey: wrapped.encryptedKey)
/// ```
public struct CryptographyClient: Sendable {
    /// The key as given: with a version, always that version; without, the latest version at each call.
    public let keyID: URL
    let identifier: KeyVaultKeyIdentifier
    let pipeline: KeyVaultPipeline
    /// The public key of an RSA key given as a ``KeyVaultKey``: wrap and encrypt then run locally, as in
    /// Microsoft's SDKs, saving a round trip; unwrap, decrypt and sign always need the vault.
    let localRSAKey: LocalRSAKey?

    /// The public parts of an RSA key (the BoringSSL key object is not `Sendable`, so it is rebuilt per use).
    struct LocalRSAKey: Sendable {
        var n: Data
        var e: Data
        var operations: Set<KeyOperation>
    }

    /// - Throws: ``AzureError`` `.invalidArgument` when `keyID` is not `{vault}/keys/{name}[/{version}]`.
    public init(keyID: URL, credential: any TokenCredential, options: ClientOptions = ClientOptions(),
                transport: any HTTPTransport = AsyncHTTPClientTransport()) throws {
        try self.init(keyID: keyID, localRSAKey: nil, credential: credential, options: options, transport: transport)
    }

    init(keyID: URL, localRSAKey: LocalRSAKey?, credential: any TokenCredential, options: ClientOptions,
         transport: any HTTPTransport) throws {
        identifier = try KeyVaultKeyIdentifier(keyID)
        self.keyID = keyID
        pipeline = try KeyVaultPipeline(vaultURL: identifier.vaultURL, credential: credential, options: options,
                                        transport: transport)
        self.localRSAKey = localRSAKey
    }

    /// A client for the version of `key`; for an RSA key, RSA-OAEP and RSA-OAEP-256 wrap and encrypt run
    /// locally with its public key (when its operations allow them).
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` when `key` has no versioned identifier.
    public init(key: KeyVaultKey, credential: any TokenCredential, options: ClientOptions = ClientOptions(),
                transport: any HTTPTransport = AsyncHTTPClientTransport()) throws {
        guard let id = key.id else { throw AzureError(.invalidArgument, "the key '\(key.name)' has no identifier") }
        var local: LocalRSAKey?
        if [.rsa, .rsaHSM].contains(key.keyType), let n = key.key.n, let e = key.key.e {
            local = LocalRSAKey(n: n, e: e, operations: Set(key.keyOperations))
        }
        try self.init(keyID: id, localRSAKey: local, credential: credential, options: options, transport: transport)
    }

    /// The local public key, when `operation` with `algorithm` may run locally.
    private func localKey(for operation: KeyOperation, algorithm: String) -> (_RSA.Encryption.PublicKey, _RSA.Encryption.Padding)? {
        guard let localRSAKey, localRSAKey.operations.isEmpty || localRSAKey.operations.contains(operation),
            let publicKey = try? _RSA.Encryption.PublicKey(n: localRSAKey.n, e: localRSAKey.e)
        else { return nil }
        switch algorithm {
        case "RSA-OAEP": return (publicKey, .PKCS1_OAEP)
        case "RSA-OAEP-256": return (publicKey, .PKCS1_OAEP_SHA256)
        default: return nil
        }
    }

    /// Wraps (encrypts) a key, e.g. a data encryption key, with this key.
    public func wrapKey(_ algorithm: KeyWrapAlgorithm, key: Data) async throws -> WrapResult {
        if let (publicKey, padding) = localKey(for: .wrapKey, algorithm: algorithm.rawValue) {
            return WrapResult(keyID: keyID.absoluteString, algorithm: algorithm,
                              encryptedKey: try publicKey.encrypt(key, padding: padding))
        }
        let result = try await operation("wrapkey", KeyOperationParameters(algorithm: algorithm.rawValue, value: key))
        return WrapResult(keyID: result.keyID, algorithm: algorithm, encryptedKey: result.value)
    }

    /// Unwraps a key wrapped by ``wrapKey(_:key:)`` under this key (use the versioned key ID from the
    /// ``WrapResult``).
    public func unwrapKey(_ algorithm: KeyWrapAlgorithm, encryptedKey: Data) async throws -> UnwrapResult {
        let result = try await operation("unwrapkey", KeyOperationParameters(algorithm: algorithm.rawValue, value: encryptedKey))
        return UnwrapResult(keyID: result.keyID, algorithm: algorithm, key: result.value)
    }

    public func encrypt(_ algorithm: EncryptionAlgorithm, plaintext: Data, iv: Data? = nil,
                        additionalAuthenticatedData: Data? = nil) async throws -> EncryptResult {
        if let (publicKey, padding) = localKey(for: .encrypt, algorithm: algorithm.rawValue) {
            return EncryptResult(
                keyID: keyID.absoluteString, algorithm: algorithm, ciphertext: try publicKey.encrypt(plaintext, padding: padding),
                iv: nil, authenticationTag: nil, additionalAuthenticatedData: nil)
        }
        let result = try await operation(
            "encrypt",
            KeyOperationParameters(algorithm: algorithm.rawValue, value: plaintext, iv: iv,
                                   additionalAuthenticatedData: additionalAuthenticatedData))
        return EncryptResult(
            keyID: result.keyID, algorithm: algorithm, ciphertext: result.value, iv: result.iv ?? iv,
            authenticationTag: result.authenticationTag, additionalAuthenticatedData: additionalAuthenticatedData)
    }

    public func decrypt(_ algorithm: EncryptionAlgorithm, ciphertext: Data, iv: Data? = nil,
                        authenticationTag: Data? = nil, additionalAuthenticatedData: Data? = nil) async throws
        -> DecryptResult
    {
        let result = try await operation(
            "decrypt",
            KeyOperationParameters(algorithm: algorithm.rawValue, value: ciphertext, iv: iv,
                                   authenticationTag: authenticationTag,
                                   additionalAuthenticatedData: additionalAuthenticatedData))
        return DecryptResult(keyID: result.keyID, algorithm: algorithm, plaintext: result.value)
    }

    /// Signs a digest (SHA-256 for RS256/PS256/ES256, and so on) computed by the caller.
    public func sign(_ algorithm: SignatureAlgorithm, digest: Data) async throws -> SignResult {
        let result = try await operation("sign", KeyOperationParameters(algorithm: algorithm.rawValue, value: digest))
        return SignResult(keyID: result.keyID, algorithm: algorithm, signature: result.value)
    }

    public func verify(_ algorithm: SignatureAlgorithm, digest: Data, signature: Data) async throws -> VerifyResult {
        let body = KeyVerifyParameters(algorithm: algorithm.rawValue, digest: Base64URLData(digest),
                                       signature: Base64URLData(signature))
        let answer = try await pipeline.send(.post, url("verify"), body: body, as: KeyVerifyAnswer.self)
        return VerifyResult(keyID: identifier.sourceID.absoluteString, algorithm: algorithm, isValid: answer.value ?? false)
    }

    private func url(_ operation: String) -> RequestURL {
        pipeline.url("keys", identifier.name, identifier.version ?? "", operation)
    }

    private func operation(_ name: String, _ parameters: KeyOperationParameters) async throws
        -> (keyID: String, value: Data, iv: Data?, authenticationTag: Data?)
    {
        let answer = try await pipeline.send(.post, url(name), body: parameters, as: KeyOperationAnswer.self)
        guard let value = answer.value?.data else {
            throw AzureError(.invalidResponse, "the Key Vault answer to \(name) has no value")
        }
        // The service names the version it used; keep the caller's ID only if it does not.
        return (answer.kid ?? keyID.absoluteString, value, answer.iv?.data, answer.tag?.data)
    }
}

/// The body of encrypt, decrypt, wrapkey, unwrapkey and sign.
struct KeyOperationParameters: Encodable {
    var algorithm: String
    var value: Base64URLData
    var iv: Base64URLData?
    var authenticationTag: Base64URLData?
    var additionalAuthenticatedData: Base64URLData?

    init(algorithm: String, value: Data, iv: Data? = nil, authenticationTag: Data? = nil,
         additionalAuthenticatedData: Data? = nil) {
        self.algorithm = algorithm
        self.value = Base64URLData(value)
        self.iv = iv.map(Base64URLData.init)
        self.authenticationTag = authenticationTag.map(Base64URLData.init)
        self.additionalAuthenticatedData = additionalAuthenticatedData.map(Base64URLData.init)
    }

    enum CodingKeys: String, CodingKey {
        case value, iv
        case algorithm = "alg"
        case authenticationTag = "tag"
        case additionalAuthenticatedData = "aad"
    }
}

struct KeyOperationAnswer: Decodable {
    var kid: String?
    var value: Base64URLData?
    var iv: Base64URLData?
    var tag: Base64URLData?
}

struct KeyVerifyParameters: Encodable {
    var algorithm: String
    var digest: Base64URLData
    var signature: Base64URLData

    enum CodingKeys: String, CodingKey {
        case digest
        case algorithm = "alg"
        case signature = "value"
    }
}

struct KeyVerifyAnswer: Decodable {
    var value: Bool?
}
