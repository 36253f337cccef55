import CRocksDB
import Testing

@testable import KumoKV

@Suite("WriteBatch wire format")
struct WriteBatchFormatTests {
    /// A batch built by hand from the format description: sequence 0x0102030405060708, count 3,
    /// Put(default "k" -> "v"), Delete(cf 2, "ab"), DeleteRange(cf 300, "a" .. "z").
    static let vector: [UInt8] = [
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // sequence, little-endian
        0x03, 0x00, 0x00, 0x00,  // count
        0x01, 0x01, 0x6B, 0x01, 0x76,  // kTypeValue, "k", "v"
        0x04, 0x02, 0x02, 0x61, 0x62,  // kTypeColumnFamilyDeletion, cf 2, "ab"
        0x0E, 0xAC, 0x02, 0x01, 0x61, 0x01, 0x7A,  // kTypeColumnFamilyRangeDeletion, cf 300 (varint ac 02), "a", "z"
    ]

    @Test func decodesAFixedVector() throws {
        let decoded = try WriteBatchFormat.decode(Self.vector)
        #expect(decoded.sequenceNumber == 0x0102_0304_0506_0708)
        #expect(decoded.count == 3)
        #expect(decoded.records == [
            .init(columnFamilyID: 0, operation: .put, key: [0x6B], value: [0x76]),
            .init(columnFamilyID: 2, operation: .delete, key: [0x61, 0x62]),
            .init(columnFamilyID: 300, operation: .deleteRange, key: [0x61], endKey: [0x7A]),
        ])
    }

    @Test func encodesTheSameVector() throws {
        var encoded = WriteBatchFormat.encode(try WriteBatchFormat.decode(Self.vector).records)
        #expect(Array(encoded[8..<12]) == [0x03, 0x00, 0x00, 0x00])
        encoded.replaceSubrange(0..<8, with: Self.vector[0..<8])
        #expect(encoded == Self.vector)
    }

    @Test func skipsMarkersThatAreNotChanges() throws {
        let bytes: [UInt8] = [
            0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
            0x03, 0x02, 0x68, 0x69,  // LogData "hi"
            0x0D,  // Noop
            0x07, 0x01, 0x6B,  // SingleDeletion "k"
            0x06, 0x05, 0x01, 0x6D, 0x01, 0x2B,  // ColumnFamilyMerge cf 5 "m" "+"
        ]
        let decoded = try WriteBatchFormat.decode(bytes)
        #expect(decoded.records == [
            .init(columnFamilyID: 0, operation: .singleDelete, key: [0x6B]),
            .init(columnFamilyID: 5, operation: .merge, key: [0x6D], value: [0x2B]),
        ])
    }

    @Test(arguments: [
        ([UInt8](repeating: 0, count: 11), 0),  // shorter than the header
        ([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x01, 0x05, 0x61], 13),  // key length runs past the end
        ([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x42], 12),  // unknown tag
        ([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], 13),  // varint too long
    ])
    func rejectsMalformedBatches(bytes: [UInt8], offset: Int) {
        #expect(throws: WriteBatchFormat.DecodingError.self) { try WriteBatchFormat.decode(bytes) }
        do {
            _ = try WriteBatchFormat.decode(bytes)
        } catch {
            #expect(error.offset == offset)
        }
    }

    /// RocksDB's own WriteBatch (built with its C API) decodes to the operations put into it, and our
    /// encoding of those operations is byte-identical to RocksDB's.
    @Test func matchesRocksDBsOwnEncoding() throws {
        let dir = TemporaryDirectory()
        let options = rocksdb_options_create()
        defer { rocksdb_options_destroy(options) }
        rocksdb_options_set_create_if_missing(options, 1)
        var error: UnsafeMutablePointer<CChar>? = nil
        let db = rocksdb_open(options, dir.child("db"), &error)
        #expect(error == nil)
        defer { rocksdb_close(db) }
        let family = rocksdb_create_column_family(db, options, "second", &error)
        defer { rocksdb_column_family_handle_destroy(family) }
        #expect(rocksdb_column_family_handle_get_id(family) == 1)

        let batch = rocksdb_writebatch_create()
        defer { rocksdb_writebatch_destroy(batch) }
        let longValue = [CChar](repeating: 0x41, count: 300)  // a length that needs a two-byte varint
        rocksdb_writebatch_put(batch, "key", 3, "value", 5)
        rocksdb_writebatch_put_cf(batch, family, "k2", 2, longValue, longValue.count)
        rocksdb_writebatch_delete_cf(batch, family, "k3", 2)
        rocksdb_writebatch_delete(batch, "k4", 2)
        rocksdb_writebatch_singledelete(batch, "k5", 2)
        rocksdb_writebatch_delete_range_cf(batch, family, "a", 1, "b", 1)
        rocksdb_writebatch_merge(batch, "m", 1, "+1", 2)
        rocksdb_writebatch_put_log_data(batch, "note", 4)
        var length = 0
        let data = rocksdb_writebatch_data(batch, &length)
        let rocksBytes = [UInt8](UnsafeRawBufferPointer(start: data, count: length))

        let decoded = try WriteBatchFormat.decode(rocksBytes)
        #expect(decoded.count == 7, "log data takes no sequence number")
        let expected: [WriteBatchFormat.Record] = [
            .init(columnFamilyID: 0, operation: .put, key: Array("key".utf8), value: Array("value".utf8)),
            .init(columnFamilyID: 1, operation: .put, key: Array("k2".utf8), value: [UInt8](repeating: 0x41, count: 300)),
            .init(columnFamilyID: 1, operation: .delete, key: Array("k3".utf8)),
            .init(columnFamilyID: 0, operation: .delete, key: Array("k4".utf8)),
            .init(columnFamilyID: 0, operation: .singleDelete, key: Array("k5".utf8)),
            .init(columnFamilyID: 1, operation: .deleteRange, key: Array("a".utf8), endKey: Array("b".utf8)),
            .init(columnFamilyID: 0, operation: .merge, key: Array("m".utf8), value: Array("+1".utf8)),
        ]
        #expect(decoded.records == expected)

        // Without the trailing log-data record RocksDB's bytes and ours are the same.
        let withoutLogData = Array(rocksBytes.dropLast(1 + 1 + 4))
        #expect(WriteBatchFormat.encode(expected) == withoutLogData)

        // The public WriteBatch builds the same bytes for the operations it offers.
        let publicBatch = rocksdb_writebatch_create()
        defer { rocksdb_writebatch_destroy(publicBatch) }
        rocksdb_writebatch_put(publicBatch, "key", 3, "value", 5)
        rocksdb_writebatch_put_cf(publicBatch, family, "k2", 2, longValue, longValue.count)
        rocksdb_writebatch_delete_cf(publicBatch, family, "k3", 2)
        rocksdb_writebatch_delete(publicBatch, "k4", 2)
        rocksdb_writebatch_delete_range_cf(publicBatch, family, "a", 1, "b", 1)
        rocksdb_writebatch_delete_range(publicBatch, "c", 1, "d", 1)
        let publicData = rocksdb_writebatch_data(publicBatch, &length)
        var kumoBatch = WriteBatch()
        kumoBatch.put(Array("key".utf8), Array("value".utf8))
        kumoBatch.put(Array("k2".utf8), [UInt8](repeating: 0x41, count: 300), in: "second")
        kumoBatch.delete(Array("k3".utf8), in: "second")
        kumoBatch.delete(Array("k4".utf8))
        kumoBatch.deleteRange(from: Array("a".utf8), to: Array("b".utf8), in: "second")
        kumoBatch.deleteRange(from: Array("c".utf8), to: Array("d".utf8))
        #expect(kumoBatch.count == 6)
        #expect(kumoBatch.encoded(familyIDs: [1]) == [UInt8](UnsafeRawBufferPointer(start: publicData, count: length)))
        kumoBatch.removeAll(keepingCapacity: true)
        #expect(kumoBatch.isEmpty)
        #expect(kumoBatch.encoded(familyIDs: []) == [UInt8](repeating: 0, count: 12))
    }
}
