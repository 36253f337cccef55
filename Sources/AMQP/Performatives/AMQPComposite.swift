/// An AMQP 1.0 composite type: a described list whose descriptor names the type (open, attach, source, ...).
///
/// Conforming types read fields by position, so a shortened list (missing trailing fields) means the defaults,
/// and they write every field, trailing nulls included, because some peers (Microsoft's Python client) read
/// fields by position and fail on a shortened list. A conforming type's properties are the spec's fields of the
/// same names in camel case (part 2.7 for performatives, 3.2 and 3.5 for messaging), with the spec's defaults.
public protocol AMQPComposite: Sendable, Hashable {
    /// The numeric descriptor, e.g. 0x10 for open.
    static var descriptorCode: UInt64 { get }
    /// The symbolic descriptor, e.g. "amqp:open:list".
    static var descriptorName: String { get }
    /// Reads the fields of the described list.
    ///
    /// - Throws: `AMQPError` `.malformedData` naming the field, e.g. "open.max-frame-size: expected uint,
    ///   found string", or a mandatory field that is missing.
    init(fields: [AMQPValue]) throws
    /// Every field in spec order, trailing nulls included.
    var fields: [AMQPValue] { get }
}

extension AMQPComposite {
    /// The composite as a described list with the numeric descriptor: `.described(.ulong(code), .list(fields))`.
    public var described: AMQPValue {
        .described(descriptor: .ulong(Self.descriptorCode), value: .list(fields))
    }

    /// Reads the composite from a described list whose descriptor is either the numeric code or the symbolic name.
    ///
    /// - Throws: `AMQPError` `.malformedData` when the value is not a described list, the descriptor is another
    ///   type's, or a field is wrong.
    public init(described value: AMQPValue) throws {
        guard case .described(let descriptor, let body) = value else {
            throw AMQPError.malformed("\(Self.shortName): expected a described list, found \(value.typeName)")
        }
        guard Self.matches(descriptor) else {
            throw AMQPError.malformed(
                "\(Self.shortName): expected descriptor 0x\(String(Self.descriptorCode, radix: 16)) "
                    + "(\(Self.descriptorName)), found \(describeDescriptor(descriptor))"
            )
        }
        guard case .list(let fields) = body else {
            throw AMQPError.malformed("\(Self.shortName): expected a list, found \(body.typeName)")
        }
        try self.init(fields: fields)
    }

    static func matches(_ descriptor: AMQPValue) -> Bool {
        switch descriptor {
        case .ulong(let code): code == descriptorCode
        case .symbol(let name): name == descriptorName
        default: false
        }
    }

    /// "open" for "amqp:open:list": the name used in error messages.
    static var shortName: String {
        var name = Substring(descriptorName)
        if name.hasPrefix("amqp:") { name = name.dropFirst(5) }
        if name.hasSuffix(":list") { name = name.dropLast(5) }
        return String(name)
    }
}

func describeDescriptor(_ descriptor: AMQPValue) -> String {
    switch descriptor {
    case .ulong(let code): "0x" + String(code, radix: 16)
    case .symbol(let name): name
    default: descriptor.typeName
    }
}

/// Reads a composite's fields by position and names the field in every error ("attach.handle: expected uint,
/// found string").
struct FieldReader {
    let composite: String
    let fields: [AMQPValue]

    init(_ composite: String, _ fields: [AMQPValue]) {
        self.composite = composite
        self.fields = fields
    }

    init<C: AMQPComposite>(_ type: C.Type, _ fields: [AMQPValue]) {
        self.init(C.shortName, fields)
    }

    subscript(index: Int) -> AMQPValue {
        index < fields.count ? fields[index] : .null
    }

    func mismatch(_ name: String, expected: String, found: AMQPValue) -> AMQPError {
        AMQPError.malformed("\(composite).\(name): expected \(expected), found \(found.typeName)")
    }

    func required<T>(_ value: T?, _ name: String) throws -> T {
        guard let value else {
            throw AMQPError.malformed("\(composite).\(name): mandatory field is missing")
        }
        return value
    }

    private func unsigned(_ index: Int, _ name: String, _ typeName: String, max: UInt64) throws -> UInt64? {
        let value = self[index]
        switch value {
        case .null:
            return nil
        case .ubyte, .ushort, .uint, .ulong:
            let number = value.uint64Value ?? 0
            guard number <= max else {
                throw AMQPError.malformed("\(composite).\(name): \(number) does not fit a \(typeName)")
            }
            return number
        default:
            throw mismatch(name, expected: typeName, found: value)
        }
    }

    func ubyte(_ index: Int, _ name: String) throws -> UInt8? {
        try unsigned(index, name, "ubyte", max: UInt64(UInt8.max)).map { UInt8(truncatingIfNeeded: $0) }
    }

    func ushort(_ index: Int, _ name: String) throws -> UInt16? {
        try unsigned(index, name, "ushort", max: UInt64(UInt16.max)).map { UInt16(truncatingIfNeeded: $0) }
    }

    func uint(_ index: Int, _ name: String) throws -> UInt32? {
        try unsigned(index, name, "uint", max: UInt64(UInt32.max)).map { UInt32(truncatingIfNeeded: $0) }
    }

    func ulong(_ index: Int, _ name: String) throws -> UInt64? {
        try unsigned(index, name, "ulong", max: UInt64.max)
    }

    func bool(_ index: Int, _ name: String) throws -> Bool? {
        switch self[index] {
        case .null: return nil
        case .bool(let value): return value
        case let other: throw mismatch(name, expected: "boolean", found: other)
        }
    }

    /// A string field; a symbol is accepted too, since peers differ on which they send for addresses.
    func string(_ index: Int, _ name: String) throws -> String? {
        switch self[index] {
        case .null: return nil
        case .string(let value), .symbol(let value): return value
        case let other: throw mismatch(name, expected: "string", found: other)
        }
    }

    /// A symbol field; a string is accepted too.
    func symbol(_ index: Int, _ name: String) throws -> String? {
        switch self[index] {
        case .null: return nil
        case .symbol(let value), .string(let value): return value
        case let other: throw mismatch(name, expected: "symbol", found: other)
        }
    }

    func binary(_ index: Int, _ name: String) throws -> [UInt8]? {
        switch self[index] {
        case .null: return nil
        case .binary(let value): return value
        case let other: throw mismatch(name, expected: "binary", found: other)
        }
    }

    /// A `multiple="true"` symbol field: one symbol, or an array (or list) of symbols.
    func symbols(_ index: Int, _ name: String) throws -> [String]? {
        switch self[index] {
        case .null:
            return nil
        case .symbol(let value):
            return [value]
        case .array(let elements), .list(let elements):
            var symbols: [String] = []
            symbols.reserveCapacity(elements.count)
            for element in elements {
                guard case .symbol(let value) = element else {
                    throw mismatch(name, expected: "symbol elements", found: element)
                }
                symbols.append(value)
            }
            return symbols
        case let other:
            throw mismatch(name, expected: "symbol or array of symbols", found: other)
        }
    }

    func map(_ index: Int, _ name: String) throws -> [AMQPMapEntry]? {
        switch self[index] {
        case .null: return nil
        case .map(let entries): return entries
        case let other: throw mismatch(name, expected: "map", found: other)
        }
    }

    /// A nested composite; its own errors get this field's name in front ("attach.source.address: ...").
    func composite<C: AMQPComposite>(_ index: Int, _ name: String, as type: C.Type) throws -> C? {
        let value = self[index]
        if value.isNull { return nil }
        return try nested(name, inner: C.shortName) { try C(described: value) }
    }

    func deliveryState(_ index: Int, _ name: String) throws -> AMQPDeliveryState? {
        let value = self[index]
        if value.isNull { return nil }
        return try nested(name, inner: nil) { try AMQPDeliveryState(described: value) }
    }

    /// Puts this field's path in front of a nested composite's error: "source.address: ..." read for
    /// attach.source becomes "attach.source.address: ...".
    private func nested<T>(_ name: String, inner: String?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var error as AMQPError {
            let path = "\(composite).\(name)"
            if let inner, error.message.hasPrefix(inner + ".") || error.message.hasPrefix(inner + ":") {
                error.message = path + error.message.dropFirst(inner.count)
            } else {
                error.message = path + ": " + error.message
            }
            throw error
        }
    }
}

extension AMQPValue {
    /// A symbol-multiple field as written: an array of symbols, or null.
    static func symbols(_ values: [String]?) -> AMQPValue {
        guard let values else { return .null }
        return .array(values.map { .symbol($0) })
    }

    static func optional<T>(_ value: T?, _ wrap: (T) -> AMQPValue) -> AMQPValue {
        guard let value else { return .null }
        return wrap(value)
    }

    static func fieldsMap(_ entries: [AMQPMapEntry]?) -> AMQPValue {
        guard let entries else { return .null }
        return .map(entries)
    }
}
