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
    private static let sealName = Array("\"manifestMAC\"".utf8)
    /// A seal's hex digits: 64 for HMAC-SHA256, up to 1024 for an RSA-4096 signature.
    private static let maximumSealDigits = 2048

    /// The bytes a seal covers: the manifest as it will be stored, with the seal's value empty. `authentication`
    /// names the algorithm and key; its `manifestMAC` is ignored.
    func sealInput(_ authentication: Authentication) throws -> [UInt8] {
        var copy = self
        copy.authentication = authentication
        copy.authentication?.manifestMAC = ""
        return try copy.encoded()
    }

    /// `input` (from ``sealInput(_:)``) with `seal` written into the empty seal value: the stored form.
    static func insertSeal(_ seal: [UInt8], into input: [UInt8]) throws -> [UInt8] {
        let range = try sealRange(in: input, path: "the new manifest")
        var bytes = input
        bytes.replaceSubrange(range, with: Array(FileHashing.hex(seal).utf8))
        return bytes
    }

    /// A stored manifest split into the seal it states and the bytes that seal covers.
    static func sealParts(of bytes: [UInt8], path: String) throws -> (seal: [UInt8], covered: [UInt8]) {
        let range = try sealRange(in: bytes, path: path)
        guard let seal = hexBytes(bytes[range]) else {
            throw BackupError(.corrupt, "manifest \(path) is refused: its manifestMAC is not hex")
        }
        var covered = bytes
        covered.removeSubrange(range)
        return (seal, covered)
    }

    /// The digits of the one `"manifestMAC": "<hex>"` member. A key can only appear unescaped as a member name
    /// (inside a string its quotes would be escaped), so exactly one match means the seal that the decoder reads
    /// is the one checked.
    static func sealRange(in bytes: [UInt8], path: String) throws -> Range<Int> {
        var found: [Range<Int>] = []
        var index = 0
        while index + sealName.count <= bytes.count {
            defer { index += 1 }
            guard bytes[index] == sealName[0], Array(bytes[index..<index + sealName.count]) == sealName else { continue }
            var cursor = index + sealName.count
            func skipSpace() { while cursor < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[cursor]) { cursor += 1 } }
            skipSpace()
            guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: ":") else { continue }
            cursor += 1
            skipSpace()
            guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "\"") else { continue }
            let start = cursor + 1
            var end = start
            while end < bytes.count, end - start <= maximumSealDigits, isLowerHex(bytes[end]) { end += 1 }
            guard end < bytes.count, bytes[end] == UInt8(ascii: "\""), end - start <= maximumSealDigits else { continue }
            found.append(start..<end)
        }
        guard found.count == 1 else {
            throw BackupError(.corrupt, "manifest \(path) is refused: it has \(found.count) manifestMAC members; a sealed manifest has one")
        }
        return found[0]
    }

    private static func hexBytes(_ digits: ArraySlice<UInt8>) -> [UInt8]? {
        guard digits.count % 2 == 0 else { return nil }
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
