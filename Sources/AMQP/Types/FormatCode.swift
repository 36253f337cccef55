/// The primitive format codes of AMQP 1.0 part 1.6. Internal: callers work with `AMQPValue`.
enum FormatCode {
    static let described: UInt8 = 0x00
    static let null: UInt8 = 0x40
    static let boolTrue: UInt8 = 0x41
    static let boolFalse: UInt8 = 0x42
    static let boolean: UInt8 = 0x56
    static let uint0: UInt8 = 0x43
    static let ulong0: UInt8 = 0x44
    static let list0: UInt8 = 0x45
    static let ubyte: UInt8 = 0x50
    static let byte: UInt8 = 0x51
    static let smallUInt: UInt8 = 0x52
    static let smallULong: UInt8 = 0x53
    static let smallInt: UInt8 = 0x54
    static let smallLong: UInt8 = 0x55
    static let ushort: UInt8 = 0x60
    static let short: UInt8 = 0x61
    static let uint: UInt8 = 0x70
    static let int: UInt8 = 0x71
    static let float: UInt8 = 0x72
    static let char: UInt8 = 0x73
    static let decimal32: UInt8 = 0x74
    static let ulong: UInt8 = 0x80
    static let long: UInt8 = 0x81
    static let double: UInt8 = 0x82
    static let timestamp: UInt8 = 0x83
    static let decimal64: UInt8 = 0x84
    static let decimal128: UInt8 = 0x94
    static let uuid: UInt8 = 0x98
    static let vbin8: UInt8 = 0xa0
    static let str8: UInt8 = 0xa1
    static let sym8: UInt8 = 0xa3
    static let vbin32: UInt8 = 0xb0
    static let str32: UInt8 = 0xb1
    static let sym32: UInt8 = 0xb3
    static let list8: UInt8 = 0xc0
    static let map8: UInt8 = 0xc1
    static let list32: UInt8 = 0xd0
    static let map32: UInt8 = 0xd1
    static let array8: UInt8 = 0xe0
    static let array32: UInt8 = 0xf0

    /// A name for error messages: "str8", "list32", "0x7f".
    static func name(_ code: UInt8) -> String {
        switch code {
        case described: "described"
        case null: "null"
        case boolTrue: "true"
        case boolFalse: "false"
        case boolean: "boolean"
        case uint0: "uint0"
        case ulong0: "ulong0"
        case list0: "list0"
        case ubyte: "ubyte"
        case byte: "byte"
        case smallUInt: "smalluint"
        case smallULong: "smallulong"
        case smallInt: "smallint"
        case smallLong: "smalllong"
        case ushort: "ushort"
        case short: "short"
        case uint: "uint"
        case int: "int"
        case float: "float"
        case char: "char"
        case decimal32: "decimal32"
        case ulong: "ulong"
        case long: "long"
        case double: "double"
        case timestamp: "timestamp"
        case decimal64: "decimal64"
        case decimal128: "decimal128"
        case uuid: "uuid"
        case vbin8: "vbin8"
        case str8: "str8"
        case sym8: "sym8"
        case vbin32: "vbin32"
        case str32: "str32"
        case sym32: "sym32"
        case list8: "list8"
        case map8: "map8"
        case list32: "list32"
        case map32: "map32"
        case array8: "array8"
        case array32: "array32"
        default: "0x" + String(code, radix: 16)
        }
    }
}
