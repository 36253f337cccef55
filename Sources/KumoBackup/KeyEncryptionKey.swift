import Crypto
import Foundation

/// A data key wrapped by a key-encryption key, as recorded in a manifest.
public struct WrappedKey: Codable, Sendable, Equatable {
    /// The key-encryption key's id (for Key Vault, the key URL with its version).
    public var kekID: String
    /// The wrapping algorithm: `A256KW` (RFC 3394), `RSA-OAEP-256`, `RSA-OAEP`.
    public var algorithm: String
    /// The wrapped key, base64.
    public var wrapped: String
}

/// Wraps and unwraps data keys. The key-encryption key itself never leaves its provider.
public protocol KeyEncryptionKey: Sendable {
    /// Identifies this key (and version) in manifests; never contains key material.
    var id: String { get }
    func wrap(_ dataKey: SymmetricKey) async throws -> WrappedKey
    func unwrap(_ wrapped: WrappedKey) async throws -> SymmetricKey
    /// Whether data keys wrapped under `kekID` unwrap with this key: true for its own id, and for a versioned key
    /// also for its other versions.
    func canUnwrap(keyID kekID: String) -> Bool

    /// How this key seals manifests: `HMAC-SHA256` under a MAC key it wraps (only a holder of the key can wrap
    /// one), or, for keys whose wrap needs only a public key (RSA), a signature such as `PS256`.
    var manifestSealAlgorithm: String { get }
    /// Signs a manifest's SHA-256 (for keys that seal with a signature).
    func signManifest(digest: [UInt8]) async throws -> [UInt8]
    /// Whether `signature` over `digest` was made by the version `keyID` of this key.
    func verifyManifest(digest: [UInt8], signature: [UInt8], keyID: String) async throws -> Bool
}

extension KeyEncryptionKey {
    public func canUnwrap(keyID kekID: String) -> Bool { kekID == id }
    public var manifestSealAlgorithm: String { BackupManifest.macAlgorithm }
    public func signManifest(digest: [UInt8]) async throws -> [UInt8] {
        throw BackupError(.invalidArgument, "key \(id) seals manifests with \(manifestSealAlgorithm), not a signature")
    }
    public func verifyManifest(digest: [UInt8], signature: [UInt8], keyID: String) async throws -> Bool {
        throw BackupError(.invalidArgument, "key \(id) seals manifests with \(manifestSealAlgorithm), not a signature")
    }
}

/// Finds the key-encryption key a manifest names, so a restore needs no key argument when the manifest's key
/// id says where the key lives (a Key Vault key URL).
public protocol KeyEncryptionKeyResolver: Sendable {
    /// The key for `kekID`, or nil when this resolver does not know where such a key lives.
    func resolve(_ kekID: String) async throws -> (any KeyEncryptionKey)?
}

/// A 256-bit key kept in a local file (32 raw bytes, or their base64): the embedded default KEK.
public struct LocalKeyFileKEK: KeyEncryptionKey {
    private let key: Data
    public let id: String

    /// Reads the key at `path`.
    /// - Throws: ``BackupError`` `.invalidArgument` when the file is missing or does not hold 32 bytes.
    public init(path: String) throws {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw BackupError(.invalidArgument, "cannot read the key file \(path)")
        }
        let text = String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if contents.count == 32 {
            key = contents
        } else if let decoded = Data(base64Encoded: text), decoded.count == 32 {
            key = decoded
        } else {
            throw BackupError(.invalidArgument, "the key file \(path) must hold 32 bytes (raw or base64), not \(contents.count) bytes")
        }
        // The id names the key by a fingerprint, never by its bytes.
        let fingerprint = SHA256.hash(data: key).prefix(8).map { String(format: "%02x", $0) }.joined()
        id = "file:\((path as NSString).lastPathComponent)#\(fingerprint)"
    }

    /// Writes a new random key to `path` (mode 0600) and returns it.
    public static func create(at path: String) throws -> LocalKeyFileKEK {
        let key = SymmetricKey(size: .bits256)
        let base64 = key.withUnsafeBytes { Data($0).base64EncodedString() }
        guard FileManager.default.createFile(atPath: path, contents: Data((base64 + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw BackupError(.invalidArgument, "cannot create the key file \(path)")
        }
        return try LocalKeyFileKEK(path: path)
    }

    public func wrap(_ dataKey: SymmetricKey) async throws -> WrappedKey {
        let wrapped = try AES.KeyWrap.wrap(dataKey, using: SymmetricKey(data: key))
        return WrappedKey(kekID: id, algorithm: "A256KW", wrapped: wrapped.base64EncodedString())
    }

    public func unwrap(_ wrapped: WrappedKey) async throws -> SymmetricKey {
        guard wrapped.algorithm == "A256KW" else {
            throw BackupError(.invalidArgument, "key \(id) unwraps A256KW, not \(wrapped.algorithm)")
        }
        guard wrapped.kekID == id else {
            throw BackupError(.invalidArgument, "the data key was wrapped by \(wrapped.kekID), not by \(id)")
        }
        guard let bytes = Data(base64Encoded: wrapped.wrapped) else { throw BackupError(.corrupt, "a wrapped data key is not base64") }
        do {
            return try AES.KeyWrap.unwrap(bytes, using: SymmetricKey(data: key))
        } catch {
            throw BackupError(.corrupt, "key \(id) cannot unwrap the data key: wrong key, or the wrapped key was altered")
        }
    }
}
