import Crypto
import Foundation
import KumoBackup
import Testing

@Suite("Encrypted file format: chunked AES-256-GCM")
struct EncryptedFileFormatTests {
    static let chunkLog2: UInt8 = 16  // 64 KiB chunks keep the test files small

    func write(_ data: [UInt8], _ path: String) throws { try Data(data).write(to: URL(fileURLWithPath: path)) }
    func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    @Test(arguments: [0, 1, 65_535, 65_536, 65_537, 3 * 65_536 + 17])
    func roundTrip(size: Int) throws {
        let scratch = Scratch()
        let plain = random(size)
        try write(plain, scratch.path + "/plain")
        let key = SymmetricKey(size: .bits256)
        let header = try EncryptedFileFormat.encrypt(file: scratch.path + "/plain", to: scratch.path + "/enc", key: key, chunkSizeLog2: Self.chunkLog2)
        let encrypted = try read(scratch.path + "/enc")
        #expect(UInt64(encrypted.count) == EncryptedFileFormat.encryptedSize(plaintextLength: UInt64(size), chunkSizeLog2: Self.chunkLog2))
        #expect(Array(encrypted.prefix(8)) == Array("KUMOENC1".utf8))
        #expect(encrypted.count < 64 || Array(encrypted[40..<min(encrypted.count, 40 + size)]) != Array(plain.prefix(size)), "content is not stored in the clear")
        let decoded = try EncryptedFileFormat.decrypt(file: scratch.path + "/enc", to: scratch.path + "/out", key: key, name: "f.sst")
        #expect(decoded == header)
        #expect(try read(scratch.path + "/out") == plain)
    }

    /// Encrypts 3 chunks of data, lets `damage` alter the encrypted bytes, and returns the decryption error.
    func failure(_ damage: (inout [UInt8], EncryptedFileFormat.Header) throws -> Void, key decryptKey: SymmetricKey? = nil) throws -> BackupError? {
        let scratch = Scratch()
        try write(random(3 * 65_536 - 100), scratch.path + "/plain")
        let key = SymmetricKey(size: .bits256)
        let header = try EncryptedFileFormat.encrypt(file: scratch.path + "/plain", to: scratch.path + "/enc", key: key, chunkSizeLog2: Self.chunkLog2)
        var bytes = try read(scratch.path + "/enc")
        try damage(&bytes, header)
        try write(bytes, scratch.path + "/enc")
        do {
            _ = try EncryptedFileFormat.decrypt(file: scratch.path + "/enc", to: scratch.path + "/out", key: decryptKey ?? key, name: "000042.sst")
            return nil
        } catch let error as BackupError {
            return error
        }
    }

    static let sealedChunk = 65_536 + 16

    @Test func wrongKeyTamperSwapTruncateAppendAllFail() throws {
        let wrongKey = try #require(try failure({ _, _ in }, key: SymmetricKey(size: .bits256)))
        #expect(wrongKey.code == .corrupt && wrongKey.message.contains("000042.sst") && wrongKey.message.contains("chunk 0"))

        let tampered = try #require(try failure { bytes, _ in bytes[40 + 70_000] ^= 0x01 })
        #expect(tampered.message.contains("chunk 1"))

        let swapped = try #require(try failure { bytes, _ in
            let first = Array(bytes[40..<(40 + Self.sealedChunk)])
            let second = Array(bytes[(40 + Self.sealedChunk)..<(40 + 2 * Self.sealedChunk)])
            bytes.replaceSubrange(40..<(40 + Self.sealedChunk), with: second)
            bytes.replaceSubrange((40 + Self.sealedChunk)..<(40 + 2 * Self.sealedChunk), with: first)
        })
        #expect(swapped.message.contains("chunk 0"))

        let truncated = try #require(try failure { bytes, _ in bytes.removeLast(10) })
        // A stored size that the header's length does not produce is refused before any chunk is read.
        #expect(truncated.message.contains("do not fit its stored size"))

        let appended = try #require(try failure { bytes, _ in bytes += [1, 2, 3] })
        #expect(appended.message.contains("do not fit its stored size"))

        // Claiming a shorter length moves the final-chunk flag and the header: authentication fails.
        let shortened = try #require(try failure { bytes, _ in
            bytes[28] = 0
            bytes[29] = 0
            bytes[30] = 2  // 131072 bytes: two full chunks
            bytes[36] = 2
        })
        #expect(shortened.code == .corrupt)
    }

    @Test func chunksCannotMoveBetweenFilesUnderTheSameKey() throws {
        let scratch = Scratch()
        let key = SymmetricKey(size: .bits256)
        for name in ["a", "b"] {
            try write(random(2 * 65_536), scratch.path + "/\(name)")
            _ = try EncryptedFileFormat.encrypt(file: scratch.path + "/\(name)", to: scratch.path + "/\(name).enc", key: key, chunkSizeLog2: Self.chunkLog2)
        }
        var a = try read(scratch.path + "/a.enc")
        let b = try read(scratch.path + "/b.enc")
        a.replaceSubrange(40..<(40 + Self.sealedChunk), with: b[40..<(40 + Self.sealedChunk)])
        try write(a, scratch.path + "/a.enc")
        #expect(throws: BackupError.self) {
            try EncryptedFileFormat.decrypt(file: scratch.path + "/a.enc", to: scratch.path + "/out", key: key, name: "a")
        }
    }

    @Test func localKeyFileWrapsAndRefusesOtherKeys() async throws {
        let scratch = Scratch()
        let kek = try LocalKeyFileKEK.create(at: scratch.path + "/backup.key")
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.path + "/backup.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let dataKey = SymmetricKey(size: .bits256)
        let wrapped = try await kek.wrap(dataKey)
        #expect(wrapped.algorithm == "A256KW" && wrapped.kekID == kek.id)
        let keyText = try String(contentsOfFile: scratch.path + "/backup.key", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!kek.id.contains(keyText) && !wrapped.wrapped.contains(keyText))
        let unwrapped = try await kek.unwrap(wrapped)
        #expect(unwrapped.withUnsafeBytes { Array($0) } == dataKey.withUnsafeBytes { Array($0) })

        let other = try LocalKeyFileKEK.create(at: scratch.path + "/other.key")
        let mismatch = try await #require(throws: BackupError.self) { try await other.unwrap(wrapped) }
        #expect(mismatch.message.contains(kek.id))
        var forged = wrapped
        forged.kekID = other.id
        let altered = try await #require(throws: BackupError.self) { try await other.unwrap(forged) }
        #expect(altered.code == .corrupt)
        try Data("short".utf8).write(to: URL(fileURLWithPath: scratch.path + "/bad.key"))
        #expect(throws: BackupError.self) { try LocalKeyFileKEK(path: scratch.path + "/bad.key") }
    }
}
