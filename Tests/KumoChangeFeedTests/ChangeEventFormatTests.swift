import Foundation
import Testing

@testable import KumoChangeFeed

@Suite("Change events: CloudEvents JSON")
struct ChangeEventFormatTests {
    let time = Date(timeIntervalSince1970: 1_764_900_000.123)

    func event(_ kind: ChangeEvent.Kind = .put, key: [UInt8] = Array("user/1".utf8), data: [UInt8]? = Array("v".utf8)) -> ChangeEvent {
        ChangeEvent(
            storeID: "1f6c1b2e-0000-4000-8000-000000000001", kind: kind, sequenceNumber: 42, batchSequenceNumber: 41,
            batchSize: 3, columnFamilyID: 2, columnFamily: "users", key: key, data: data, time: time)
    }

    @Test func writesTheDocumentedAttributesInOrder() throws {
        let text = String(decoding: ChangeEventFormat.encode(event()), as: UTF8.self)
        #expect(text == #"{"specversion":"1.0","id":"1f6c1b2e-0000-4000-8000-000000000001:41:1","source":"kumo://stores/1f6c1b2e-0000-4000-8000-000000000001","type":"kumo.kv.put","subject":"user/1","time":"2025-12-05T02:00:00.123Z","datacontenttype":"application/octet-stream","kumocf":"users","kumocfid":2,"kumoseq":"42","kumobatchseq":"41","kumobatchsize":3,"kumokey":"dXNlci8x","data_base64":"dg=="}"#)
    }

    @Test(arguments: ChangeEvent.Kind.allCases)
    func everyKindRoundTrips(kind: ChangeEvent.Kind) throws {
        var original = event(kind, data: kind == .delete || kind == .singleDelete || kind == .deleteRange ? nil : [0, 1, 2, 255])
        if kind == .deleteRange { original.endKey = Array("user/9".utf8) }
        let decoded = try ChangeEventFormat.decode(ChangeEventFormat.encode(original))
        #expect(sameEvent(decoded, original))
        #expect(decoded.id == original.id)
    }

    @Test func aKeyThatIsNotUTF8KeepsItsBytesAndGetsAPrintableSubject() throws {
        let key: [UInt8] = [0xFF, 0x00, 0x25, 0x41, 0x0A, 0xC3]
        let original = event(key: key)
        #expect(original.subject == "%FF%00%25A%0A%C3")
        #expect(ChangeEvent.keyFromSubject(original.subject) == key)
        let decoded = try ChangeEventFormat.decode(ChangeEventFormat.encode(original))
        #expect(decoded.key == key)
        #expect(decoded.subject == original.subject)
    }

    @Test func partsCarryTheirNumberAndTheWholeSize() throws {
        var original = event()
        original.part = ChangeEvent.Part(number: 2, count: 3, valueSize: 2_000_000)
        #expect(original.id.hasSuffix(":41:1:p2"))
        #expect(sameEvent(try ChangeEventFormat.decode(ChangeEventFormat.encode(original)), original))
    }

    @Test func controlCharactersInNamesAreEscaped() throws {
        var original = event()
        original.columnFamily = "a\"b\\c\u{01}"
        let bytes = ChangeEventFormat.encode(original)
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""kumocf":"a\"b\\c\u0001""#))
        #expect(sameEvent(try ChangeEventFormat.decode(bytes), original))
    }

    /// Damaged and hostile bodies: each one is refused with a message naming what is wrong.
    @Test(arguments: [
        ("", "not JSON"),
        ("[1,2]", "not a JSON object"),
        (#"{"specversion":"0.3"}"#, "specversion \"0.3\" is not 1.0"),
        (#"{"specversion":"1.0","type":"other"}"#, "type \"other\" is not a Kumo change"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"http://x"}"#, "source \"http://x\" is not kumo://stores/<id>"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":7}"#, "kumoseq: expected a string"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"-1"}"#, "kumoseq: expected a decimal sequence number"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"9","kumobatchseq":"5","kumobatchsize":2}"#, "kumoseq 9 is not inside the batch of 2 at kumobatchseq 5"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"5","kumobatchseq":"5","kumobatchsize":1e12}"#, "kumobatchsize: expected a 32-bit integer"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"5","kumobatchseq":"5","kumobatchsize":true}"#, "kumobatchsize: expected a number"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"5","kumobatchseq":"5","kumobatchsize":1.5}"#, "kumobatchsize: expected a 32-bit integer"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"5","kumobatchseq":"5","kumobatchsize":1,"kumocfid":0,"kumokey":"!!"}"#, "kumokey: not base64"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"5","kumobatchseq":"5","kumobatchsize":1,"kumocfid":0,"kumokey":"","time":"yesterday"}"#, "time \"yesterday\" is not an RFC 3339 timestamp"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"5","kumobatchseq":"5","kumobatchsize":1,"kumocfid":0,"kumokey":"","time":"2026-01-01T00:00:00Z","kumopart":3,"kumoparts":2,"kumovaluesize":1}"#, "kumopart 3 of kumoparts 2"),
        (#"{"specversion":"1.0","type":"kumo.kv.put","source":"kumo://stores/s","kumoseq":"5","kumobatchseq":"5","kumobatchsize":1,"kumocfid":0,"kumokey":"","time":"2026-01-01T00:00:00Z","id":"s:5:1"}"#, "id \"s:5:1\" does not match its store, batch and index (s:5:0)"),
    ])
    func damagedBodiesAreRefusedByName(body: String, expected: String) {
        do {
            _ = try ChangeEventFormat.decode(Array(body.utf8))
            Issue.record("accepted \(body)")
        } catch let error as ChangeFeedError {
            #expect(error.code == .malformedEvent)
            #expect(error.message.contains(expected), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// Random events round-trip; random damage to their bytes never traps (it decodes or is refused).
    @Test func randomEventsRoundTripAndMutationsNeverTrap() throws {
        var random = SeededRandom(seed: 0x6b75_6d6f)
        for _ in 0..<500 {
            let kind = ChangeEvent.Kind.allCases.randomElement(using: &random)!
            let batchSize = Int.random(in: 1...5, using: &random)
            let batchSequence = UInt64.random(in: 1...(UInt64.max / 2), using: &random)
            var original = ChangeEvent(
                storeID: "store-\(UInt32.random(in: 0...UInt32.max, using: &random))", kind: kind,
                sequenceNumber: batchSequence + UInt64.random(in: 0..<UInt64(batchSize), using: &random),
                batchSequenceNumber: batchSequence, batchSize: batchSize,
                columnFamilyID: UInt32.random(in: 0...100, using: &random),
                columnFamily: Bool.random(using: &random) ? nil : String(repeating: "c", count: Int.random(in: 1...8, using: &random)),
                key: (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) },
                data: Bool.random(using: &random) ? nil : (0..<Int.random(in: 0...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) },
                time: Date(timeIntervalSince1970: Double(Int.random(in: 0...4_000_000_000_000, using: &random)) / 1000))
            if kind == .deleteRange { original.endKey = [UInt8.random(in: 0...255, using: &random)] }
            let bytes = ChangeEventFormat.encode(original)
            #expect(sameEvent(try ChangeEventFormat.decode(bytes), original))
            for _ in 0..<10 {
                var damaged = bytes
                switch Int.random(in: 0..<3, using: &random) {
                case 0: damaged[Int.random(in: 0..<damaged.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1: damaged.removeLast(Int.random(in: 1...damaged.count, using: &random))
                default: damaged.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...damaged.count, using: &random))
                }
                do { _ = try ChangeEventFormat.decode(damaged) } catch is ChangeFeedError {} catch {
                    Issue.record("a damaged event threw \(error), not a ChangeFeedError")
                }
            }
        }
    }
}

/// Equal but for the time, which travels in milliseconds.
func sameEvent(_ decoded: ChangeEvent, _ original: ChangeEvent) -> Bool {
    var decoded = decoded
    let close = abs(decoded.time.timeIntervalSince(original.time)) < 0.001
    decoded.time = original.time
    return close && decoded == original
}

/// SplitMix64: reproducible randomness for property tests.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Change events: base64")
struct ChangeEventBase64Tests {
    /// RFC 4648 section 10's vectors, and every length up to 64 against Foundation's encoder.
    @Test func matchesTheRFCVectorsAndFoundation() throws {
        func encoded(_ bytes: [UInt8]) -> String {
            var writer = JSONWriter(capacity: 64)
            writer.begin()
            writer.base64("v", bytes)
            writer.end()
            let text = String(decoding: writer.bytes, as: UTF8.self)
            return String(text.dropFirst(6).dropLast(2))
        }
        for (plain, expected) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            #expect(encoded(Array(plain.utf8)) == expected)
        }
        var random = SeededRandom(seed: 64)
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(encoded(bytes) == Data(bytes).base64EncodedString())
        }
    }
}
