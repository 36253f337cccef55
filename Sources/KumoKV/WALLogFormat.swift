import Foundation

/// RocksDB's write-ahead log file format, as far as the change feed needs it: the sequence number a file starts at.
///
/// A log file is a run of 32 KiB blocks. Each record fragment has a header — CRC32C (4 bytes), payload length
/// (2, little-endian), type (1); the recyclable types 5–8 add the log number (4) — and a record that does not fit
/// a block continues in the next. A block's last < 7 bytes are zero padding. The first data record's payload is a
/// WriteBatch, whose first 8 bytes are its sequence number (little-endian).
enum WALLogFormat {
    static let blockSize = 32 * 1024

    enum RecordType: UInt8 {
        case zero = 0, full = 1, first = 2, middle = 3, last = 4
        case recyclableFull = 5, recyclableFirst = 6, recyclableMiddle = 7, recyclableLast = 8

        var headerSize: Int { rawValue >= 5 ? 11 : 7 }
        var startsRecord: Bool { self == .full || self == .first || self == .recyclableFull || self == .recyclableFirst }
    }

    /// The sequence number of the first WriteBatch in the file, or `nil` when the file is empty, torn before its
    /// first record is whole, or not a log file.
    static func firstSequence(ofFileAt path: String) -> UInt64? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: blockSize) else { return nil }
        return firstSequence(inFirstBlock: Array(data))
    }

    /// The first block's first WriteBatch sequence number; never traps on any input.
    static func firstSequence(inFirstBlock block: [UInt8]) -> UInt64? {
        var offset = 0
        while block.count - offset >= 7 {
            let length = Int(block[offset + 4]) | Int(block[offset + 5]) << 8
            let rawType = block[offset + 6]
            // Metadata records (compression type, timestamp sizes) use types above 8: skip them.
            guard let type = RecordType(rawValue: rawType) else {
                guard rawType >= 9 else { return nil }
                offset += 7 + length
                continue
            }
            if type == .zero {
                // Preallocated or padded space: nothing was written here.
                return nil
            }
            let payloadStart = offset + type.headerSize
            guard type.startsRecord, payloadStart + length <= block.count, length >= 12 else { return nil }
            var sequence: UInt64 = 0
            for index in 0..<8 { sequence |= UInt64(block[payloadStart + index]) << (8 * index) }
            return sequence
        }
        return nil
    }
}
