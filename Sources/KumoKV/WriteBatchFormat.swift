/// RocksDB's WriteBatch wire format: the bytes stored in every write-ahead log record and returned by
/// `rocksdb_writebatch_data`.
///
/// Layout (db/write_batch.cc): an 8-byte little-endian sequence number, a 4-byte little-endian record
/// count, then records. Each record is a one-byte tag; tags for a non-default column family carry a
/// varint32 column family id next; keys, values and other strings are varint32-length-prefixed.
/// KumoKV decodes these bytes itself because the C API's batch iterator reports only default-column-family
/// puts and deletes.
enum WriteBatchFormat {
    static let headerSize = 12

    /// Record tags (ValueType in db/dbformat.h), as written into WriteBatch data.
    enum Tag: UInt8 {
        case deletion = 0x00
        case value = 0x01
        case merge = 0x02
        case logData = 0x03
        case columnFamilyDeletion = 0x04
        case columnFamilyValue = 0x05
        case columnFamilyMerge = 0x06
        case singleDeletion = 0x07
        case columnFamilySingleDeletion = 0x08
        case beginPrepareXID = 0x09
        case endPrepareXID = 0x0A
        case commitXID = 0x0B
        case rollbackXID = 0x0C
        case noop = 0x0D
        case columnFamilyRangeDeletion = 0x0E
        case rangeDeletion = 0x0F
        case columnFamilyBlobIndex = 0x10
        case blobIndex = 0x11
        case beginPersistedPrepareXID = 0x12
        case beginUnprepareXID = 0x13
        case deletionWithTimestamp = 0x14
        case commitXIDAndTimestamp = 0x15
        case wideColumnEntity = 0x16
        case columnFamilyWideColumnEntity = 0x17
    }

    /// One data record of a batch. Markers (log data, two-phase-commit markers, no-ops) are not records:
    /// they consume no sequence number and change no key.
    struct Record: Equatable, Sendable {
        var columnFamilyID: UInt32
        var operation: ChangeRecord.Operation
        var key: [UInt8]
        var value: [UInt8]?
        var endKey: [UInt8]?
    }

    struct Decoded: Equatable, Sendable {
        var sequenceNumber: UInt64
        /// The header's count: how many sequence numbers the batch consumes.
        var count: UInt32
        var records: [Record]
    }

    struct DecodingError: Error, Equatable, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "malformed WriteBatch at byte \(offset): \(reason)" }
    }

    // MARK: Decoding

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodingError) -> Decoded {
        var reader = Reader(bytes: bytes)
        guard bytes.count >= headerSize else {
            throw DecodingError(offset: 0, reason: "\(bytes.count) bytes is shorter than the 12-byte header")
        }
        let sequence = reader.fixed64()
        let count = reader.fixed32()
        var records: [Record] = []
        records.reserveCapacity(Int(min(count, 1 << 16)))
        while !reader.isAtEnd {
            let tagOffset = reader.offset
            let rawTag = reader.byte()
            guard let tag = Tag(rawValue: rawTag) else {
                throw DecodingError(offset: tagOffset, reason: "unknown record tag 0x\(String(rawTag, radix: 16))")
            }
            switch tag {
            case .value, .columnFamilyValue:
                let cf = try tag == .columnFamilyValue ? reader.varint32() : 0
                records.append(Record(columnFamilyID: cf, operation: .put, key: try reader.string(), value: try reader.string()))
            case .merge, .columnFamilyMerge:
                let cf = try tag == .columnFamilyMerge ? reader.varint32() : 0
                records.append(Record(columnFamilyID: cf, operation: .merge, key: try reader.string(), value: try reader.string()))
            case .deletion, .columnFamilyDeletion, .deletionWithTimestamp:
                let cf = try tag == .columnFamilyDeletion ? reader.varint32() : 0
                records.append(Record(columnFamilyID: cf, operation: .delete, key: try reader.string()))
            case .singleDeletion, .columnFamilySingleDeletion:
                let cf = try tag == .columnFamilySingleDeletion ? reader.varint32() : 0
                records.append(Record(columnFamilyID: cf, operation: .singleDelete, key: try reader.string()))
            case .rangeDeletion, .columnFamilyRangeDeletion:
                let cf = try tag == .columnFamilyRangeDeletion ? reader.varint32() : 0
                records.append(Record(columnFamilyID: cf, operation: .deleteRange, key: try reader.string(), endKey: try reader.string()))
            case .blobIndex, .columnFamilyBlobIndex:
                let cf = try tag == .columnFamilyBlobIndex ? reader.varint32() : 0
                records.append(Record(columnFamilyID: cf, operation: .blobIndex, key: try reader.string(), value: try reader.string()))
            case .wideColumnEntity, .columnFamilyWideColumnEntity:
                let cf = try tag == .columnFamilyWideColumnEntity ? reader.varint32() : 0
                records.append(Record(columnFamilyID: cf, operation: .putEntity, key: try reader.string(), value: try reader.string()))
            case .logData, .endPrepareXID, .commitXID, .rollbackXID:
                _ = try reader.string()
            case .commitXIDAndTimestamp:
                _ = try reader.string()
                _ = try reader.string()
            case .noop, .beginPrepareXID, .beginPersistedPrepareXID, .beginUnprepareXID:
                break
            }
        }
        return Decoded(sequenceNumber: sequence, count: count, records: records)
    }

    static func decode(_ bytes: [UInt8]) throws(DecodingError) -> Decoded {
        do {
            return try bytes.withUnsafeBytes { buffer in try decode(buffer) }
        } catch let error as DecodingError {
            throw error
        } catch {
            fatalError("unreachable: decode throws only DecodingError")
        }
    }

    // MARK: Encoding

    /// Encodes records into a WriteBatch with sequence number 0 (RocksDB assigns it on write).
    static func encode(_ records: some Collection<Record>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + records.reduce(0) { $0 + 12 + $1.key.count + ($1.value?.count ?? 0) + ($1.endKey?.count ?? 0) })
        appendFixed64(0, to: &out)
        appendFixed32(UInt32(records.count), to: &out)
        for record in records {
            append(record, to: &out)
        }
        return out
    }

    static func append(_ record: Record, to out: inout [UInt8]) {
        let isDefault = record.columnFamilyID == 0
        let tag: Tag
        switch record.operation {
        case .put: tag = isDefault ? .value : .columnFamilyValue
        case .merge: tag = isDefault ? .merge : .columnFamilyMerge
        case .delete: tag = isDefault ? .deletion : .columnFamilyDeletion
        case .singleDelete: tag = isDefault ? .singleDeletion : .columnFamilySingleDeletion
        case .deleteRange: tag = isDefault ? .rangeDeletion : .columnFamilyRangeDeletion
        case .blobIndex: tag = isDefault ? .blobIndex : .columnFamilyBlobIndex
        case .putEntity: tag = isDefault ? .wideColumnEntity : .columnFamilyWideColumnEntity
        }
        out.append(tag.rawValue)
        if !isDefault { appendVarint32(record.columnFamilyID, to: &out) }
        appendString(record.key, to: &out)
        switch record.operation {
        case .put, .merge, .blobIndex, .putEntity: appendString(record.value ?? [], to: &out)
        case .deleteRange: appendString(record.endKey ?? [], to: &out)
        case .delete, .singleDelete: break
        }
    }

    static func appendFixed64(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func appendFixed32(_ value: UInt32, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func appendVarint32(_ value: UInt32, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func appendString(_ bytes: [UInt8], to out: inout [UInt8]) {
        appendVarint32(UInt32(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    // MARK: Reader

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        var isAtEnd: Bool { offset >= bytes.count }

        mutating func byte() -> UInt8 {
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func fixed64() -> UInt64 {
            defer { offset += 8 }
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }

        mutating func fixed32() -> UInt32 {
            defer { offset += 4 }
            return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }

        mutating func varint32() throws(DecodingError) -> UInt32 {
            let start = offset
            var result: UInt32 = 0
            var shift: UInt32 = 0
            while shift <= 28 {
                guard offset < bytes.count else {
                    throw DecodingError(offset: start, reason: "varint runs past the end of the batch")
                }
                let b = bytes[offset]
                offset += 1
                result |= UInt32(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
            throw DecodingError(offset: start, reason: "varint32 longer than 5 bytes")
        }

        mutating func string() throws(DecodingError) -> [UInt8] {
            let lengthOffset = offset
            let length = Int(try varint32())
            guard length <= bytes.count - offset else {
                throw DecodingError(
                    offset: lengthOffset,
                    reason: "length \(length) runs past the end of the batch (\(bytes.count - offset) bytes left)"
                )
            }
            defer { offset += length }
            return Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
        }
    }
}
