import Foundation
import KumoKV

/// One change to a store, as the feed publishes it: a CloudEvents 1.0 event (structured mode, JSON), one per
/// record of a write batch (or several for a value larger than an event may hold: see ``part``).
///
/// The wire form is ``ChangeEventFormat``; docs/changefeed.md describes every attribute for consumers.
public struct ChangeEvent: Sendable, Hashable {
    /// The CloudEvents `type` of each kind of change.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case put = "kumo.kv.put"
        case delete = "kumo.kv.delete"
        case singleDelete = "kumo.kv.singledelete"
        case deleteRange = "kumo.kv.deleterange"
        case merge = "kumo.kv.merge"
        case blobIndex = "kumo.kv.blobindex"
        case putEntity = "kumo.kv.putentity"

        public init(_ operation: ChangeRecord.Operation) {
            switch operation {
            case .put: self = .put
            case .delete: self = .delete
            case .singleDelete: self = .singleDelete
            case .deleteRange: self = .deleteRange
            case .merge: self = .merge
            case .blobIndex: self = .blobIndex
            case .putEntity: self = .putEntity
            }
        }
    }

    /// Which piece of a value split over several events this is.
    public struct Part: Sendable, Hashable {
        /// 1-based.
        public var number: Int
        public var count: Int
        /// The whole value's length in bytes.
        public var valueSize: Int
        public init(number: Int, count: Int, valueSize: Int) {
            self.number = number
            self.count = count
            self.valueSize = valueSize
        }
    }

    /// The store's identity (RocksDB's `IDENTITY`).
    public var storeID: String
    public var kind: Kind
    /// The record's own sequence number.
    public var sequenceNumber: UInt64
    /// The sequence number of the write batch the record belongs to; records sharing it were written atomically.
    public var batchSequenceNumber: UInt64
    /// How many records that write batch holds.
    public var batchSize: Int
    public var columnFamilyID: UInt32
    /// `nil` when the column family was dropped before the feed read the record.
    public var columnFamily: String?
    public var key: [UInt8]
    /// The exclusive end of a range deletion.
    public var endKey: [UInt8]?
    /// The value of a put, the operand of a merge, or one piece of either (see ``part``); `nil` for deletions.
    public var data: [UInt8]?
    /// Set when the value was split over several events.
    public var part: Part?
    /// When the feed read the record from the write-ahead log (RocksDB does not record write times).
    public var time: Date

    public init(
        storeID: String, kind: Kind, sequenceNumber: UInt64, batchSequenceNumber: UInt64, batchSize: Int,
        columnFamilyID: UInt32, columnFamily: String?, key: [UInt8], endKey: [UInt8]? = nil, data: [UInt8]? = nil,
        part: Part? = nil, time: Date
    ) {
        self.storeID = storeID
        self.kind = kind
        self.sequenceNumber = sequenceNumber
        self.batchSequenceNumber = batchSequenceNumber
        self.batchSize = batchSize
        self.columnFamilyID = columnFamilyID
        self.columnFamily = columnFamily
        self.key = key
        self.endKey = endKey
        self.data = data
        self.part = part
        self.time = time
    }

    /// The record's position in its write batch, from 0.
    public var batchIndex: Int { Int(sequenceNumber - batchSequenceNumber) }

    /// `<store id>:<batch sequence>:<index in batch>`, with `:p<n>` for a value's n-th part: unique per store and
    /// the same every time the record is published, so a consumer can drop duplicates by it.
    public var id: String {
        var id = "\(storeID):\(batchSequenceNumber):\(batchIndex)"
        if let part { id += ":p\(part.number)" }
        return id
    }

    /// `kumo://stores/<store id>`.
    public var source: String { "kumo://stores/\(storeID)" }

    /// The key as printable text: bytes outside printable ASCII, and `%` itself, as `%XX`. Reversible with
    /// ``keyFromSubject(_:)``.
    public var subject: String { Self.printable(key) }

    /// Bytes as printable text: printable ASCII as is, everything else (and `%`) as `%XX`.
    public static func printable(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count)
        for byte in bytes {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                text.append(byte)
            } else {
                text.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The key bytes a ``subject`` stands for, or `nil` when it is not one.
    public static func keyFromSubject(_ subject: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var iterator = subject.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                guard byte >= 0x20 && byte <= 0x7E else { return nil }
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
