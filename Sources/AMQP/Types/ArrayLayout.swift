import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The element constructor an AMQP array shares among its elements: a format code, or a descriptor followed by
/// the constructor of the described values.
indirect enum ArrayLayout: Hashable {
    case primitive(UInt8)
    case described(descriptor: AMQPValue, inner: ArrayLayout)

    /// The smallest constructor that fits every element; nil when the elements are not all of one type.
    /// Zero-width constructors (true, false, uint0, ulong0) are never chosen: a shared constructor of that kind
    /// only works when every element is equal, and many decoders do not expect it.
    init?(_ elements: [AMQPValue]) {
        guard let first = elements.first else {
            self = .primitive(FormatCode.sym8)
            return
        }
        if case .described(let descriptor, _) = first {
            var inner: [AMQPValue] = []
            inner.reserveCapacity(elements.count)
            for element in elements {
                guard case .described(let other, let value) = element, other == descriptor else { return nil }
                inner.append(value)
            }
            guard let innerLayout = ArrayLayout(inner) else { return nil }
            self = .described(descriptor: descriptor, inner: innerLayout)
            return
        }
        var wide = false
        switch first {
        case .null:
            for element in elements { guard case .null = element else { return nil } }
            self = .primitive(FormatCode.null)
        case .bool:
            for element in elements { guard case .bool = element else { return nil } }
            self = .primitive(FormatCode.boolean)
        case .ubyte:
            for element in elements { guard case .ubyte = element else { return nil } }
            self = .primitive(FormatCode.ubyte)
        case .ushort:
            for element in elements { guard case .ushort = element else { return nil } }
            self = .primitive(FormatCode.ushort)
        case .uint:
            for element in elements {
                guard case .uint(let value) = element else { return nil }
                if value > UInt8.max { wide = true }
            }
            self = .primitive(wide ? FormatCode.uint : FormatCode.smallUInt)
        case .ulong:
            for element in elements {
                guard case .ulong(let value) = element else { return nil }
                if value > UInt8.max { wide = true }
            }
            self = .primitive(wide ? FormatCode.ulong : FormatCode.smallULong)
        case .byte:
            for element in elements { guard case .byte = element else { return nil } }
            self = .primitive(FormatCode.byte)
        case .short:
            for element in elements { guard case .short = element else { return nil } }
            self = .primitive(FormatCode.short)
        case .int:
            for element in elements {
                guard case .int(let value) = element else { return nil }
                if Int8(exactly: value) == nil { wide = true }
            }
            self = .primitive(wide ? FormatCode.int : FormatCode.smallInt)
        case .long:
            for element in elements {
                guard case .long(let value) = element else { return nil }
                if Int8(exactly: value) == nil { wide = true }
            }
            self = .primitive(wide ? FormatCode.long : FormatCode.smallLong)
        case .float:
            for element in elements { guard case .float = element else { return nil } }
            self = .primitive(FormatCode.float)
        case .double:
            for element in elements { guard case .double = element else { return nil } }
            self = .primitive(FormatCode.double)
        case .decimal32:
            for element in elements { guard case .decimal32 = element else { return nil } }
            self = .primitive(FormatCode.decimal32)
        case .decimal64:
            for element in elements { guard case .decimal64 = element else { return nil } }
            self = .primitive(FormatCode.decimal64)
        case .decimal128:
            for element in elements { guard case .decimal128 = element else { return nil } }
            self = .primitive(FormatCode.decimal128)
        case .char:
            for element in elements { guard case .char = element else { return nil } }
            self = .primitive(FormatCode.char)
        case .timestamp:
            for element in elements { guard case .timestamp = element else { return nil } }
            self = .primitive(FormatCode.timestamp)
        case .uuid:
            for element in elements { guard case .uuid = element else { return nil } }
            self = .primitive(FormatCode.uuid)
        case .binary:
            for element in elements {
                guard case .binary(let bytes) = element else { return nil }
                if bytes.count > UInt8.max { wide = true }
            }
            self = .primitive(wide ? FormatCode.vbin32 : FormatCode.vbin8)
        case .string:
            for element in elements {
                guard case .string(let text) = element else { return nil }
                if text.utf8.count > UInt8.max { wide = true }
            }
            self = .primitive(wide ? FormatCode.str32 : FormatCode.str8)
        case .symbol:
            for element in elements {
                guard case .symbol(let text) = element else { return nil }
                if text.utf8.count > UInt8.max { wide = true }
            }
            self = .primitive(wide ? FormatCode.sym32 : FormatCode.sym8)
        case .list:
            for element in elements {
                guard case .list(let items) = element else { return nil }
                var content = 0
                for item in items { content += item.encodedSize }
                if !AMQPValue.fitsCompound8(content: content, count: items.count) { wide = true }
            }
            self = .primitive(wide ? FormatCode.list32 : FormatCode.list8)
        case .map:
            for element in elements {
                guard case .map(let entries) = element else { return nil }
                var content = 0
                for entry in entries { content += entry.key.encodedSize + entry.value.encodedSize }
                if !AMQPValue.fitsCompound8(content: content, count: entries.count * 2) { wide = true }
            }
            self = .primitive(wide ? FormatCode.map32 : FormatCode.map8)
        case .array:
            for element in elements {
                guard case .array(let items) = element else { return nil }
                guard let inner = ArrayLayout(items) else { return nil }
                var content = inner.constructorSize
                for item in items { content += item.dataSize(inner) }
                if !AMQPValue.fitsCompound8(content: content, count: items.count) { wide = true }
            }
            self = .primitive(wide ? FormatCode.array32 : FormatCode.array8)
        case .described:
            return nil
        }
    }

    var constructorSize: Int {
        switch self {
        case .primitive: 1
        case .described(let descriptor, let inner): 1 + descriptor.encodedSize + inner.constructorSize
        }
    }

    func writeConstructor(into buffer: inout ByteBuffer) {
        switch self {
        case .primitive(let code):
            buffer.writeInteger(code)
        case .described(let descriptor, let inner):
            buffer.writeInteger(FormatCode.described)
            descriptor.encode(into: &buffer)
            inner.writeConstructor(into: &buffer)
        }
    }

    var code: UInt8 {
        switch self {
        case .primitive(let code): code
        case .described(_, let inner): inner.code
        }
    }
}

extension AMQPValue {
    /// The bytes of this value after an array's shared constructor.
    func dataSize(_ layout: ArrayLayout) -> Int {
        if case .described(_, let inner) = layout {
            guard case .described(_, let value) = self else { return 0 }
            return value.dataSize(inner)
        }
        let code = layout.code
        switch self {
        case .null: return 0
        case .bool, .ubyte, .byte: return 1
        case .ushort, .short: return 2
        case .uint: return code == FormatCode.smallUInt ? 1 : 4
        case .ulong: return code == FormatCode.smallULong ? 1 : 8
        case .int: return code == FormatCode.smallInt ? 1 : 4
        case .long: return code == FormatCode.smallLong ? 1 : 8
        case .float, .decimal32, .char: return 4
        case .double, .decimal64, .timestamp: return 8
        case .decimal128, .uuid: return 16
        case .binary(let bytes): return (code == FormatCode.vbin8 ? 1 : 4) + bytes.count
        case .string(let text), .symbol(let text): return (code & 0xf0 == 0xa0 ? 1 : 4) + text.utf8.count
        case .list(let items):
            var content = 0
            for item in items { content += item.encodedSize }
            return (code == FormatCode.list8 ? 2 : 8) + content
        case .map(let entries):
            var content = 0
            for entry in entries { content += entry.key.encodedSize + entry.value.encodedSize }
            return (code == FormatCode.map8 ? 2 : 8) + content
        case .array(let items):
            guard let inner = ArrayLayout(items) else { return 0 }
            var content = inner.constructorSize
            for item in items { content += item.dataSize(inner) }
            return (code == FormatCode.array8 ? 2 : 8) + content
        case .described: return 0
        }
    }

    /// Writes this value's bytes after an array's shared constructor; the layout was computed from the elements,
    /// so the cases always agree.
    func writeData(_ layout: ArrayLayout, into buffer: inout ByteBuffer) {
        if case .described(_, let inner) = layout {
            if case .described(_, let value) = self {
                value.writeData(inner, into: &buffer)
            }
            return
        }
        let code = layout.code
        switch self {
        case .null:
            break
        case .bool(let value):
            buffer.writeInteger(value ? 1 : 0 as UInt8)
        case .ubyte(let value):
            buffer.writeInteger(value)
        case .byte(let value):
            buffer.writeInteger(value)
        case .ushort(let value):
            buffer.writeInteger(value)
        case .short(let value):
            buffer.writeInteger(value)
        case .uint(let value):
            if code == FormatCode.smallUInt {
                buffer.writeInteger(UInt8(truncatingIfNeeded: value))
            } else {
                buffer.writeInteger(value)
            }
        case .ulong(let value):
            if code == FormatCode.smallULong {
                buffer.writeInteger(UInt8(truncatingIfNeeded: value))
            } else {
                buffer.writeInteger(value)
            }
        case .int(let value):
            if code == FormatCode.smallInt {
                buffer.writeInteger(Int8(truncatingIfNeeded: value))
            } else {
                buffer.writeInteger(value)
            }
        case .long(let value):
            if code == FormatCode.smallLong {
                buffer.writeInteger(Int8(truncatingIfNeeded: value))
            } else {
                buffer.writeInteger(value)
            }
        case .float(let value):
            buffer.writeInteger(value.bitPattern)
        case .double(let value):
            buffer.writeInteger(value.bitPattern)
        case .decimal32(let value):
            buffer.writeInteger(value)
        case .decimal64(let value):
            buffer.writeInteger(value)
        case .decimal128(let bytes):
            Self.writeDecimal128(bytes, into: &buffer)
        case .char(let value):
            buffer.writeInteger(value.value)
        case .timestamp(let value):
            buffer.writeInteger(value)
        case .uuid(let value):
            withUnsafeBytes(of: value.uuid) { _ = buffer.writeBytes($0) }
        case .binary(let bytes):
            if code == FormatCode.vbin8 {
                buffer.writeInteger(UInt8(truncatingIfNeeded: bytes.count))
            } else {
                buffer.writeInteger(UInt32(truncatingIfNeeded: bytes.count))
            }
            buffer.writeBytes(bytes)
        case .string(let text), .symbol(let text):
            let length = text.utf8.count
            if code & 0xf0 == 0xa0 {
                buffer.writeInteger(UInt8(truncatingIfNeeded: length))
            } else {
                buffer.writeInteger(UInt32(truncatingIfNeeded: length))
            }
            buffer.writeString(text)
        case .list(let items):
            Self.writeCompoundBody(count: items.count, wide: code == FormatCode.list32, into: &buffer) {
                for item in items { item.encode(into: &$0) }
            }
        case .map(let entries):
            Self.writeCompoundBody(count: entries.count * 2, wide: code == FormatCode.map32, into: &buffer) {
                for entry in entries {
                    entry.key.encode(into: &$0)
                    entry.value.encode(into: &$0)
                }
            }
        case .array(let items):
            guard let inner = ArrayLayout(items) else { return }
            Self.writeCompoundBody(count: items.count, wide: code == FormatCode.array32, into: &buffer) {
                inner.writeConstructor(into: &$0)
                for item in items { item.writeData(inner, into: &$0) }
            }
        case .described:
            break
        }
    }
}
