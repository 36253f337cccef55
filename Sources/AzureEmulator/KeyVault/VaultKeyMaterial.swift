import Crypto
import Foundation
import _CryptoExtras

/// Key generation and the cryptographic operations of Key Vault keys. Private and symmetric material stays in
/// ``KeyVersion/secretMaterial``; only public JWK members ever leave this type.
enum VaultKeyMaterial {
    static let rsaOperations = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
    static let octOperations = ["encrypt", "decrypt", "wrapKey", "unwrapKey"]
    static let ecOperations = ["sign", "verify"]

    static func badParameter(_ message: String) -> EmulatorError {
        EmulatorError(status: 400, code: "BadParameter", message: message)
    }

    static func generate(
        keyType: String, size: Int?, curve: String?, operations: [String]?, version: String, tags: [String: String]?,
        attributes: VaultAttributes
    ) throws -> KeyVersion {
        switch keyType {
        case "RSA", "RSA-HSM":
            let bits = size ?? 2048
            let keySize: _RSA.Signing.KeySize
            switch bits {
            case 2048: keySize = .bits2048
            case 3072: keySize = .bits3072
            case 4096: keySize = .bits4096
            default: throw badParameter("The specified RSA key size \(bits) is not supported; use 2048, 3072 or 4096.")
            }
            let key = try _RSA.Signing.PrivateKey(keySize: keySize)
            return KeyVersion(
                version: version, keyType: keyType, keyOperations: operations ?? rsaOperations, keySize: bits,
                curve: nil,
                secretMaterial: key.derRepresentation, tags: tags, attributes: attributes)
        case "oct", "oct-HSM":
            let bits = size ?? 256
            guard [128, 192, 256].contains(bits) else {
                throw badParameter("The specified oct key size \(bits) is not supported; use 128, 192 or 256.")
            }
            return KeyVersion(
                version: version, keyType: keyType, keyOperations: operations ?? octOperations, keySize: bits,
                curve: nil,
                secretMaterial: SymmetricKey(size: .init(bitCount: bits)).withUnsafeBytes { Data($0) }, tags: tags,
                attributes: attributes)
        case "EC", "EC-HSM":
            let name = curve ?? "P-256"
            let raw: Data
            switch name {
            case "P-256": raw = P256.Signing.PrivateKey().rawRepresentation
            case "P-384": raw = P384.Signing.PrivateKey().rawRepresentation
            case "P-521": raw = P521.Signing.PrivateKey().rawRepresentation
            default: throw badParameter("The specified curve \(name) is not supported; use P-256, P-384 or P-521.")
            }
            return KeyVersion(
                version: version, keyType: keyType, keyOperations: operations ?? ecOperations, keySize: nil,
                curve: name,
                secretMaterial: raw, tags: tags, attributes: attributes)
        default:
            throw badParameter(
                "The specified key type \(keyType) is not supported; use RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM.")
        }
    }

    static func importKey(
        jwk: [String: Any], keyType: String, version: String, tags: [String: String]?, attributes: VaultAttributes
    ) throws -> KeyVersion {
        func member(_ name: String) throws -> Data {
            guard let text = jwk[name] as? String, let data = Base64URL.decode(text), !data.isEmpty else {
                throw badParameter("The JSON web key has no valid '\(name)'; importing needs the private key.")
            }
            return data
        }
        let operations = jwk["key_ops"] as? [String]
        switch keyType {
        case "RSA", "RSA-HSM":
            let key: _RSA.Signing.PrivateKey
            // Key Vault's RSA sizes; checked before the members are handed to the RSA code, whose checks of
            // an arbitrarily large modulus would take long.
            guard [256, 384, 512].contains(try member("n").count) else {
                throw badParameter("The RSA key size is not supported; use 2048, 3072 or 4096 bits.")
            }
            do {
                key = try _RSA.Signing.PrivateKey(
                    n: try member("n"), e: try member("e"), d: try member("d"), p: try member("p"), q: try member("q"))
            } catch let error as EmulatorError {
                throw error
            } catch {
                throw badParameter("The RSA key members do not form a valid key.")
            }
            return KeyVersion(
                version: version, keyType: keyType, keyOperations: operations ?? rsaOperations,
                keySize: key.keySizeInBits,
                curve: nil, secretMaterial: key.derRepresentation, tags: tags, attributes: attributes)
        case "oct", "oct-HSM":
            let k = try member("k")
            guard [16, 24, 32].contains(k.count) else { throw badParameter("An oct key must be 128, 192 or 256 bits.") }
            return KeyVersion(
                version: version, keyType: keyType, keyOperations: operations ?? octOperations, keySize: k.count * 8,
                curve: nil,
                secretMaterial: k, tags: tags, attributes: attributes)
        case "EC", "EC-HSM":
            let curve = jwk["crv"] as? String ?? "P-256"
            let d = try member("d")
            do {
                switch curve {
                case "P-256": _ = try P256.Signing.PrivateKey(rawRepresentation: d)
                case "P-384": _ = try P384.Signing.PrivateKey(rawRepresentation: d)
                case "P-521": _ = try P521.Signing.PrivateKey(rawRepresentation: d)
                default: throw badParameter("The specified curve \(curve) is not supported; use P-256, P-384 or P-521.")
                }
            } catch let error as EmulatorError {
                throw error
            } catch {
                throw badParameter("The EC private key 'd' is not valid for \(curve).")
            }
            return KeyVersion(
                version: version, keyType: keyType, keyOperations: operations ?? ecOperations, keySize: nil,
                curve: curve,
                secretMaterial: d, tags: tags, attributes: attributes)
        default:
            throw badParameter(
                "The specified key type \(keyType) is not supported; use RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM.")
        }
    }

    /// The public JWK members: `n`/`e` for RSA, `crv`/`x`/`y` for EC, none for symmetric keys.
    static func publicMembers(of key: KeyVersion) throws -> [String: Any] {
        switch key.keyType {
        case "RSA", "RSA-HSM":
            let primitives = try _RSA.Signing.PrivateKey(derRepresentation: key.secretMaterial).publicKey
                .getKeyPrimitives()
            return ["n": Base64URL.encode(primitives.modulus), "e": Base64URL.encode(primitives.publicExponent)]
        case "EC", "EC-HSM":
            let point: Data
            switch key.curve {
            case "P-384":
                point = try P384.Signing.PrivateKey(rawRepresentation: key.secretMaterial).publicKey.rawRepresentation
            case "P-521":
                point = try P521.Signing.PrivateKey(rawRepresentation: key.secretMaterial).publicKey.rawRepresentation
            default:
                point = try P256.Signing.PrivateKey(rawRepresentation: key.secretMaterial).publicKey.rawRepresentation
            }
            let half = point.count / 2
            return [
                "crv": key.curve ?? "P-256", "x": Base64URL.encode(point.prefix(half)),
                "y": Base64URL.encode(point.suffix(half)),
            ]
        default:
            return [:]
        }
    }

    struct CipherParameters {
        var iv: Data?
        var aad: Data?
        var tag: Data?
    }

    /// encrypt, decrypt, wrapKey and unwrapKey.
    static func cipher(
        _ key: KeyVersion, operation: String, algorithm: String, value: Data, parameters: CipherParameters
    ) throws -> (value: Data, parameters: CipherParameters) {
        let forward = operation == "encrypt" || operation == "wrapKey"
        switch (key.keyType, algorithm) {
        case ("RSA", "RSA-OAEP"), ("RSA-HSM", "RSA-OAEP"), ("RSA", "RSA-OAEP-256"), ("RSA-HSM", "RSA-OAEP-256"):
            let padding: _RSA.Encryption.Padding = algorithm == "RSA-OAEP" ? .PKCS1_OAEP : .PKCS1_OAEP_SHA256
            let privateKey = try _RSA.Encryption.PrivateKey(derRepresentation: key.secretMaterial)
            do {
                if forward { return (try privateKey.publicKey.encrypt(value, padding: padding), CipherParameters()) }
                return (try privateKey.decrypt(value, padding: padding), CipherParameters())
            } catch {
                throw badParameter(
                    forward
                        ? "The value is too long for this key and algorithm."
                        : "Decryption failed: the ciphertext is not valid for this key and algorithm.")
            }
        case (_, "A128KW"), (_, "A192KW"), (_, "A256KW"):
            try checkSymmetric(key, algorithm: algorithm, bits: Int(algorithm.dropFirst().prefix(3))!)
            let kek = SymmetricKey(data: key.secretMaterial)
            do {
                if forward {
                    guard value.count >= 16, value.count % 8 == 0 else {
                        throw badParameter("The key to wrap must be at least 16 bytes and a multiple of 8 bytes.")
                    }
                    return (try AES.KeyWrap.wrap(SymmetricKey(data: value), using: kek), CipherParameters())
                }
                let unwrapped = try AES.KeyWrap.unwrap(value, using: kek)
                return (unwrapped.withUnsafeBytes { Data($0) }, CipherParameters())
            } catch let error as EmulatorError {
                throw error
            } catch {
                throw badParameter("Unwrap failed: the wrapped key does not pass the integrity check for this key.")
            }
        case (_, "A128GCM"), (_, "A192GCM"), (_, "A256GCM"):
            try checkSymmetric(key, algorithm: algorithm, bits: Int(algorithm.dropFirst().prefix(3))!)
            let symmetric = SymmetricKey(data: key.secretMaterial)
            let aad = parameters.aad ?? Data()
            if forward {
                let nonce = try parameters.iv.map { try AES.GCM.Nonce(data: $0) } ?? AES.GCM.Nonce()
                let sealed = try AES.GCM.seal(value, using: symmetric, nonce: nonce, authenticating: aad)
                return (sealed.ciphertext, CipherParameters(iv: Data(nonce), aad: parameters.aad, tag: sealed.tag))
            }
            guard let iv = parameters.iv, let tag = parameters.tag else {
                throw badParameter("Properties 'iv' and 'tag' are required.")
            }
            do {
                let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: iv), ciphertext: value, tag: tag)
                return (try AES.GCM.open(box, using: symmetric, authenticating: aad), CipherParameters())
            } catch {
                throw badParameter("Decryption failed: the authentication tag does not match.")
            }
        case (_, "A128CBC"), (_, "A192CBC"), (_, "A256CBC"), (_, "A128CBCPAD"), (_, "A192CBCPAD"), (_, "A256CBCPAD"):
            try checkSymmetric(key, algorithm: algorithm, bits: Int(algorithm.dropFirst().prefix(3))!)
            let symmetric = SymmetricKey(data: key.secretMaterial)
            let noPadding = !algorithm.hasSuffix("PAD")
            do {
                if forward {
                    var generator = SystemRandomNumberGenerator()
                    let ivData =
                        parameters.iv ?? Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
                    let encrypted = try AES._CBC.encrypt(
                        value, using: symmetric, iv: try AES._CBC.IV(ivBytes: ivData), noPadding: noPadding)
                    return (encrypted, CipherParameters(iv: ivData))
                }
                guard let ivBytes = parameters.iv else { throw badParameter("Property 'iv' is required.") }
                let iv = try AES._CBC.IV(ivBytes: ivBytes)
                return (try AES._CBC.decrypt(value, using: symmetric, iv: iv, noPadding: noPadding), CipherParameters())
            } catch let error as EmulatorError {
                throw error
            } catch {
                throw badParameter(
                    forward
                        ? "The value must be a multiple of 16 bytes for \(algorithm), and the iv 16 bytes."
                        : "Decryption failed: the ciphertext or iv is not valid for \(algorithm).")
            }
        default:
            throw badParameter("Algorithm \(algorithm) is not supported for key type \(key.keyType).")
        }
    }

    private static func checkSymmetric(_ key: KeyVersion, algorithm: String, bits: Int) throws {
        guard key.keyType.hasPrefix("oct") else {
            throw badParameter("Algorithm \(algorithm) is not supported for key type \(key.keyType).")
        }
        guard key.secretMaterial.count * 8 == bits else {
            throw badParameter(
                "Algorithm \(algorithm) needs a \(bits)-bit key; this key has \(key.secretMaterial.count * 8) bits.")
        }
    }

    /// Signs a digest the client computed (Key Vault never sees the message).
    static func sign(_ key: KeyVersion, algorithm: String, digest: Data) throws -> Data {
        switch (key.keyType.hasPrefix("RSA"), algorithm) {
        case (true, "RS256"), (true, "RS384"), (true, "RS512"), (true, "PS256"), (true, "PS384"), (true, "PS512"):
            let privateKey = try _RSA.Signing.PrivateKey(derRepresentation: key.secretMaterial)
            let padding: _RSA.Signing.Padding = algorithm.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5
            return try withDigest(digest, algorithm: algorithm) {
                try privateKey.signature(for: $0, padding: padding).rawRepresentation
            }
        case (false, "ES256") where key.curve == "P-256":
            let privateKey = try P256.Signing.PrivateKey(rawRepresentation: key.secretMaterial)
            return try withDigest(digest, algorithm: algorithm) { try privateKey.signature(for: $0).rawRepresentation }
        case (false, "ES384") where key.curve == "P-384":
            let privateKey = try P384.Signing.PrivateKey(rawRepresentation: key.secretMaterial)
            return try withDigest(digest, algorithm: algorithm) { try privateKey.signature(for: $0).rawRepresentation }
        case (false, "ES512") where key.curve == "P-521":
            let privateKey = try P521.Signing.PrivateKey(rawRepresentation: key.secretMaterial)
            return try withDigest(digest, algorithm: algorithm) { try privateKey.signature(for: $0).rawRepresentation }
        default:
            throw badParameter("Algorithm \(algorithm) is not supported for key type \(key.keyType).")
        }
    }

    static func verify(_ key: KeyVersion, algorithm: String, digest: Data, signature: Data) throws -> Bool {
        switch (key.keyType.hasPrefix("RSA"), algorithm) {
        case (true, "RS256"), (true, "RS384"), (true, "RS512"), (true, "PS256"), (true, "PS384"), (true, "PS512"):
            let publicKey = try _RSA.Signing.PrivateKey(derRepresentation: key.secretMaterial).publicKey
            let padding: _RSA.Signing.Padding = algorithm.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5
            let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
            return try withDigest(digest, algorithm: algorithm) {
                publicKey.isValidSignature(rsaSignature, for: $0, padding: padding)
            }
        case (false, "ES256") where key.curve == "P-256":
            let publicKey = try P256.Signing.PrivateKey(rawRepresentation: key.secretMaterial).publicKey
            guard let ecSignature = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return try withDigest(digest, algorithm: algorithm) { publicKey.isValidSignature(ecSignature, for: $0) }
        case (false, "ES384") where key.curve == "P-384":
            let publicKey = try P384.Signing.PrivateKey(rawRepresentation: key.secretMaterial).publicKey
            guard let ecSignature = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return try withDigest(digest, algorithm: algorithm) { publicKey.isValidSignature(ecSignature, for: $0) }
        case (false, "ES512") where key.curve == "P-521":
            let publicKey = try P521.Signing.PrivateKey(rawRepresentation: key.secretMaterial).publicKey
            guard let ecSignature = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return try withDigest(digest, algorithm: algorithm) { publicKey.isValidSignature(ecSignature, for: $0) }
        default:
            throw badParameter("Algorithm \(algorithm) is not supported for key type \(key.keyType).")
        }
    }

    /// swift-crypto signs only its own digest types, which have no public initialiser from bytes. Key Vault's
    /// sign and verify receive a digest the client computed, so the bytes are loaded into the digest type of
    /// the algorithm's hash; its layout is exactly the digest bytes, which the size check guards.
    private static func withDigest<T>(_ digest: Data, algorithm: String, _ body: (any Digest) throws -> T) throws -> T {
        func load<D: Digest>(_ type: D.Type) throws -> D {
            guard digest.count == D.byteCount, MemoryLayout<D>.size == D.byteCount else {
                throw badParameter("The digest for \(algorithm) must be \(D.byteCount) bytes, not \(digest.count).")
            }
            return digest.withUnsafeBytes { $0.loadUnaligned(as: D.self) }
        }
        switch algorithm.suffix(3) {
        case "256": return try body(try load(SHA256Digest.self))
        case "384": return try body(try load(SHA384Digest.self))
        default: return try body(try load(SHA512Digest.self))
        }
    }
}
