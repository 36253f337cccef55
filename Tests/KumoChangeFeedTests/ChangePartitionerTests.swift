import Foundation
import Testing

@testable import KumoChangeFeed

@Suite("Partitioning by key")
struct ChangePartitionerTests {
    @Test func fnv1aMatchesPublishedVectors() {
        // From the FNV reference: the 64-bit FNV-1a of "", "a" and "foobar".
        #expect(ChangePartitioner.fnv1a([][...]) == 0xcbf2_9ce4_8422_2325)
        #expect(ChangePartitioner.fnv1a(Array("a".utf8)[...]) == 0xaf63_dc4c_8601_ec8c)
        #expect(ChangePartitioner.fnv1a(Array("foobar".utf8)[...]) == 0x8594_4171_f739_67e8)
    }

    @Test func strategiesPickTheDocumentedBytes() {
        let key = Array("user/42/orders/7".utf8)
        #expect(Array(PartitionKeyStrategy.wholeKey.partitionKey(of: key)) == key)
        #expect(Array(PartitionKeyStrategy.prefix(length: 7).partitionKey(of: key)) == Array("user/42".utf8))
        #expect(Array(PartitionKeyStrategy.prefix(length: 99).partitionKey(of: key)) == key)
        #expect(Array(PartitionKeyStrategy.separator(UInt8(ascii: "/")).partitionKey(of: key)) == Array("user".utf8))
        #expect(Array(PartitionKeyStrategy.separator(0).partitionKey(of: key)) == key)
    }

    @Test func keysSharingAPrefixShareAPartition() {
        let partitioner = ChangePartitioner(strategy: .prefix(length: 7), partitionIDs: ["0", "1", "2", "3"])
        let first = partitioner.partitionID(for: Array("user/42/a".utf8))
        for suffix in ["b", "orders/1", "zzzz", ""] {
            #expect(partitioner.partitionID(for: Array("user/42/\(suffix)".utf8)) == first)
        }
        // Different entities spread over the partitions.
        let used = Set((0..<200).map { partitioner.partitionID(for: Array("user/\(String(format: "%02d", $0 % 100))/x".utf8)) })
        #expect(used.count == 4)
    }

    @Test(arguments: [
        ("whole", PartitionKeyStrategy.wholeKey), ("prefix:8", .prefix(length: 8)),
        ("separator:/", .separator(UInt8(ascii: "/"))), ("separator:0x00", .separator(0)),
    ])
    func parsesOperatorSpellings(text: String, expected: PartitionKeyStrategy) throws {
        #expect(try PartitionKeyStrategy(parsing: text) == expected)
        #expect(try PartitionKeyStrategy(parsing: expected.description) == expected)
    }

    @Test(arguments: ["", "prefix:0", "prefix:-1", "prefix:x", "separator:", "separator:ab", "separator:0xZZ", "hash"])
    func refusesBadSpellingsByName(text: String) {
        #expect { try PartitionKeyStrategy(parsing: text) } throws: { error in
            (error as? ChangeFeedError)?.code == .invalidArgument && "\(error)".contains("partition key \"\(text)\"")
        }
    }

    @Test func columnFamilyFilters() {
        #expect(ColumnFamilyFilter.all.includes(nil))
        #expect(ColumnFamilyFilter.only(["a"]).includes("a"))
        #expect(!ColumnFamilyFilter.only(["a"]).includes("b"))
        #expect(!ColumnFamilyFilter.only(["a"]).includes(nil))
        #expect(!ColumnFamilyFilter.excluding(["a"]).includes("a"))
        #expect(ColumnFamilyFilter.excluding(["a"]).includes(nil))
    }

    @Test func startPositions() throws {
        #expect(try ChangeFeedStart(parsing: "earliest") == .earliest)
        #expect(try ChangeFeedStart(parsing: "latest") == .latest)
        #expect(try ChangeFeedStart(parsing: "1234") == .sequence(1234))
        #expect(throws: ChangeFeedError.self) { try ChangeFeedStart(parsing: "0") }
        #expect(throws: ChangeFeedError.self) { try ChangeFeedStart(parsing: "soon") }
    }
}
