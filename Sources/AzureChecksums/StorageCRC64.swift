/// Azure Storage's CRC-64: the reflected ECMA-182 polynomial (0x9A6C9329AC4BC9B5 in reflected form), with the
/// running value complemented before and after each update, as Microsoft's SDKs compute `x-ms-content-crc64`.
/// The header carries the 8 bytes little-endian, base64-encoded.
///
/// Table-driven, eight bytes per step ("slicing by 8"), so it runs at memory speed rather than a byte at a time.
public enum StorageCRC64 {
    static let polynomial: UInt64 = 0x9A6C_9329_AC4B_C9B5

    /// `tables[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
    static let tables: [[UInt64]] = {
        var tables = [[UInt64]](repeating: [UInt64](repeating: 0, count: 256), count: 8)
        for byte in 0..<256 {
            var crc = UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            tables[0][byte] = crc
        }
        for byte in 0..<256 {
            var crc = tables[0][byte]
            for k in 1..<8 {
                crc = tables[0][Int(crc & 0xFF)] ^ (crc >> 8)
                tables[k][byte] = crc
            }
        }
        return tables
    }()

    /// The CRC of `bytes`, continuing from `initial` (the CRC of what came before; 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing initial: UInt64 = 0) -> UInt64 {
        var crc = ~initial
        let count = bytes.count
        var index = 0
        tables.withUnsafeBufferPointer { tables in
            let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
            let t4 = tables[4], t5 = tables[5], t6 = tables[6], t7 = tables[7]
            while count - index >= 8 {
                let word = crc ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
                crc = t7[Int(word & 0xFF)] ^ t6[Int(word >> 8 & 0xFF)] ^ t5[Int(word >> 16 & 0xFF)]
                    ^ t4[Int(word >> 24 & 0xFF)] ^ t3[Int(word >> 32 & 0xFF)] ^ t2[Int(word >> 40 & 0xFF)]
                    ^ t1[Int(word >> 48 & 0xFF)] ^ t0[Int(word >> 56)]
                index += 8
            }
            while index < count {
                crc = t0[Int((crc ^ UInt64(bytes[index])) & 0xFF)] ^ (crc >> 8)
                index += 1
            }
        }
        return ~crc
    }

    public static func checksum(_ bytes: [UInt8], continuing initial: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { checksum($0, continuing: initial) }
    }

    /// The `x-ms-content-crc64` header value: the CRC's 8 bytes little-endian, base64.
    public static func headerValue(_ crc: UInt64) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let bytes = (0..<8).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) } + [0]
        var text: [UInt8] = []
        for group in stride(from: 0, to: 9, by: 3) {
            let chunk = UInt32(bytes[group]) << 16 | UInt32(bytes[group + 1]) << 8 | UInt32(bytes[group + 2])
            text += [alphabet[Int(chunk >> 18 & 63)], alphabet[Int(chunk >> 12 & 63)], alphabet[Int(chunk >> 6 & 63)], alphabet[Int(chunk & 63)]]
        }
        text[11] = UInt8(ascii: "=")
        return String(decoding: text, as: UTF8.self)
    }

    /// The CRC a `x-ms-content-crc64` header carries, or `nil` when it is not 8 bytes of base64.
    public static func parseHeader(_ text: String) -> UInt64? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let characters = Array(text.utf8)
        guard characters.count == 12, characters[11] == UInt8(ascii: "="), characters[10] != UInt8(ascii: "=") else { return nil }
        var bits: UInt128 = 0
        for character in characters.prefix(11) {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            bits = bits << 6 | UInt128(value)
        }
        // 66 bits: the 64 of the CRC's bytes, then 2 zero bits of padding.
        guard bits & 0b11 == 0 else { return nil }
        let big = UInt64(truncatingIfNeeded: bits >> 2)
        return big.byteSwapped
    }
}
