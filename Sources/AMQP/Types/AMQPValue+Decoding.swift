import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension AMQPValue {
    /// Reads one value in any AMQP 1.0 encoding and moves the reader index past it.
    ///
    /// - Throws: `AMQPError` with code `.malformedData` naming what is wrong (an unknown constructor, a length
    ///   past the end of the bytes, invalid UTF-8, an odd map count, nesting deeper than `limits.maxDepth`).
    ///   On error the reader index is left where it was. The decoder never allocates by a stated length before
    ///   checking that the bytes are there, so hostile input cannot make it reserve memory it does not carry.
    public static func decode(from buffer: inout ByteBuffer, limits: AMQPDecodingLimits = .default) throws -> AMQPValue
    {
        var copy = buffer
        var reader = AMQPValueReader(limits: limits)
        let value = try reader.read(from: &copy, depth: 0)
        buffer = copy
        return value
    }
}

/// The decoder behind `AMQPValue.decode`. Works on `ByteBuffer` slices, so nested values never copy bytes.
struct AMQPValueReader {
    let limits: AMQPDecodingLimits
    /// Zero-width array elements still allowed. Shared by every array one reader reads, because a per-array limit
    /// would let many small arrays multiply the input into far more values than it has bytes.
    private var zeroWidthElementsLeft: Int

    init(limits: AMQPDecodingLimits) {
        self.limits = limits
        zeroWidthElementsLeft = limits.maxZeroWidthElements
    }

    mutating func read(from buffer: inout ByteBuffer, depth: Int) throws -> AMQPValue {
        guard let code = buffer.readInteger(as: UInt8.self) else {
            throw AMQPError.malformed("expected a constructor, found end of data")
        }
        if code == FormatCode.described {
            try checkDepth(depth, "described value")
            let descriptor = try read(from: &buffer, depth: depth + 1)
            let value = try read(from: &buffer, depth: depth + 1)
            return .described(descriptor: descriptor, value: value)
        }
        return try readData(code: code, from: &buffer, depth: depth)
    }

    private func checkDepth(_ depth: Int, _ what: String) throws {
        if depth >= limits.maxDepth {
            throw AMQPError.malformed("\(what) nested deeper than \(limits.maxDepth) levels")
        }
    }

    /// Reads the bytes that follow a format code.
    mutating func readData(code: UInt8, from buffer: inout ByteBuffer, depth: Int) throws -> AMQPValue {
        switch code {
        case FormatCode.null: return .null
        case FormatCode.boolTrue: return .bool(true)
        case FormatCode.boolFalse: return .bool(false)
        case FormatCode.uint0: return .uint(0)
        case FormatCode.ulong0: return .ulong(0)
        case FormatCode.list0: return .list([])
        case FormatCode.boolean:
            let byte = try fixed(UInt8.self, code, &buffer)
            switch byte {
            case 0: return .bool(false)
            case 1: return .bool(true)
            default: throw AMQPError.malformed("boolean byte is 0x\(String(byte, radix: 16)), not 0x00 or 0x01")
            }
        case FormatCode.ubyte: return .ubyte(try fixed(UInt8.self, code, &buffer))
        case FormatCode.byte: return .byte(try fixed(Int8.self, code, &buffer))
        case FormatCode.smallUInt: return .uint(UInt32(try fixed(UInt8.self, code, &buffer)))
        case FormatCode.smallULong: return .ulong(UInt64(try fixed(UInt8.self, code, &buffer)))
        case FormatCode.smallInt: return .int(Int32(try fixed(Int8.self, code, &buffer)))
        case FormatCode.smallLong: return .long(Int64(try fixed(Int8.self, code, &buffer)))
        case FormatCode.ushort: return .ushort(try fixed(UInt16.self, code, &buffer))
        case FormatCode.short: return .short(try fixed(Int16.self, code, &buffer))
        case FormatCode.uint: return .uint(try fixed(UInt32.self, code, &buffer))
        case FormatCode.int: return .int(try fixed(Int32.self, code, &buffer))
        case FormatCode.float: return .float(Float(bitPattern: try fixed(UInt32.self, code, &buffer)))
        case FormatCode.char:
            let value = try fixed(UInt32.self, code, &buffer)
            guard let scalar = Unicode.Scalar(value) else {
                throw AMQPError.malformed("char 0x\(String(value, radix: 16)) is not a Unicode scalar value")
            }
            return .char(scalar)
        case FormatCode.decimal32: return .decimal32(try fixed(UInt32.self, code, &buffer))
        case FormatCode.ulong: return .ulong(try fixed(UInt64.self, code, &buffer))
        case FormatCode.long: return .long(try fixed(Int64.self, code, &buffer))
        case FormatCode.double: return .double(Double(bitPattern: try fixed(UInt64.self, code, &buffer)))
        case FormatCode.timestamp: return .timestamp(try fixed(Int64.self, code, &buffer))
        case FormatCode.decimal64: return .decimal64(try fixed(UInt64.self, code, &buffer))
        case FormatCode.decimal128:
            try need(16, code, buffer)
            return .decimal128(buffer.readBytes(length: 16) ?? [])
        case FormatCode.uuid:
            try need(16, code, buffer)
            let uuid = buffer.readWithUnsafeReadableBytes { raw in
                (16, raw.loadUnaligned(as: uuid_t.self))
            }
            return .uuid(UUID(uuid: uuid))
        case FormatCode.vbin8, FormatCode.vbin32:
            var bytes = try variable(code, &buffer)
            return .binary(bytes.readBytes(length: bytes.readableBytes) ?? [])
        case FormatCode.str8, FormatCode.str32:
            return .string(try text(code, &buffer))
        case FormatCode.sym8, FormatCode.sym32:
            return .symbol(try text(code, &buffer))
        case FormatCode.list8, FormatCode.list32:
            try checkDepth(depth, FormatCode.name(code))
            var (content, count) = try compound(code, &buffer)
            try checkCount(count, fitsIn: content, code)
            var elements: [AMQPValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count {
                elements.append(try read(from: &content, depth: depth + 1))
            }
            try checkConsumed(content, code, count)
            return .list(elements)
        case FormatCode.map8, FormatCode.map32:
            try checkDepth(depth, FormatCode.name(code))
            var (content, count) = try compound(code, &buffer)
            guard count % 2 == 0 else {
                throw AMQPError.malformed("\(FormatCode.name(code)) declares \(count) elements, an odd count")
            }
            try checkCount(count, fitsIn: content, code)
            var entries: [AMQPMapEntry] = []
            entries.reserveCapacity(count / 2)
            for _ in 0..<(count / 2) {
                let key = try read(from: &content, depth: depth + 1)
                let value = try read(from: &content, depth: depth + 1)
                entries.append(AMQPMapEntry(key, value))
            }
            try checkConsumed(content, code, count)
            return .map(entries)
        case FormatCode.array8, FormatCode.array32:
            try checkDepth(depth, FormatCode.name(code))
            return .array(try array(code, &buffer, depth: depth))
        default:
            throw AMQPError.malformed("unknown constructor \(FormatCode.name(code))")
        }
    }

    // MARK: - Pieces

    private func need(_ count: Int, _ code: UInt8, _ buffer: ByteBuffer) throws {
        if buffer.readableBytes < count {
            throw AMQPError.malformed(
                "\(FormatCode.name(code)) needs \(count) bytes but \(buffer.readableBytes) remain"
            )
        }
    }

    private func fixed<T: FixedWidthInteger>(_ type: T.Type, _ code: UInt8, _ buffer: inout ByteBuffer) throws -> T {
        guard let value = buffer.readInteger(as: T.self) else {
            throw AMQPError.malformed(
                "\(FormatCode.name(code)) needs \(MemoryLayout<T>.size) bytes but \(buffer.readableBytes) remain"
            )
        }
        return value
    }

    /// The 1- or 4-byte length of a vbin/str/sym (the low nibble of the code says which), then that many bytes.
    private func variable(_ code: UInt8, _ buffer: inout ByteBuffer) throws -> ByteBuffer {
        let length = try readLength(wide: code & 0xf0 == 0xb0, code, &buffer)
        guard let bytes = buffer.readSlice(length: length) else {
            throw AMQPError.malformed(
                "\(FormatCode.name(code)) declares \(length) bytes but \(buffer.readableBytes) remain"
            )
        }
        return bytes
    }

    private func readLength(wide: Bool, _ code: UInt8, _ buffer: inout ByteBuffer) throws -> Int {
        if wide {
            return Int(try fixed(UInt32.self, code, &buffer))
        }
        return Int(try fixed(UInt8.self, code, &buffer))
    }

    private func text(_ code: UInt8, _ buffer: inout ByteBuffer) throws -> String {
        let bytes = try variable(code, &buffer)
        let text = bytes.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) }
        guard let text else {
            throw AMQPError.malformed("\(FormatCode.name(code)) is not valid UTF-8")
        }
        return text
    }

    /// The size and count of a list, map or array, and its content as a slice. The count is checked against the
    /// content size (every element takes at least one byte), so a lying count cannot reserve memory.
    private func compound(_ code: UInt8, _ buffer: inout ByteBuffer) throws -> (ByteBuffer, Int) {
        let wide = code & 0xf0 != 0xc0 && code & 0xf0 != 0xe0
        let width = wide ? 4 : 1
        let size = try readLength(wide: wide, code, &buffer)
        guard size <= buffer.readableBytes else {
            throw AMQPError.malformed(
                "\(FormatCode.name(code)) declares \(size) bytes but \(buffer.readableBytes) remain"
            )
        }
        guard size >= width, var content = buffer.readSlice(length: size) else {
            throw AMQPError.malformed("\(FormatCode.name(code)) declares \(size) bytes, too few for its count")
        }
        let count = try readLength(wide: wide, code, &content)
        return (content, count)
    }

    private func checkCount(_ count: Int, fitsIn content: ByteBuffer, _ code: UInt8) throws {
        if count > content.readableBytes {
            throw AMQPError.malformed(
                "\(FormatCode.name(code)) declares \(count) elements in \(content.readableBytes) bytes"
            )
        }
    }

    private func checkConsumed(_ content: ByteBuffer, _ code: UInt8, _ count: Int) throws {
        if content.readableBytes != 0 {
            throw AMQPError.malformed(
                "\(FormatCode.name(code)) has \(content.readableBytes) bytes left after its \(count) elements"
            )
        }
    }

    private mutating func array(_ code: UInt8, _ buffer: inout ByteBuffer, depth: Int) throws -> [AMQPValue] {
        var (content, count) = try compound(code, &buffer)
        let constructor = try readConstructor(&content, depth: depth + 1)
        if constructor.isZeroWidth {
            if count > zeroWidthElementsLeft {
                throw AMQPError.malformed(
                    "\(FormatCode.name(code)) of \(FormatCode.name(constructor.code)) declares \(count) elements, "
                        + "more than the \(zeroWidthElementsLeft) of \(limits.maxZeroWidthElements) "
                        + "zero-width elements left"
                )
            }
            zeroWidthElementsLeft -= count
        } else {
            try checkCount(count, fitsIn: content, code)
        }
        var elements: [AMQPValue] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            elements.append(try readElement(constructor, &content, depth: depth + 1))
        }
        try checkConsumed(content, code, count)
        return elements
    }

    private mutating func readConstructor(_ buffer: inout ByteBuffer, depth: Int) throws -> ArrayLayout {
        guard let code = buffer.readInteger(as: UInt8.self) else {
            throw AMQPError.malformed("array has no element constructor")
        }
        guard code == FormatCode.described else {
            return .primitive(code)
        }
        try checkDepth(depth, "array element descriptor")
        let descriptor = try read(from: &buffer, depth: depth + 1)
        let inner = try readConstructor(&buffer, depth: depth + 1)
        return .described(descriptor: descriptor, inner: inner)
    }

    private mutating func readElement(_ constructor: ArrayLayout, _ buffer: inout ByteBuffer, depth: Int) throws
        -> AMQPValue
    {
        switch constructor {
        case .primitive(let code):
            return try readData(code: code, from: &buffer, depth: depth)
        case .described(let descriptor, let inner):
            return .described(descriptor: descriptor, value: try readElement(inner, &buffer, depth: depth))
        }
    }
}

extension ArrayLayout {
    /// Whether elements under this constructor take no bytes, so their count is not bounded by the input size.
    var isZeroWidth: Bool {
        switch code {
        case FormatCode.null, FormatCode.boolTrue, FormatCode.boolFalse, FormatCode.uint0, FormatCode.ulong0,
            FormatCode.list0:
            true
        default:
            false
        }
    }
}
