#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One key/value pair of an AMQP map. Maps are kept as ordered entries, not a dictionary, because the wire
/// order matters to some peers and keys may be of any AMQP type.
public struct AMQPMapEntry: Sendable, Hashable {
    /// The key; AMQP allows any type, though Azure uses symbols and strings.
    public var key: AMQPValue
    /// The value.
    public var value: AMQPValue

    /// Creates an entry.
    public init(_ key: AMQPValue, _ value: AMQPValue) {
        self.key = key
        self.value = value
    }
}

/// A value of the AMQP 1.0 type system (OASIS AMQP 1.0, part 1).
///
/// Encoding picks the smallest format code that holds the value; decoding accepts every format code.
/// There are no literal conformances on purpose, so every value says which AMQP type it is.
public indirect enum AMQPValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case ubyte(UInt8)
    case ushort(UInt16)
    case uint(UInt32)
    case ulong(UInt64)
    case byte(Int8)
    case short(Int16)
    case int(Int32)
    case long(Int64)
    case float(Float)
    case double(Double)
    /// IEEE 754 decimal32, raw bits.
    case decimal32(UInt32)
    /// IEEE 754 decimal64, raw bits.
    case decimal64(UInt64)
    /// IEEE 754 decimal128, raw bits (16 bytes, network order; other lengths are padded or cut when written).
    case decimal128([UInt8])
    case char(Unicode.Scalar)
    /// Milliseconds since the Unix epoch.
    case timestamp(Int64)
    case uuid(UUID)
    case binary([UInt8])
    case string(String)
    /// A symbolic value; the spec restricts symbols to ASCII.
    case symbol(String)
    case list([AMQPValue])
    /// Entries in wire order (or as given).
    case map([AMQPMapEntry])
    /// A homogeneous array. An empty array is written with the sym8 element constructor; an array whose
    /// elements are not all of one type cannot be an AMQP array and is written as a list.
    case array([AMQPValue])
    case described(descriptor: AMQPValue, value: AMQPValue)
}

/// Bounds the decoder keeps so hostile input cannot exhaust the stack or memory.
public struct AMQPDecodingLimits: Sendable {
    /// How deeply lists, maps, arrays and described values may nest.
    public var maxDepth: Int = 32
    /// How many elements, over all the arrays of one decoded value or message, arrays may declare with an element
    /// constructor that takes no bytes (null, true, false, uint0, ulong0, list0). Their count is not bounded by
    /// the bytes that follow it, so without this an input could stand for far more values than it has bytes.
    public var maxZeroWidthElements: Int = 4096

    /// Creates limits; the defaults suit any peer Kumo talks to.
    public init(maxDepth: Int = 32, maxZeroWidthElements: Int = 4096) {
        self.maxDepth = maxDepth
        self.maxZeroWidthElements = maxZeroWidthElements
    }

    /// Depth 32 and 4096 zero-width array elements.
    public static let `default` = AMQPDecodingLimits()
}

extension AMQPValue {
    /// The text of a `.string` or `.symbol`; nil otherwise.
    public var stringValue: String? {
        switch self {
        case .string(let value), .symbol(let value): value
        default: nil
        }
    }

    /// The text of a `.symbol`; nil otherwise.
    public var symbolValue: String? {
        if case .symbol(let value) = self { value } else { nil }
    }

    /// Any signed or unsigned integer case whose value fits in an Int64; nil otherwise.
    public var int64Value: Int64? {
        switch self {
        case .ubyte(let value): Int64(value)
        case .ushort(let value): Int64(value)
        case .uint(let value): Int64(value)
        case .ulong(let value): Int64(exactly: value)
        case .byte(let value): Int64(value)
        case .short(let value): Int64(value)
        case .int(let value): Int64(value)
        case .long(let value): value
        default: nil
        }
    }

    /// Any signed or unsigned integer case whose value is not negative; nil otherwise.
    public var uint64Value: UInt64? {
        switch self {
        case .ubyte(let value): UInt64(value)
        case .ushort(let value): UInt64(value)
        case .uint(let value): UInt64(value)
        case .ulong(let value): value
        case .byte(let value): UInt64(exactly: value)
        case .short(let value): UInt64(exactly: value)
        case .int(let value): UInt64(exactly: value)
        case .long(let value): UInt64(exactly: value)
        default: nil
        }
    }

    /// The value of a `.bool`; nil otherwise.
    public var boolValue: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    /// The bytes of a `.binary`; nil otherwise.
    public var binaryValue: [UInt8]? {
        if case .binary(let value) = self { value } else { nil }
    }

    /// The elements of a `.list`; nil otherwise.
    public var listValue: [AMQPValue]? {
        if case .list(let value) = self { value } else { nil }
    }

    /// The entries of a `.map`; nil otherwise.
    public var mapValue: [AMQPMapEntry]? {
        if case .map(let value) = self { value } else { nil }
    }

    /// The elements of an `.array`; nil otherwise.
    public var arrayValue: [AMQPValue]? {
        if case .array(let value) = self { value } else { nil }
    }

    /// Whether this is `.null`.
    public var isNull: Bool {
        if case .null = self { true } else { false }
    }

    /// The AMQP type name, used in error messages ("expected uint, found string").
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .ubyte: "ubyte"
        case .ushort: "ushort"
        case .uint: "uint"
        case .ulong: "ulong"
        case .byte: "byte"
        case .short: "short"
        case .int: "int"
        case .long: "long"
        case .float: "float"
        case .double: "double"
        case .decimal32: "decimal32"
        case .decimal64: "decimal64"
        case .decimal128: "decimal128"
        case .char: "char"
        case .timestamp: "timestamp"
        case .uuid: "uuid"
        case .binary: "binary"
        case .string: "string"
        case .symbol: "symbol"
        case .list: "list"
        case .map: "map"
        case .array: "array"
        case .described: "described"
        }
    }
}

extension Array where Element == AMQPMapEntry {
    /// The value of the first entry whose key is `.symbol(key)`.
    public subscript(symbol key: String) -> AMQPValue? {
        for entry in self {
            if case .symbol(let name) = entry.key, name == key {
                return entry.value
            }
        }
        return nil
    }

    /// The value of the first entry whose key is `.string(key)`.
    public subscript(string key: String) -> AMQPValue? {
        for entry in self {
            if case .string(let name) = entry.key, name == key {
                return entry.value
            }
        }
        return nil
    }
}
