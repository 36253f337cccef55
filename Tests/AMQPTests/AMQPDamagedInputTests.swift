import AMQP
import NIOCore
import Testing

/// A damaged input and the words its error must contain.
struct DamagedVector: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: String
    let message: String

    init(_ name: String, _ bytes: String, _ message: String) {
        self.name = name
        self.bytes = bytes
        self.message = message
    }

    var testDescription: String { name }
}

let damagedVectors: [DamagedVector] = [
    DamagedVector("empty input", "", "expected a constructor, found end of data"),
    DamagedVector("reserved constructor", "ff", "unknown constructor 0xff"),
    DamagedVector("reserved constructor 0x57", "57 00", "unknown constructor 0x57"),
    DamagedVector("boolean byte 2", "56 02", "boolean byte is 0x2, not 0x00 or 0x01"),
    DamagedVector("uint cut short", "70 00 00", "uint needs 4 bytes but 2 remain"),
    DamagedVector("uuid cut short", "98 00 01", "uuid needs 16 bytes but 2 remain"),
    DamagedVector("char that is a surrogate", "73 00 00 d8 00", "char 0xd800 is not a Unicode scalar value"),
    DamagedVector("str8 length past the end", "a1 05 61 62", "str8 declares 5 bytes but 2 remain"),
    DamagedVector("str32 of 4 GiB", "b1 ff ff ff ff 61", "str32 declares 4294967295 bytes but 1 remain"),
    DamagedVector("vbin32 of 4 GiB", "b0 ff ff ff ff", "vbin32 declares 4294967295 bytes but 0 remain"),
    DamagedVector("str8 with invalid UTF-8", "a1 02 c3 28", "str8 is not valid UTF-8"),
    DamagedVector("sym8 with invalid UTF-8", "a3 01 ff", "sym8 is not valid UTF-8"),
    DamagedVector("list8 size past the end", "c0 ff 01 40", "list8 declares 255 bytes but 2 remain"),
    DamagedVector("list32 of 4 GiB", "d0 ff ff ff ff 00 00 00 01", "list32 declares 4294967295 bytes but 4 remain"),
    DamagedVector("list8 size too small for its count", "c0 00", "list8 declares 0 bytes, too few for its count"),
    DamagedVector("list8 count lies", "c0 02 05 40", "list8 declares 5 elements in 1 bytes"),
    DamagedVector(
        "list32 count of 4 billion", "d0 00 00 00 05 ff ff ff ff 40", "list32 declares 4294967295 elements in 1 bytes"),
    DamagedVector(
        "list8 with bytes after its elements", "c0 03 01 40 40", "list8 has 1 bytes left after its 1 elements"),
    DamagedVector("list8 element overruns the list", "c0 02 01 52 01", "smalluint needs 1 bytes but 0 remain"),
    DamagedVector("list8 element cut by the list size", "c0 02 01 70 00 00 00 01", "uint needs 4 bytes but 0 remain"),
    DamagedVector("map8 with an odd count", "c1 03 01 40 40", "map8 declares 1 elements, an odd count"),
    DamagedVector(
        "map32 with an odd count", "d1 00 00 00 07 00 00 00 03 40 40 40", "map32 declares 3 elements, an odd count"),
    DamagedVector("array8 without constructor", "e0 01 00", "array has no element constructor"),
    DamagedVector("array8 count lies", "e0 04 09 52 01 02", "array8 declares 9 elements in 2 bytes"),
    DamagedVector(
        "array32 of a billion nulls",
        "f0 00 00 00 05 40 00 00 00 40",
        "array32 of null declares 1073741824 elements, more than the 4096 of 4096 zero-width elements left"
    ),
    DamagedVector("array8 of uint with a short element", "e0 05 02 70 00 00 00", "uint needs 4 bytes but 3 remain"),
    DamagedVector("array8 with an unknown element constructor", "e0 03 01 ff 00", "unknown constructor 0xff"),
    DamagedVector("described without a value", "00 53 10", "expected a constructor, found end of data"),
    DamagedVector("described without a descriptor", "00", "expected a constructor, found end of data"),
]

@Suite struct AMQPDamagedInputTests {
    @Test(arguments: damagedVectors)
    func damagedInputNamesWhatIsWrong(vector: DamagedVector) {
        let failure = amqpErrorMessage { _ = try decodeAll(hex(vector.bytes)) }
        #expect(failure?.0 == .malformedData)
        #expect(failure?.1 == vector.message)
    }

    /// Every prefix of every valid vector is either a complete shorter value (when a value ends early) or a named
    /// error; nothing traps.
    @Test(arguments: readVectors)
    func everyTruncationFails(vector: ValueVector) {
        let bytes = hex(vector.bytes)
        for length in 0..<bytes.count {
            var input = buffer(Array(bytes.prefix(length)))
            let failure = amqpErrorMessage { _ = try AMQPValue.decode(from: &input) }
            #expect(failure?.0 == .malformedData, "prefix of \(length) bytes")
            #expect(failure?.1.isEmpty == false)
        }
    }

    @Test func nestingIsLimited() throws {
        func nestedLists(_ depth: Int) -> [UInt8] {
            // Each level is a list8 whose only element is the next level; the innermost is list0.
            var bytes: [UInt8] = [0x45]
            for _ in 0..<depth {
                bytes = [0xc0, UInt8(bytes.count + 1), 0x01] + bytes
            }
            return bytes
        }
        #expect(try decodeAll(nestedLists(32)) != .null)
        let failure = amqpErrorMessage { _ = try decodeAll(nestedLists(33)) }
        #expect(failure?.1 == "list8 nested deeper than 32 levels")

        var deep = AMQPDecodingLimits.default
        deep.maxDepth = 40
        #expect(try decodeAll(nestedLists(40), limits: deep) != .null)
        #expect(throws: AMQPError.self) { try decodeAll(nestedLists(41), limits: deep) }

        // A chain of described values nests through descriptors as well; 100,000 levels must fail, not overflow.
        let describedChain = [UInt8](repeating: 0x00, count: 100_000) + [0x40, 0x40]
        let chainFailure = amqpErrorMessage { _ = try decodeAll(describedChain) }
        #expect(chainFailure?.1 == "described value nested deeper than 32 levels")

        let arrays = [UInt8](repeating: 0xe0, count: 1) + [0x04, 0x01, 0xe0, 0x00]
        #expect(throws: AMQPError.self) { try decodeAll(arrays) }
    }

    @Test func zeroWidthArrayLimitIsConfigurable() throws {
        let twoThousand = hex("f0 00 00 00 05 00 00 07 d0 40")
        #expect(try decodeAll(twoThousand).arrayValue?.count == 2000)
        var strict = AMQPDecodingLimits.default
        strict.maxZeroWidthElements = 10
        #expect(throws: AMQPError.self) { try decodeAll(twoThousand, limits: strict) }

        // The limit is shared by every array of one value, so many small arrays cannot add up to millions of values.
        let three = [0xc0, 31, 3] + twoThousand + twoThousand + twoThousand
        #expect(
            amqpErrorMessage { _ = try decodeAll(three) }?.1
                == "array32 of null declares 2000 elements, more than the 96 of 4096 zero-width elements left")
        #expect(try decodeAll([0xc0, 21, 2] + twoThousand + twoThousand).listValue?.count == 2)
    }

    @Test func compositeFieldErrorsNameTheField() {
        let wrongHandle = AMQPValue.described(
            descriptor: .ulong(0x12),
            value: .list([.string("link"), .string("1"), .bool(false)])
        )
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: wrongHandle) }?.1
                == "attach.handle: expected uint, found string")

        let missingRole = AMQPValue.described(descriptor: .ulong(0x12), value: .list([.string("link"), .uint(1)]))
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: missingRole) }?.1
                == "attach.role: mandatory field is missing")

        let badSource = AMQPValue.described(
            descriptor: .ulong(0x12),
            value: .list([
                .string("link"), .uint(1), .bool(false), .null, .null,
                .described(descriptor: .ulong(0x28), value: .list([.uint(3)])),
            ])
        )
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: badSource) }?.1
                == "attach.source.address: expected string, found uint")

        let targetAsSource = AMQPValue.described(
            descriptor: .ulong(0x12),
            value: .list([
                .string("link"), .uint(1), .bool(false), .null, .null,
                .described(descriptor: .ulong(0x29), value: .list([])),
            ])
        )
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: targetAsSource) }?.1
                == "attach.source: expected descriptor 0x28 (amqp:source:list), found 0x29")

        let channelMax = AMQPValue.described(
            descriptor: .ulong(0x10),
            value: .list([.string("c"), .null, .null, .uint(70000)])
        )
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: channelMax) }?.1
                == "open.channel-max: 70000 does not fit a ushort")

        let settleMode = AMQPValue.described(
            descriptor: .ulong(0x12),
            value: .list([.string("link"), .uint(1), .bool(false), .ubyte(7)])
        )
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: settleMode) }?.1
                == "attach.snd-settle-mode: 7 is not a sender settle mode (0, 1 or 2)")

        let unknown = AMQPValue.described(descriptor: .ulong(0x99), value: .list([]))
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: unknown) }?.1
                == "performative: unknown descriptor 0x99")

        let notDescribed = AMQPValue.list([])
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: notDescribed) }?.1
                == "performative: expected a described list, found list")

        let outcome = AMQPValue.described(descriptor: .ulong(0x44), value: .list([.ubyte(9)]))
        #expect(
            amqpErrorMessage { _ = try AMQPSASLPerformative(described: outcome) }?.1
                == "sasl-outcome.code: 9 is not a SASL code (0 to 4)")

        let capabilities = AMQPValue.described(
            descriptor: .ulong(0x10),
            value: .list([.string("c"), .null, .null, .null, .null, .null, .null, .array([.uint(1)])])
        )
        #expect(
            amqpErrorMessage { _ = try AMQPPerformative(described: capabilities) }?.1
                == "open.offered-capabilities: expected symbol elements, found uint")
    }
}
