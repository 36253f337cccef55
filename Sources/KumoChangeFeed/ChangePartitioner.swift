import Foundation

/// Which part of a key decides its partition. Every change to one partition key goes to one partition, in order.
public enum PartitionKeyStrategy: Sendable, Hashable, CustomStringConvertible {
    /// The whole key.
    case wholeKey
    /// The first `length` bytes (the whole key when shorter): matches the fixed-length key prefixes Kumo
    /// recommends, so that the changes of one entity (`user/42/…`) stay in order together.
    case prefix(length: Int)
    /// The bytes before the first `separator` (the whole key when it has none).
    case separator(UInt8)

    /// Parses `whole`, `prefix:N` or `separator:C` (one ASCII character, or `0xNN`).
    public init(parsing text: String) throws {
        if text == "whole" {
            self = .wholeKey
        } else if text.hasPrefix("prefix:"), let length = Int(text.dropFirst(7)), length > 0 {
            self = .prefix(length: length)
        } else if text.hasPrefix("separator:") {
            let rest = text.dropFirst(10)
            if rest.count == 1, let byte = rest.utf8.first, byte < 0x80 {
                self = .separator(byte)
            } else if rest.hasPrefix("0x"), rest.count == 4, let byte = UInt8(rest.dropFirst(2), radix: 16) {
                self = .separator(byte)
            } else {
                throw ChangeFeedError(.invalidArgument, "partition key \"\(text)\": separator must be one ASCII character or 0xNN")
            }
        } else {
            throw ChangeFeedError(.invalidArgument, "partition key \"\(text)\": expected whole, prefix:N (N > 0) or separator:C")
        }
    }

    public var description: String {
        switch self {
        case .wholeKey: "whole"
        case .prefix(let length): "prefix:\(length)"
        case .separator(let byte):
            byte >= 0x21 && byte < 0x7F ? "separator:\(Character(Unicode.Scalar(byte)))" : "separator:0x" + String(format: "%02x", byte)
        }
    }

    /// The bytes of `key` that pick its partition.
    public func partitionKey(of key: [UInt8]) -> ArraySlice<UInt8> {
        switch self {
        case .wholeKey: key[...]
        case .prefix(let length): key.prefix(length)
        case .separator(let byte): key.firstIndex(of: byte).map { key[..<$0] } ?? key[...]
        }
    }
}

/// Maps keys to the hub's partitions: FNV-1a (64-bit) of the partition key, modulo the partition count. Stable across
/// processes and releases, so a restarted feed sends a key to the same partition as before — as long as the hub's
/// partition count does not change.
public struct ChangePartitioner: Sendable {
    public let strategy: PartitionKeyStrategy
    public let partitionIDs: [String]

    public init(strategy: PartitionKeyStrategy, partitionIDs: [String]) {
        precondition(!partitionIDs.isEmpty, "an event hub has at least one partition")
        self.strategy = strategy
        self.partitionIDs = partitionIDs
    }

    /// The index into ``partitionIDs`` for a key.
    public func partitionIndex(for key: [UInt8]) -> Int {
        Int(Self.fnv1a(strategy.partitionKey(of: key)) % UInt64(partitionIDs.count))
    }

    public func partitionID(for key: [UInt8]) -> String { partitionIDs[partitionIndex(for: key)] }

    static func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// The column families whose changes the feed publishes.
public enum ColumnFamilyFilter: Sendable, Hashable, CustomStringConvertible {
    case all
    /// Only these. A dropped family whose name the store no longer knows never matches.
    case only(Set<String>)
    /// All but these. A dropped family whose name the store no longer knows is published (by its id).
    case excluding(Set<String>)

    public func includes(_ name: String?) -> Bool {
        switch self {
        case .all: true
        case .only(let names): name.map(names.contains) ?? false
        case .excluding(let names): name.map { !names.contains($0) } ?? true
        }
    }

    public var description: String {
        switch self {
        case .all: "all"
        case .only(let names): "only " + names.sorted().joined(separator: ",")
        case .excluding(let names): "all but " + names.sorted().joined(separator: ",")
        }
    }
}
