/// A column family name. RocksDB keeps each column family in its own set of SST files and memtables.
public struct ColumnFamily: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let name: String

    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }

    /// The column family every RocksDB database has.
    public static let `default` = ColumnFamily("default")

    public var description: String { name }
}

/// A key and its value, as read by a scan.
public struct KeyValue: Hashable, Sendable {
    public var key: [UInt8]
    public var value: [UInt8]

    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// A half-open key range `[lower, upper)` in RocksDB's byte-wise order. A `nil` bound is unbounded.
public struct KeyRange: Hashable, Sendable {
    public var lower: [UInt8]?
    public var upper: [UInt8]?

    public init(lower: [UInt8]? = nil, upper: [UInt8]? = nil) {
        self.lower = lower
        self.upper = upper
    }

    /// Every key.
    public static let all = KeyRange()

    /// Every key that starts with `prefix`.
    public static func prefix(_ prefix: [UInt8]) -> KeyRange {
        KeyRange(lower: prefix, upper: prefixSuccessor(prefix))
    }

    /// The smallest key greater than every key with this prefix, or `nil` when there is none (all 0xFF).
    static func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return nil
    }

    /// Whether `key` lies in the range.
    public func contains(_ key: [UInt8]) -> Bool {
        if let lower, key.lexicographicallyPrecedes(lower) { return false }
        if let upper, !key.lexicographicallyPrecedes(upper) { return false }
        return true
    }
}

/// One change read back from the write-ahead log by ``Store/changes(since:)``.
public struct ChangeRecord: Hashable, Sendable {
    public enum Operation: String, Sendable, Hashable, Codable {
        case put
        case delete
        /// RocksDB's SingleDelete: removes a key written at most once since the last delete.
        case singleDelete
        /// Deletes every key in `[key, endKey)`.
        case deleteRange
        case merge
        /// A value stored in a blob file (BlobDB); `value` holds RocksDB's blob index, not the value.
        case blobIndex
        /// A wide-column entity; `value` holds RocksDB's serialized columns.
        case putEntity
    }

    /// The sequence number RocksDB assigned to this record.
    public var sequenceNumber: UInt64
    /// The column family's numeric id (0 is `default`).
    public var columnFamilyID: UInt32
    /// The column family's name, when the store knows the id (a dropped family's name may be unknown).
    public var columnFamily: String?
    public var operation: Operation
    public var key: [UInt8]
    /// The value of a put or merge.
    public var value: [UInt8]?
    /// The exclusive end of a range deletion.
    public var endKey: [UInt8]?
    /// The sequence number of the write batch this record belongs to (its first record's). Records sharing it
    /// were written atomically.
    public var batchSequenceNumber: UInt64
    /// How many records the write batch holds; this record is number `sequenceNumber - batchSequenceNumber`.
    public var batchSize: Int

    public init(
        sequenceNumber: UInt64,
        columnFamilyID: UInt32,
        columnFamily: String?,
        operation: Operation,
        key: [UInt8],
        value: [UInt8]? = nil,
        endKey: [UInt8]? = nil,
        batchSequenceNumber: UInt64? = nil,
        batchSize: Int = 1
    ) {
        self.batchSequenceNumber = batchSequenceNumber ?? sequenceNumber
        self.batchSize = batchSize
        self.sequenceNumber = sequenceNumber
        self.columnFamilyID = columnFamilyID
        self.columnFamily = columnFamily
        self.operation = operation
        self.key = key
        self.value = value
        self.endKey = endKey
    }
}

/// A group of writes applied atomically, across any column families, by ``Store/write(_:options:)``.
///
/// The batch is kept in RocksDB's own WriteBatch encoding as operations are added, so writing it costs one
/// copy. Column families are named, not resolved, until the batch is written: the numeric id RocksDB wants
/// after each non-default record's tag is inserted then.
public struct WriteBatch: Sendable, Equatable {
    /// RocksDB WriteBatch bytes, without the column family ids of non-default records.
    private(set) var rep: [UInt8]
    /// The non-default column families the batch names, in first-use order.
    private(set) var families: [ColumnFamily] = []
    /// Where each non-default record's column family id belongs in `rep` (just after its tag byte).
    private(set) var familyInsertions: [(offset: Int, family: Int)] = []
    public private(set) var count = 0

    public init() {
        rep = [UInt8](repeating: 0, count: WriteBatchFormat.headerSize)
    }

    public var isEmpty: Bool { count == 0 }

    public mutating func put(_ key: [UInt8], _ value: [UInt8], in family: ColumnFamily = .default) {
        appendTag(family, defaultTag: .value, familyTag: .columnFamilyValue)
        WriteBatchFormat.appendString(key, to: &rep)
        WriteBatchFormat.appendString(value, to: &rep)
    }

    public mutating func delete(_ key: [UInt8], in family: ColumnFamily = .default) {
        appendTag(family, defaultTag: .deletion, familyTag: .columnFamilyDeletion)
        WriteBatchFormat.appendString(key, to: &rep)
    }

    /// Deletes every key in `[start, end)`.
    public mutating func deleteRange(from start: [UInt8], to end: [UInt8], in family: ColumnFamily = .default) {
        appendTag(family, defaultTag: .rangeDeletion, familyTag: .columnFamilyRangeDeletion)
        WriteBatchFormat.appendString(start, to: &rep)
        WriteBatchFormat.appendString(end, to: &rep)
    }

    public mutating func removeAll(keepingCapacity: Bool = false) {
        if keepingCapacity {
            rep.removeLast(rep.count - WriteBatchFormat.headerSize)
        } else {
            rep = [UInt8](repeating: 0, count: WriteBatchFormat.headerSize)
        }
        families.removeAll(keepingCapacity: keepingCapacity)
        familyInsertions.removeAll(keepingCapacity: keepingCapacity)
        count = 0
    }

    private mutating func appendTag(_ family: ColumnFamily, defaultTag: WriteBatchFormat.Tag, familyTag: WriteBatchFormat.Tag) {
        count += 1
        if family.name == ColumnFamily.default.name {
            rep.append(defaultTag.rawValue)
            return
        }
        rep.append(familyTag.rawValue)
        let index: Int
        if let known = families.firstIndex(of: family) {
            index = known
        } else {
            index = families.count
            families.append(family)
        }
        familyInsertions.append((rep.count, index))
    }

    /// The complete RocksDB encoding, given the ids of ``families`` in the same order.
    func encoded(familyIDs: [UInt32]) -> [UInt8] {
        var out: [UInt8]
        if familyInsertions.isEmpty {
            out = rep
        } else {
            out = []
            out.reserveCapacity(rep.count + familyInsertions.count * 5)
            var copied = 0
            for (offset, family) in familyInsertions {
                out.append(contentsOf: rep[copied..<offset])
                WriteBatchFormat.appendVarint32(familyIDs[family], to: &out)
                copied = offset
            }
            out.append(contentsOf: rep[copied...])
        }
        out.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(count).littleEndian, toByteOffset: 8, as: UInt32.self) }
        return out
    }

    public static func == (lhs: WriteBatch, rhs: WriteBatch) -> Bool {
        lhs.rep == rhs.rep && lhs.families == rhs.families && lhs.count == rhs.count
            && lhs.familyInsertions.elementsEqual(rhs.familyInsertions) { $0 == $1 }
    }
}
