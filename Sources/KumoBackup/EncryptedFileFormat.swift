import Crypto
import Foundation

/// Kumo's encrypted file format, version 1: a file encrypted with AES-256-GCM in independently
/// authenticated chunks, so it can be streamed with bounded memory and read from any chunk.
///
/// ```
/// header (40 bytes)
///   0  8  magic "KUMOENC1"
///   8  1  format version (1)
///   9  1  algorithm (1 = AES-256-GCM)
///  10  1  log2 of the chunk size (16...26)
///  11  1  reserved (0)
///  12 16  file id (random)
///  28  8  plaintext length, little-endian
///  36  4  chunk count, little-endian
/// chunks, one per `chunkSize` bytes of plaintext (the last may be shorter; an empty file has one empty chunk)
///   ciphertext || 16-byte GCM tag
/// ```
///
/// Chunk `i` uses nonce `0x00000000 || i` (8 bytes little-endian): every file has its own random data key,
/// so nonces never repeat under one key. Each chunk's additional authenticated data is the whole header
/// followed by `i` (8 bytes little-endian) and a final-chunk flag (1 byte), which binds each chunk to its
/// file (file id, length) and its position: chunks cannot be reordered, swapped between files, dropped or
/// appended, and the file cannot be truncated, without failing authentication.
public enum EncryptedFileFormat {
    public static let magic = Array("KUMOENC1".utf8)
    public static let headerSize = 40
    public static let tagSize = 16
    public static let defaultChunkSizeLog2: UInt8 = 20

    public struct Header: Equatable, Sendable {
        public var fileID: [UInt8]
        public var plaintextLength: UInt64
        public var chunkSizeLog2: UInt8

        public var chunkSize: Int { 1 << Int(chunkSizeLog2) }
        /// Chunks for `plaintextLength`, or nil when the length needs more than `UInt32.max` chunks (only a
        /// damaged or forged header says so). Computed without overflow for every 64-bit length.
        var checkedChunkCount: UInt32? {
            guard plaintextLength > 0 else { return 1 }
            let size = UInt64(chunkSize)
            return UInt32(exactly: plaintextLength / size + (plaintextLength % size == 0 ? 0 : 1))
        }
        public var chunkCount: UInt32 { checkedChunkCount ?? 0 }

        public var bytes: [UInt8] {
            var out = magic
            out += [1, 1, chunkSizeLog2, 0]
            out += fileID
            withUnsafeBytes(of: plaintextLength.littleEndian) { out += $0 }
            withUnsafeBytes(of: chunkCount.littleEndian) { out += $0 }
            return out
        }

        /// Parses a header read from an untrusted file whose whole stored size is `storedSize`.
        /// - Throws: ``BackupError`` `.corrupt` naming `name` unless every field is valid and the length and chunk
        ///   count it states are exactly what `storedSize` holds.
        public static func parse(_ bytes: [UInt8], name: String, storedSize: UInt64) throws -> Header {
            guard bytes.count >= headerSize, Array(bytes[0..<8]) == magic else {
                throw BackupError(.corrupt, "\(name) is not a Kumo encrypted file (bad header)")
            }
            guard bytes[8] == 1, bytes[9] == 1 else {
                throw BackupError(.corrupt, "\(name) uses encrypted format \(bytes[8]) / algorithm \(bytes[9]), which this Kumo does not read")
            }
            guard (16...26).contains(bytes[10]) else { throw BackupError(.corrupt, "\(name) has an invalid chunk size") }
            guard bytes[11] == 0 else { throw BackupError(.corrupt, "\(name) has a non-zero reserved header byte") }
            let length = bytes[28..<36].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let count = bytes[36..<40].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let header = Header(fileID: Array(bytes[12..<28]), plaintextLength: length, chunkSizeLog2: bytes[10])
            guard let expected = header.checkedChunkCount, expected == count else {
                throw BackupError(.corrupt, "\(name) has an inconsistent chunk count")
            }
            guard let size = encryptedSize(checked: header), size == storedSize else {
                throw BackupError(.corrupt, "\(name): its header states \(length) bytes of plaintext, which do not fit its stored size of \(storedSize) bytes")
            }
            return header
        }
    }

    /// `headerSize + plaintextLength + chunkCount * tagSize`, or nil when that overflows.
    static func encryptedSize(checked header: Header) -> UInt64? {
        guard let count = header.checkedChunkCount else { return nil }
        let (withHeader, overflow1) = header.plaintextLength.addingReportingOverflow(UInt64(headerSize))
        let (tags, overflow2) = UInt64(count).multipliedReportingOverflow(by: UInt64(tagSize))
        let (total, overflow3) = withHeader.addingReportingOverflow(tags)
        return overflow1 || overflow2 || overflow3 ? nil : total
    }

    /// The size of the encrypted form of `plaintextLength` bytes.
    public static func encryptedSize(plaintextLength: UInt64, chunkSizeLog2: UInt8 = defaultChunkSizeLog2) -> UInt64 {
        let header = Header(fileID: [UInt8](repeating: 0, count: 16), plaintextLength: plaintextLength, chunkSizeLog2: chunkSizeLog2)
        return encryptedSize(checked: header) ?? UInt64.max
    }

    static func nonce(_ index: UInt32) throws -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: UInt64(index).littleEndian) { bytes.replaceSubrange(4..<12, with: $0) }
        return try AES.GCM.Nonce(data: bytes)
    }

    static func additionalData(_ header: [UInt8], index: UInt32, isFinal: Bool) -> [UInt8] {
        var aad = header
        withUnsafeBytes(of: UInt64(index).littleEndian) { aad += $0 }
        aad.append(isFinal ? 1 : 0)
        return aad
    }

    /// Encrypts the file at `source` into `destination` with `key` (32 bytes), reading one chunk at a time.
    public static func encrypt(file source: String, to destination: String, key: SymmetricKey,
                               chunkSizeLog2: UInt8 = defaultChunkSizeLog2) throws -> Header {
        let encryptor = try Encryptor(file: source, key: key, chunkSizeLog2: chunkSizeLog2)
        guard FileManager.default.createFile(atPath: destination, contents: nil),
            let output = FileHandle(forWritingAtPath: destination)
        else { throw BackupError(.invalidArgument, "cannot create \(destination)") }
        defer { try? output.close() }
        while let piece = try encryptor.next() { try output.write(contentsOf: piece) }
        return encryptor.header
    }

    /// The encrypted form of a file, produced in order one piece at a time (the header, then each sealed chunk),
    /// so it can be stored or uploaded as it is made, with no temporary copy.
    public final class Encryptor {
        public let header: Header
        private let headerBytes: [UInt8]
        private let input: FileHandle
        private let source: String
        private let key: SymmetricKey
        private var nextIndex: UInt32 = 0
        private var headerSent = false

        public init(file source: String, key: SymmetricKey, chunkSizeLog2: UInt8 = defaultChunkSizeLog2) throws {
            guard let input = FileHandle(forReadingAtPath: source) else { throw BackupError(.invalidArgument, "cannot read \(source)") }
            let length = UInt64((try FileManager.default.attributesOfItem(atPath: source)[.size] as? NSNumber)?.int64Value ?? 0)
            var fileID = [UInt8](repeating: 0, count: 16)
            var generator = SystemRandomNumberGenerator()
            for index in fileID.indices { fileID[index] = UInt8.random(in: 0...255, using: &generator) }
            header = Header(fileID: fileID, plaintextLength: length, chunkSizeLog2: chunkSizeLog2)
            headerBytes = header.bytes
            self.input = input
            self.source = source
            self.key = key
        }

        deinit { try? input.close() }

        /// The next piece of the encrypted file, or nil after the last chunk.
        /// - Throws: ``BackupError`` when the file cannot be read or changed size while being encrypted.
        public func next() throws -> [UInt8]? {
            if !headerSent {
                headerSent = true
                return headerBytes
            }
            guard nextIndex < header.chunkCount else {
                guard try input.read(upToCount: 1)?.isEmpty ?? true else {
                    throw BackupError(.invalidArgument, "\(source) grew while it was being encrypted")
                }
                return nil
            }
            let index = nextIndex
            nextIndex += 1
            let chunk = try input.read(upToCount: header.chunkSize) ?? Data()
            let expected = index == header.chunkCount - 1
                ? Int(header.plaintextLength - UInt64(index) * UInt64(header.chunkSize)) : header.chunkSize
            guard chunk.count == expected else {
                throw BackupError(.invalidArgument, "\(source) shrank while it was being encrypted")
            }
            let sealed = try AES.GCM.seal(
                chunk, using: key, nonce: try nonce(index),
                authenticating: additionalData(headerBytes, index: index, isFinal: index == header.chunkCount - 1))
            var piece = [UInt8]()
            piece.reserveCapacity(chunk.count + tagSize)
            piece.append(contentsOf: sealed.ciphertext)
            piece.append(contentsOf: sealed.tag)
            return piece
        }
    }

    /// Decrypts `source` into `destination`, authenticating every chunk. `name` is used in errors.
    /// - Throws: ``BackupError`` `.corrupt` naming the file and chunk when anything fails to authenticate
    ///   (wrong key, tampered, reordered, swapped or missing chunks, truncation).
    public static func decrypt(file source: String, to destination: String, key: SymmetricKey, name: String) throws -> Header {
        guard let input = FileHandle(forReadingAtPath: source) else { throw LocalFileIO.failure("read", source) }
        defer { try? input.close() }
        let size = try input.seekToEnd()
        try input.seek(toOffset: 0)
        return try decryptAndHash(input, storedSize: size, to: destination, key: key, name: name).header
    }

    /// ``decrypt(file:to:key:name:)`` that also returns the plaintext's hex SHA-256, computed in the same pass so
    /// a restore does not read every decrypted file a second time to check it.
    /// The header is checked against `storedSize` (what the manifest records and the target holds) before any
    /// length it states is used, so a damaged header can neither trap nor make this read or write more.
    static func decryptAndHash(_ input: FileHandle, storedSize: UInt64, to destination: String?, key: SymmetricKey, name: String) throws
        -> (header: Header, sha256: String)
    {
        var hasher = SHA256()
        let headerBytes = Array(try input.read(upToCount: headerSize) ?? Data())
        let header = try Header.parse(headerBytes, name: name, storedSize: storedSize)
        var output: FileHandle?
        if let destination {
            let descriptor = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw LocalFileIO.failure("create", destination) }
            output = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        }
        defer { try? output?.close() }
        var remaining = header.plaintextLength
        for index in 0..<header.chunkCount {
            let plainCount = Int(min(UInt64(header.chunkSize), remaining))
            let sealed = try input.read(upToCount: plainCount + tagSize) ?? Data()
            guard sealed.count == plainCount + tagSize else {
                throw BackupError(.corrupt, "\(name) is truncated at chunk \(index) of \(header.chunkCount)")
            }
            do {
                let box = try AES.GCM.SealedBox(
                    nonce: try nonce(index), ciphertext: sealed.prefix(plainCount), tag: sealed.suffix(tagSize))
                let plain = try AES.GCM.open(
                    box, using: key, authenticating: additionalData(headerBytes, index: index, isFinal: index == header.chunkCount - 1))
                hasher.update(data: plain)
                try output?.write(contentsOf: plain)
            } catch {
                throw BackupError(.corrupt, "\(name): chunk \(index) of \(header.chunkCount) fails authentication (wrong key, or the file was altered)")
            }
            remaining -= UInt64(plainCount)
        }
        guard try input.read(upToCount: 1)?.isEmpty ?? true else {
            throw BackupError(.corrupt, "\(name) has data past its last chunk")
        }
        return (header, hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }
}
