import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension AMQPValue {
    /// Writes the value with the smallest encoding that holds it: uint0/ulong0, smalluint/smallulong,
    /// smallint/smalllong, vbin8/str8/sym8, list0/list8/map8/array8 when they fit.
    ///
    /// Arrays use the smallest element constructor that fits every element (str8 if every string is under 256
    /// bytes); an array whose elements are not all of one type is written as a list, the nearest valid AMQP.
    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .null:
            buffer.writeInteger(FormatCode.null)
        case .bool(let value):
            buffer.writeInteger(value ? FormatCode.boolTrue : FormatCode.boolFalse)
        case .ubyte(let value):
            buffer.writeMultipleIntegers(FormatCode.ubyte, value)
        case .ushort(let value):
            buffer.writeMultipleIntegers(FormatCode.ushort, value)
        case .uint(let value):
            if value == 0 {
                buffer.writeInteger(FormatCode.uint0)
            } else if value <= UInt8.max {
                buffer.writeMultipleIntegers(FormatCode.smallUInt, UInt8(truncatingIfNeeded: value))
            } else {
                buffer.writeMultipleIntegers(FormatCode.uint, value)
            }
        case .ulong(let value):
            if value == 0 {
                buffer.writeInteger(FormatCode.ulong0)
            } else if value <= UInt8.max {
                buffer.writeMultipleIntegers(FormatCode.smallULong, UInt8(truncatingIfNeeded: value))
            } else {
                buffer.writeMultipleIntegers(FormatCode.ulong, value)
            }
        case .byte(let value):
            buffer.writeMultipleIntegers(FormatCode.byte, value)
        case .short(let value):
            buffer.writeMultipleIntegers(FormatCode.short, value)
        case .int(let value):
            if let small = Int8(exactly: value) {
                buffer.writeMultipleIntegers(FormatCode.smallInt, small)
            } else {
                buffer.writeMultipleIntegers(FormatCode.int, value)
            }
        case .long(let value):
            if let small = Int8(exactly: value) {
                buffer.writeMultipleIntegers(FormatCode.smallLong, small)
            } else {
                buffer.writeMultipleIntegers(FormatCode.long, value)
            }
        case .float(let value):
            buffer.writeMultipleIntegers(FormatCode.float, value.bitPattern)
        case .double(let value):
            buffer.writeMultipleIntegers(FormatCode.double, value.bitPattern)
        case .decimal32(let value):
            buffer.writeMultipleIntegers(FormatCode.decimal32, value)
        case .decimal64(let value):
            buffer.writeMultipleIntegers(FormatCode.decimal64, value)
        case .decimal128(let bytes):
            buffer.writeInteger(FormatCode.decimal128)
            Self.writeDecimal128(bytes, into: &buffer)
        case .char(let value):
            buffer.writeMultipleIntegers(FormatCode.char, value.value)
        case .timestamp(let value):
            buffer.writeMultipleIntegers(FormatCode.timestamp, value)
        case .uuid(let value):
            buffer.writeInteger(FormatCode.uuid)
            withUnsafeBytes(of: value.uuid) { _ = buffer.writeBytes($0) }
        case .binary(let bytes):
            if bytes.count <= UInt8.max {
                buffer.writeMultipleIntegers(FormatCode.vbin8, UInt8(truncatingIfNeeded: bytes.count))
            } else {
                buffer.writeMultipleIntegers(FormatCode.vbin32, UInt32(truncatingIfNeeded: bytes.count))
            }
            buffer.writeBytes(bytes)
        case .string(let text):
            Self.writeText(text, code8: FormatCode.str8, code32: FormatCode.str32, into: &buffer)
        case .symbol(let text):
            Self.writeText(text, code8: FormatCode.sym8, code32: FormatCode.sym32, into: &buffer)
        case .list(let elements):
            Self.writeList(elements, into: &buffer)
        case .map(let entries):
            Self.writeMap(entries, into: &buffer)
        case .array(let elements):
            guard let layout = ArrayLayout(elements) else {
                Self.writeList(elements, into: &buffer)
                return
            }
            Self.writeCompound(
                count: elements.count, code8: FormatCode.array8, code32: FormatCode.array32, into: &buffer
            ) {
                layout.writeConstructor(into: &$0)
                for element in elements {
                    element.writeData(layout, into: &$0)
                }
            }
        case .described(let descriptor, let value):
            buffer.writeInteger(FormatCode.described)
            descriptor.encode(into: &buffer)
            value.encode(into: &buffer)
        }
    }

    /// The number of bytes `encode(into:)` writes.
    public var encodedSize: Int {
        switch self {
        case .null, .bool: return 1
        case .ubyte, .byte: return 2
        case .ushort, .short: return 3
        case .uint(let value): return value == 0 ? 1 : value <= UInt8.max ? 2 : 5
        case .ulong(let value): return value == 0 ? 1 : value <= UInt8.max ? 2 : 9
        case .int(let value): return Int8(exactly: value) != nil ? 2 : 5
        case .long(let value): return Int8(exactly: value) != nil ? 2 : 9
        case .float, .decimal32, .char: return 5
        case .double, .decimal64, .timestamp: return 9
        case .decimal128, .uuid: return 17
        case .binary(let bytes): return Self.variableSize(bytes.count)
        case .string(let text), .symbol(let text): return Self.variableSize(text.utf8.count)
        case .list(let elements):
            if elements.isEmpty { return 1 }
            var content = 0
            for element in elements { content += element.encodedSize }
            return Self.compoundSize(content: content, count: elements.count)
        case .map(let entries):
            var content = 0
            for entry in entries { content += entry.key.encodedSize + entry.value.encodedSize }
            return Self.compoundSize(content: content, count: entries.count * 2)
        case .array(let elements):
            guard let layout = ArrayLayout(elements) else {
                return AMQPValue.list(elements).encodedSize
            }
            var content = layout.constructorSize
            for element in elements { content += element.dataSize(layout) }
            return Self.compoundSize(content: content, count: elements.count)
        case .described(let descriptor, let value):
            return 1 + descriptor.encodedSize + value.encodedSize
        }
    }

    /// The encoded bytes, for tests and for callers that need an array.
    func encodedBytes() -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: encodedSize)
        encode(into: &buffer)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    // MARK: - Helpers shared with arrays

    static func variableSize(_ length: Int) -> Int {
        length <= UInt8.max ? 2 + length : 5 + length
    }

    /// Constructor, size, count and content of a list, map or array that picks the 8-bit form when it fits.
    static func compoundSize(content: Int, count: Int) -> Int {
        fitsCompound8(content: content, count: count) ? 3 + content : 9 + content
    }

    static func fitsCompound8(content: Int, count: Int) -> Bool {
        content + 1 <= UInt8.max && count <= UInt8.max
    }

    static func writeDecimal128(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
        if bytes.count == 16 {
            buffer.writeBytes(bytes)
        } else {
            buffer.writeBytes(bytes.prefix(16))
            buffer.writeRepeatingByte(0, count: max(0, 16 - bytes.count))
        }
    }

    static func writeText(_ text: String, code8: UInt8, code32: UInt8, into buffer: inout ByteBuffer) {
        let length = text.utf8.count
        if length <= UInt8.max {
            buffer.writeMultipleIntegers(code8, UInt8(truncatingIfNeeded: length))
        } else {
            buffer.writeMultipleIntegers(code32, UInt32(truncatingIfNeeded: length))
        }
        buffer.writeString(text)
    }

    static func writeList(_ elements: [AMQPValue], into buffer: inout ByteBuffer) {
        if elements.isEmpty {
            buffer.writeInteger(FormatCode.list0)
            return
        }
        writeCompound(count: elements.count, code8: FormatCode.list8, code32: FormatCode.list32, into: &buffer) {
            for element in elements {
                element.encode(into: &$0)
            }
        }
    }

    static func writeMap(_ entries: [AMQPMapEntry], into buffer: inout ByteBuffer) {
        writeCompound(count: entries.count * 2, code8: FormatCode.map8, code32: FormatCode.map32, into: &buffer) {
            for entry in entries {
                entry.key.encode(into: &$0)
                entry.value.encode(into: &$0)
            }
        }
    }

    /// Writes a compound with room for the 32-bit header, then moves the content down to the 8-bit header when
    /// it fits. Sizes are known only after writing, and the move is at most 254 bytes, so this is cheaper than
    /// measuring every nested value before writing it.
    static func writeCompound(
        count: Int,
        code8: UInt8,
        code32: UInt8,
        into buffer: inout ByteBuffer,
        content: (inout ByteBuffer) -> Void
    ) {
        let start = buffer.writerIndex
        buffer.writeMultipleIntegers(code32, UInt32(0), UInt32(0))
        content(&buffer)
        let contentSize = buffer.writerIndex - start - 9
        if fitsCompound8(content: contentSize, count: count) {
            buffer.setMultipleIntegers(
                code8, UInt8(truncatingIfNeeded: contentSize + 1), UInt8(truncatingIfNeeded: count), at: start)
            moveBytes(in: &buffer, from: start + 9, to: start + 3, length: contentSize)
            buffer.moveWriterIndex(to: start + 3 + contentSize)
        } else {
            buffer.setMultipleIntegers(
                code32,
                UInt32(truncatingIfNeeded: contentSize + 4),
                UInt32(truncatingIfNeeded: count),
                at: start
            )
        }
    }

    /// Writes a compound element of an array, whose header width (1 or 4 bytes) the array's constructor fixed.
    static func writeCompoundBody(
        count: Int, wide: Bool, into buffer: inout ByteBuffer, content: (inout ByteBuffer) -> Void
    ) {
        let start = buffer.writerIndex
        if wide {
            buffer.writeMultipleIntegers(UInt32(0), UInt32(0))
        } else {
            buffer.writeMultipleIntegers(UInt8(0), UInt8(0))
        }
        content(&buffer)
        let headerSize = wide ? 8 : 2
        let contentSize = buffer.writerIndex - start - headerSize
        if wide {
            buffer.setMultipleIntegers(
                UInt32(truncatingIfNeeded: contentSize + 4), UInt32(truncatingIfNeeded: count), at: start)
        } else {
            buffer.setMultipleIntegers(
                UInt8(truncatingIfNeeded: contentSize + 1), UInt8(truncatingIfNeeded: count), at: start)
        }
    }

    private static func moveBytes(in buffer: inout ByteBuffer, from source: Int, to destination: Int, length: Int) {
        guard length > 0 else { return }
        let base = buffer.readerIndex
        buffer.withUnsafeMutableReadableBytes { bytes in
            guard let pointer = bytes.baseAddress else { return }
            // copyMemory on raw pointers is a memmove, so the overlapping ranges are fine.
            (pointer + (destination - base)).copyMemory(from: pointer + (source - base), byteCount: length)
        }
    }
}
