import AMQP
import Foundation
import NIOCore
import Testing

/// One encoding and the value it stands for.
struct ValueVector: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: String
    let value: AMQPValue

    init(_ name: String, _ bytes: String, _ value: AMQPValue) {
        self.name = name
        self.bytes = bytes
        self.value = value
    }

    var testDescription: String { name }
}

let sampleUUID = UUID(uuidString: "00112233-4455-6677-8899-AABBCCDDEEFF")!

/// Every format code of part 1.6, read. Several are not the smallest encoding of their value: a reader must still
/// accept them, since peers (Azure's broker among them) write wider forms.
let readVectors: [ValueVector] = [
    ValueVector("0x40 null", "40", .null),
    ValueVector("0x41 true", "41", .bool(true)),
    ValueVector("0x42 false", "42", .bool(false)),
    ValueVector("0x56 boolean true", "56 01", .bool(true)),
    ValueVector("0x56 boolean false", "56 00", .bool(false)),
    ValueVector("0x50 ubyte", "50 ff", .ubyte(255)),
    ValueVector("0x51 byte", "51 80", .byte(-128)),
    ValueVector("0x60 ushort", "60 ab cd", .ushort(0xabcd)),
    ValueVector("0x61 short", "61 ff fe", .short(-2)),
    ValueVector("0x43 uint0", "43", .uint(0)),
    ValueVector("0x52 smalluint", "52 07", .uint(7)),
    ValueVector("0x70 uint", "70 00 01 00 00", .uint(65536)),
    ValueVector("0x70 uint holding a small value", "70 00 00 00 05", .uint(5)),
    ValueVector("0x44 ulong0", "44", .ulong(0)),
    ValueVector("0x53 smallulong", "53 ff", .ulong(255)),
    ValueVector("0x80 ulong", "80 00 00 00 13 70 00 00 0a", .ulong(0x13_7000_000a)),
    ValueVector("0x54 smallint", "54 fe", .int(-2)),
    ValueVector("0x71 int", "71 00 00 00 ca", .int(202)),
    ValueVector("0x55 smalllong", "55 ff", .long(-1)),
    ValueVector("0x81 long", "81 ff ff ff ff ff ff ff 00", .long(-256)),
    ValueVector("0x72 float", "72 3f c0 00 00", .float(1.5)),
    ValueVector("0x82 double", "82 3f f8 00 00 00 00 00 00", .double(1.5)),
    ValueVector("0x74 decimal32", "74 22 50 00 01", .decimal32(0x2250_0001)),
    ValueVector("0x84 decimal64", "84 22 38 00 00 00 00 00 01", .decimal64(0x2238_0000_0000_0001)),
    ValueVector(
        "0x94 decimal128",
        "94 22 08 00 00 00 00 00 00 00 00 00 00 00 00 00 01",
        .decimal128([0x22, 0x08] + [UInt8](repeating: 0, count: 13) + [1])
    ),
    ValueVector("0x73 char", "73 00 01 f6 00", .char("\u{1F600}")),
    ValueVector("0x83 timestamp", "83 00 00 01 96 82 be da cb", .timestamp(1_745_950_268_107)),
    ValueVector("0x98 uuid", "98 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff", .uuid(sampleUUID)),
    ValueVector("0xa0 vbin8", "a0 03 01 02 03", .binary([1, 2, 3])),
    ValueVector("0xb0 vbin32", "b0 00 00 00 03 01 02 03", .binary([1, 2, 3])),
    ValueVector("0xa1 str8", "a1 05 68 c3 a9 6c 6c", .string("héll")),
    ValueVector("0xb1 str32", "b1 00 00 00 02 68 69", .string("hi")),
    ValueVector("0xa3 sym8", "a3 03 66 6f 6f", .symbol("foo")),
    ValueVector("0xb3 sym32", "b3 00 00 00 03 66 6f 6f", .symbol("foo")),
    ValueVector("0x45 list0", "45", .list([])),
    ValueVector("0xc0 list8 empty", "c0 01 00", .list([])),
    ValueVector("0xc0 list8", "c0 04 03 41 40 43", .list([.bool(true), .null, .uint(0)])),
    ValueVector("0xd0 list32", "d0 00 00 00 07 00 00 00 02 52 01 42", .list([.uint(1), .bool(false)])),
    ValueVector("0xc1 map8 empty", "c1 01 00", .map([])),
    ValueVector("0xc1 map8", "c1 05 02 a3 01 6b 41", .map([AMQPMapEntry(.symbol("k"), .bool(true))])),
    ValueVector(
        "0xd1 map32",
        "d1 00 00 00 09 00 00 00 02 a1 01 6b 54 07",
        .map([AMQPMapEntry(.string("k"), .int(7))])
    ),
    ValueVector("0xe0 array8 empty", "e0 02 00 a3", .array([])),
    ValueVector("0xe0 array8 of smalluint", "e0 04 02 52 01 02", .array([.uint(1), .uint(2)])),
    ValueVector(
        "0xe0 array8 of str32 (as Azure writes partition ids)",
        "e0 0c 02 b1 00 00 00 01 30 00 00 00 01 31",
        .array([.string("0"), .string("1")])
    ),
    ValueVector(
        "0xf0 array32 of sym8 (as Azure writes SASL mechanisms)",
        "f0 00 00 00 0d 00 00 00 02 a3 05 50 4c 41 49 4e 01 58",
        .array([.symbol("PLAIN"), .symbol("X")])
    ),
    ValueVector("0xe0 array8 of uint0", "e0 02 03 43", .array([.uint(0), .uint(0), .uint(0)])),
    ValueVector("0xe0 array8 of true", "e0 02 02 41", .array([.bool(true), .bool(true)])),
    ValueVector("0xe0 array8 of boolean", "e0 04 02 56 01 00", .array([.bool(true), .bool(false)])),
    ValueVector(
        "0xe0 array8 of list8",
        "e0 08 02 c0 02 01 41 02 01 42",
        .array([.list([.bool(true)]), .list([.bool(false)])])
    ),
    ValueVector(
        "0xe0 array8 of described lists with the list0 constructor",
        "e0 05 02 00 53 24 45",
        .array([
            .described(descriptor: .ulong(0x24), value: .list([])),
            .described(descriptor: .ulong(0x24), value: .list([])),
        ])
    ),
    ValueVector("0x00 described", "00 53 10 45", .described(descriptor: .ulong(0x10), value: .list([]))),
    ValueVector(
        "0x00 described with a symbol descriptor",
        "00 a3 0e 61 6d 71 70 3a 6f 70 65 6e 3a 6c 69 73 74 45",
        .described(descriptor: .symbol("amqp:open:list"), value: .list([]))
    ),
]

/// The smallest encoding of each value: what Kumo writes.
let writeVectors: [ValueVector] = [
    ValueVector("null", "40", .null),
    ValueVector("true", "41", .bool(true)),
    ValueVector("false", "42", .bool(false)),
    ValueVector("ubyte", "50 07", .ubyte(7)),
    ValueVector("byte", "51 f9", .byte(-7)),
    ValueVector("ushort", "60 01 00", .ushort(256)),
    ValueVector("short", "61 80 00", .short(-32768)),
    ValueVector("uint 0 as uint0", "43", .uint(0)),
    ValueVector("uint 255 as smalluint", "52 ff", .uint(255)),
    ValueVector("uint 256 as uint", "70 00 00 01 00", .uint(256)),
    ValueVector("ulong 0 as ulong0", "44", .ulong(0)),
    ValueVector("ulong 255 as smallulong", "53 ff", .ulong(255)),
    ValueVector("ulong 256 as ulong", "80 00 00 00 00 00 00 01 00", .ulong(256)),
    ValueVector("int 127 as smallint", "54 7f", .int(127)),
    ValueVector("int -128 as smallint", "54 80", .int(-128)),
    ValueVector("int 128 as int", "71 00 00 00 80", .int(128)),
    ValueVector("long -1 as smalllong", "55 ff", .long(-1)),
    ValueVector("long -129 as long", "81 ff ff ff ff ff ff ff 7f", .long(-129)),
    ValueVector("float", "72 bf 80 00 00", .float(-1)),
    ValueVector("double", "82 c0 00 00 00 00 00 00 00", .double(-2)),
    ValueVector("decimal32", "74 00 00 00 01", .decimal32(1)),
    ValueVector("decimal64", "84 00 00 00 00 00 00 00 01", .decimal64(1)),
    ValueVector(
        "decimal128", "94" + String(repeating: " 00", count: 15) + " 01",
        .decimal128([UInt8](repeating: 0, count: 15) + [1])),
    ValueVector("char", "73 00 00 00 41", .char("A")),
    ValueVector("timestamp", "83 00 00 00 00 00 00 03 e8", .timestamp(1000)),
    ValueVector("uuid", "98 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff", .uuid(sampleUUID)),
    ValueVector("empty binary as vbin8", "a0 00", .binary([])),
    ValueVector("binary as vbin8", "a0 02 ff 00", .binary([0xff, 0])),
    ValueVector("string as str8", "a1 02 68 69", .string("hi")),
    ValueVector("symbol as sym8", "a3 02 68 69", .symbol("hi")),
    ValueVector("empty list as list0", "45", .list([])),
    ValueVector("list as list8", "c0 03 02 40 43", .list([.null, .uint(0)])),
    ValueVector("empty map as map8", "c1 01 00", .map([])),
    ValueVector("map as map8", "c1 04 02 a3 00 40", .map([AMQPMapEntry(.symbol(""), .null)])),
    ValueVector("empty array with the sym8 constructor", "e0 02 00 a3", .array([])),
    ValueVector("array of symbols as sym8", "e0 06 02 a3 01 61 01 62", .array([.symbol("a"), .symbol("b")])),
    ValueVector("array of uints as smalluint", "e0 04 02 52 00 ff", .array([.uint(0), .uint(255)])),
    ValueVector("array of uints as uint", "e0 0a 02 70 00 00 00 01 00 00 01 00", .array([.uint(1), .uint(256)])),
    ValueVector("array of ints as smallint", "e0 04 02 54 ff 01", .array([.int(-1), .int(1)])),
    ValueVector("array of longs as smalllong", "e0 03 01 55 05", .array([.long(5)])),
    ValueVector("array of ulongs as smallulong", "e0 03 01 53 05", .array([.ulong(5)])),
    ValueVector("array of booleans as 0x56", "e0 04 02 56 01 00", .array([.bool(true), .bool(false)])),
    ValueVector("array of nulls", "e0 02 02 40", .array([.null, .null])),
    ValueVector("heterogeneous array as a list", "c0 04 02 52 01 41", .array([.uint(1), .bool(true)])),
    ValueVector(
        "array of described lists shares the descriptor",
        "e0 09 02 00 53 24 c0 01 00 01 00",
        .array([
            .described(descriptor: .ulong(0x24), value: .list([])),
            .described(descriptor: .ulong(0x24), value: .list([])),
        ])
    ),
    ValueVector(
        "array of arrays",
        "e0 0a 02 e0 03 01 52 01 03 01 52 03",
        .array([.array([.uint(1)]), .array([.uint(3)])])
    ),
    ValueVector("described", "00 53 24 45", .described(descriptor: .ulong(0x24), value: .list([]))),
]

@Suite struct AMQPValueCodecTests {
    @Test(arguments: readVectors)
    func readsEveryEncoding(vector: ValueVector) throws {
        #expect(try decodeAll(hex(vector.bytes)) == vector.value)
    }

    @Test(arguments: writeVectors)
    func writesTheSmallestEncoding(vector: ValueVector) throws {
        #expect(hexString(encode(vector.value)) == hexString(hex(vector.bytes)))
        #expect(vector.value.encodedSize == hex(vector.bytes).count)
        if case .array(let elements) = vector.value, vector.name.contains("heterogeneous") {
            #expect(try decodeAll(hex(vector.bytes)) == .list(elements))
        } else {
            #expect(try decodeAll(hex(vector.bytes)) == vector.value)
        }
    }

    @Test(arguments: readVectors)
    func everyReadValueRoundTrips(vector: ValueVector) throws {
        let value = try decodeAll(hex(vector.bytes))
        let bytes = encode(value)
        #expect(bytes.count == value.encodedSize)
        #expect(try decodeAll(bytes) == value)
    }

    @Test func sizeBoundariesSwitchToTheWideForms() throws {
        let short = String(repeating: "x", count: 255)
        let long = String(repeating: "x", count: 256)
        #expect(encode(.string(short)).prefix(2) == [0xa1, 0xff])
        #expect(encode(.string(long)).prefix(5) == [0xb1, 0, 0, 1, 0])
        #expect(encode(.symbol(long)).prefix(5) == [0xb3, 0, 0, 1, 0])
        #expect(encode(.binary([UInt8](repeating: 1, count: 256))).prefix(5) == [0xb0, 0, 0, 1, 0])

        // list8's size byte counts the count byte too, so 254 bytes of content is the most it holds.
        let fits = AMQPValue.list([.binary([UInt8](repeating: 0, count: 252))])
        let tooBig = AMQPValue.list([.binary([UInt8](repeating: 0, count: 253))])
        #expect(encode(fits).prefix(3) == [0xc0, 0xff, 0x01])
        #expect(encode(tooBig).prefix(9) == [0xd0, 0, 0, 0x01, 0x03, 0, 0, 0, 1])
        #expect(try decodeAll(encode(tooBig)) == tooBig)

        let manyElements = AMQPValue.list([AMQPValue](repeating: .null, count: 256))
        #expect(encode(manyElements).first == 0xd0)
        #expect(manyElements.encodedSize == 9 + 256)

        let strings = AMQPValue.array([.string("a"), .string(long)])
        #expect(encode(strings)[9] == 0xb1)
        #expect(try decodeAll(encode(strings)) == strings)

        let zeroWidthCount = AMQPValue.array([AMQPValue](repeating: .null, count: 300))
        #expect(encode(zeroWidthCount).first == 0xf0)
        #expect(try decodeAll(encode(zeroWidthCount)) == zeroWidthCount)
    }

    @Test func nestedCompoundsEncodeInPlace() throws {
        // A list8 holding a list32 holding a map8: the moves after each compound must not disturb the others.
        let inner = AMQPValue.map([AMQPMapEntry(.symbol("k"), .string(String(repeating: "v", count: 300)))])
        let value = AMQPValue.list([.uint(1), .list([inner, .null]), .list([.bool(true)]), .array([.list([inner])])])
        let bytes = encode(value)
        #expect(bytes.count == value.encodedSize)
        #expect(try decodeAll(bytes) == value)

        var prefixed = ByteBuffer(bytes: [0xaa, 0xbb])
        prefixed.moveReaderIndex(forwardBy: 1)
        AMQPValue.list([.uint(1)]).encode(into: &prefixed)
        #expect(Array(prefixed.readableBytesView) == [0xbb, 0xc0, 0x03, 0x01, 0x52, 0x01])
    }

    @Test func decodeConsumesOneValueAndLeavesTheRest() throws {
        var input = buffer(hex("52 01 a1 01 61"))
        #expect(try AMQPValue.decode(from: &input) == .uint(1))
        #expect(try AMQPValue.decode(from: &input) == .string("a"))
        #expect(input.readableBytes == 0)
    }

    @Test func failedDecodeLeavesTheReaderIndex() {
        var input = buffer(hex("c0 05 02 52 01"))
        #expect(throws: AMQPError.self) { try AMQPValue.decode(from: &input) }
        #expect(input.readerIndex == 0)
    }

    @Test func accessors() {
        #expect(AMQPValue.symbol("s").stringValue == "s")
        #expect(AMQPValue.string("s").stringValue == "s")
        #expect(AMQPValue.string("s").symbolValue == nil)
        #expect(AMQPValue.ulong(.max).int64Value == nil)
        #expect(AMQPValue.ulong(5).int64Value == 5)
        #expect(AMQPValue.short(-3).int64Value == -3)
        #expect(AMQPValue.long(-1).uint64Value == nil)
        #expect(AMQPValue.ubyte(9).uint64Value == 9)
        #expect(AMQPValue.string("9").int64Value == nil)
        #expect(AMQPValue.bool(true).boolValue == true)
        #expect(AMQPValue.binary([1]).binaryValue == [1])
        #expect(AMQPValue.list([.null]).listValue == [.null])
        #expect(AMQPValue.array([.null]).arrayValue == [.null])
        #expect(AMQPValue.array([.null]).listValue == nil)
        #expect(AMQPValue.map([]).mapValue == [])
        #expect(AMQPValue.null.isNull)
        #expect(!AMQPValue.list([]).isNull)

        let entries = [
            AMQPMapEntry(.string("k"), .uint(1)), AMQPMapEntry(.symbol("k"), .uint(2)),
            AMQPMapEntry(.symbol("k"), .uint(3)),
        ]
        #expect(entries[symbol: "k"] == .uint(2))
        #expect(entries[string: "k"] == .uint(1))
        #expect(entries[symbol: "missing"] == nil)
    }

    @Test func mapsKeepWireOrderAndDuplicateKeys() throws {
        let value = AMQPValue.map([
            AMQPMapEntry(.symbol("b"), .null), AMQPMapEntry(.symbol("a"), .null), AMQPMapEntry(.symbol("b"), .uint(1)),
        ])
        #expect(try decodeAll(encode(value)) == value)
    }
}
