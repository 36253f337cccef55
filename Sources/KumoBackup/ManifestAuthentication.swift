import Crypto
import Foundation

/// The seal on an encrypted backup's manifest.
///
/// The MAC covers the manifest's bytes exactly as stored, with only the MAC's own 64 hex digits replaced by
/// zeros, so every field (and anything an attacker adds) is covered without depending on how JSON is
/// re-encoded. The MAC key is random per manifest and wrapped by the key-encryption key like a data key: only
/// a holder of that key can make a seal that verifies.
extension BackupManifest {
    static let macAlgorithm = "HMAC-SHA256"
    private static let macKeyName = Array("\"manifestMAC\"".utf8)
    private static let macLength = 64

    /// The manifest's stored form, sealed under `macKey` (whose wrapped form is `wrappedKey`).
    func sealed(macKey: SymmetricKey, wrappedKey: WrappedKey) throws -> [UInt8] {
        var copy = self
        copy.authentication = Authentication(algorithm: Self.macAlgorithm, key: wrappedKey, manifestMAC: String(repeating: "0", count: Self.macLength))
        var bytes = try copy.encoded()
        let range = try Self.macRange(in: bytes, path: "the new manifest")
        let mac = HMAC<SHA256>.authenticationCode(for: bytes, using: macKey)
        bytes.replaceSubrange(range, with: Array(Data(mac).map { String(format: "%02x", $0) }.joined().utf8))
        return bytes
    }

    /// Whether `bytes` (this manifest as stored) carry a valid seal under `macKey`.
    static func isAuthentic(_ bytes: [UInt8], macKey: SymmetricKey, path: String) throws -> Bool {
        let range = try macRange(in: bytes, path: path)
        guard let stated = hexBytes(bytes[range]) else { return false }
        var blanked = bytes
        blanked.replaceSubrange(range, with: [UInt8](repeating: UInt8(ascii: "0"), count: macLength))
        return HMAC<SHA256>.isValidAuthenticationCode(stated, authenticating: blanked, using: macKey)
    }

    /// The 64 digits of the one `"manifestMAC": "<hex>"` member. A key can only appear unescaped as a member
    /// name, so exactly one match means the MAC that the decoder reads is the one checked.
    static func macRange(in bytes: [UInt8], path: String) throws -> Range<Int> {
        var found: [Range<Int>] = []
        var index = 0
        while index + macKeyName.count <= bytes.count {
            defer { index += 1 }
            guard bytes[index] == macKeyName[0], Array(bytes[index..<index + macKeyName.count]) == macKeyName else { continue }
            var cursor = index + macKeyName.count
            func skipSpace() { while cursor < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[cursor]) { cursor += 1 } }
            skipSpace()
            guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: ":") else { continue }
            cursor += 1
            skipSpace()
            guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "\"") else { continue }
            let start = cursor + 1
            guard start + macLength < bytes.count, bytes[start + macLength] == UInt8(ascii: "\"") else { continue }
            found.append(start..<start + macLength)
        }
        guard found.count == 1 else {
            throw BackupError(.corrupt, "manifest \(path) is refused: it has \(found.count) manifestMAC members; a sealed manifest has one")
        }
        return found[0]
    }

    private static func hexBytes(_ digits: ArraySlice<UInt8>) -> [UInt8]? {
        func value(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var iterator = digits.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = value(high), let l = value(low) else { return nil }
            out.append(h << 4 | l)
        }
        return out
    }
}
