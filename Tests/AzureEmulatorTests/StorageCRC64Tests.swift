import AzureChecksums
import Testing

@Suite("Azure Storage CRC-64")
struct StorageCRC64Tests {
    /// The CRC one bit at a time, straight from the definition, to check the sliced tables against.
    func bitwise(_ bytes: [UInt8], continuing initial: UInt64 = 0) -> UInt64 {
        var crc = ~initial
        for byte in bytes {
            crc ^= UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x9A6C_9329_AC4B_C9B5 : crc >> 1 }
        }
        return ~crc
    }

    /// Values from Microsoft's own implementation (azure-storage-extensions `checksums.crc64.compute(data, 0)`).
    @Test func matchesMicrosoftsImplementation() {
        #expect(StorageCRC64.checksum([]) == 0)
        #expect(StorageCRC64.checksum(Array("123456789".utf8)) == 0xAE8B_1486_0A79_9888)
        #expect(StorageCRC64.checksum(Array("Hello World!".utf8)) == 0x02E5_1CC8_5EFC_E1A5)
        let cycle = (0..<4).flatMap { _ in (0...255).map(UInt8.init) }
        #expect(StorageCRC64.checksum(cycle) == 0x888D_8D2F_18D0_1447)
        // Continuing from a prefix's CRC gives the whole's.
        #expect(StorageCRC64.checksum(Array("World!".utf8), continuing: StorageCRC64.checksum(Array("Hello ".utf8))) == 0x02E5_1CC8_5EFC_E1A5)
    }

    /// Header values real Azure Blob Storage answered in recorded sessions.
    @Test func headersMatchRecordedAzureAnswers() {
        #expect(StorageCRC64.headerValue(StorageCRC64.checksum(Array("GoBlockBlobData".utf8))) == "+JGsS7CR5kg=")
        #expect(StorageCRC64.headerValue(StorageCRC64.checksum([])) == "AAAAAAAAAAA=")
        #expect(StorageCRC64.parseHeader("+JGsS7CR5kg=") == StorageCRC64.checksum(Array("GoBlockBlobData".utf8)))
    }

    @Test func slicedTablesAgreeWithTheDefinitionAtEveryLengthAndSplit() {
        var state: UInt64 = 0x1234_5678
        let data = (0..<300).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for length in 0...data.count {
            #expect(StorageCRC64.checksum(Array(data.prefix(length))) == bitwise(Array(data.prefix(length))))
        }
        for split in stride(from: 0, through: data.count, by: 7) {
            let first = StorageCRC64.checksum(Array(data.prefix(split)))
            #expect(StorageCRC64.checksum(Array(data.dropFirst(split)), continuing: first) == bitwise(data))
        }
    }

    @Test(arguments: ["", "AAAAAAAAAAA", "AAAAAAAAAAAA", "AAAAAAAAAA==", "AAAAAAAAAA!=", "+JGsS7CR5kh=", "AAAAAAAAAAAA=", "ÄAAAAAAAAAA="])
    func malformedHeadersAreRefused(text: String) {
        #expect(StorageCRC64.parseHeader(text) == nil)
    }

    @Test func headersRoundTrip() {
        for crc: UInt64 in [0, 1, .max, 0x8000_0000_0000_0000, 0x0123_4567_89AB_CDEF] {
            #expect(StorageCRC64.parseHeader(StorageCRC64.headerValue(crc)) == crc)
        }
    }
}
