import NIOCore

/// The section descriptors of part 3.2, in the order a message carries them.
enum MessageSection: UInt64 {
    case header = 0x70
    case deliveryAnnotations = 0x71
    case messageAnnotations = 0x72
    case properties = 0x73
    case applicationProperties = 0x74
    case data = 0x75
    case sequence = 0x76
    case value = 0x77
    case footer = 0x78

    init?(descriptor: AMQPValue) {
        switch descriptor {
        case .ulong(let code):
            self.init(rawValue: code)
        case .symbol(let name):
            switch name {
            case "amqp:header:list": self = .header
            case "amqp:delivery-annotations:map": self = .deliveryAnnotations
            case "amqp:message-annotations:map": self = .messageAnnotations
            case "amqp:properties:list": self = .properties
            case "amqp:application-properties:map": self = .applicationProperties
            case "amqp:data:binary": self = .data
            case "amqp:amqp-sequence:list": self = .sequence
            case "amqp:amqp-value:*": self = .value
            case "amqp:footer:map": self = .footer
            default: return nil
            }
        default:
            return nil
        }
    }

    var name: String {
        switch self {
        case .header: "header"
        case .deliveryAnnotations: "delivery-annotations"
        case .messageAnnotations: "message-annotations"
        case .properties: "properties"
        case .applicationProperties: "application-properties"
        case .data: "data"
        case .sequence: "amqp-sequence"
        case .value: "amqp-value"
        case .footer: "footer"
        }
    }
}

extension AMQPMessage {
    /// Writes the sections in spec order. An empty `.data([])` body writes no body section.
    public func encode(into buffer: inout ByteBuffer) {
        if let header {
            header.described.encode(into: &buffer)
        }
        Self.writeMapSection(.deliveryAnnotations, deliveryAnnotations, into: &buffer)
        Self.writeMapSection(.messageAnnotations, messageAnnotations, into: &buffer)
        if let properties {
            properties.described.encode(into: &buffer)
        }
        Self.writeMapSection(.applicationProperties, applicationProperties, into: &buffer)
        switch body {
        case .data(let sections):
            for bytes in sections {
                Self.writeSectionDescriptor(.data, into: &buffer)
                AMQPValue.binary(bytes).encode(into: &buffer)
            }
        case .sequence(let sections):
            for elements in sections {
                Self.writeSectionDescriptor(.sequence, into: &buffer)
                AMQPValue.writeList(elements, into: &buffer)
            }
        case .value(let value):
            Self.writeSectionDescriptor(.value, into: &buffer)
            value.encode(into: &buffer)
        }
        Self.writeMapSection(.footer, footer, into: &buffer)
    }

    /// The encoded sections as bytes.
    public func encoded() -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        encode(into: &buffer)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    private static func writeSectionDescriptor(_ section: MessageSection, into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(FormatCode.described, FormatCode.smallULong, UInt8(section.rawValue))
    }

    private static func writeMapSection(
        _ section: MessageSection, _ entries: [AMQPMapEntry]?, into buffer: inout ByteBuffer
    ) {
        guard let entries else { return }
        writeSectionDescriptor(section, into: &buffer)
        AMQPValue.writeMap(entries, into: &buffer)
    }

    /// Reads every section of an encoded message (a transfer's payload, or one data section of a batch).
    ///
    /// - Throws: `AMQPError` `.malformedData` when a section is not a described value, has an unknown
    ///   descriptor, is out of spec order or repeated, mixes body kinds, or its contents are wrong.
    public static func decode(from bytes: ByteBuffer) throws -> AMQPMessage {
        var buffer = bytes
        var message = AMQPMessage(body: .value(.null))
        var last: MessageSection?
        var data: [[UInt8]] = []
        var sequences: [[AMQPValue]] = []
        var sawBody = false
        var reader = AMQPValueReader(limits: .default)
        while buffer.readableBytes > 0 {
            let offset = bytes.readableBytes - buffer.readableBytes
            let value = try reader.read(from: &buffer, depth: 0)
            guard case .described(let descriptor, let content) = value else {
                throw AMQPError.malformed(
                    "message section at byte \(offset): expected a described value, found \(value.typeName)")
            }
            guard let section = MessageSection(descriptor: descriptor) else {
                throw AMQPError.malformed(
                    "message section at byte \(offset): unknown descriptor \(describeDescriptor(descriptor))"
                )
            }
            if let last {
                let repeatable = section == last && (section == .data || section == .sequence)
                let bodyKinds: Set<MessageSection> = [.data, .sequence, .value]
                if !repeatable && section.rawValue <= last.rawValue
                    || bodyKinds.contains(section) && bodyKinds.contains(last) && section != last
                {
                    throw AMQPError.malformed("message: \(section.name) section after \(last.name) section")
                }
            }
            last = section
            switch section {
            case .header:
                message.header = try Header(described: value)
            case .deliveryAnnotations:
                message.deliveryAnnotations = try mapSection(section, content)
            case .messageAnnotations:
                message.messageAnnotations = try mapSection(section, content)
            case .properties:
                message.properties = try Properties(described: value)
            case .applicationProperties:
                message.applicationProperties = try mapSection(section, content)
            case .data:
                guard case .binary(let bytes) = content else {
                    throw AMQPError.malformed("message data section: expected binary, found \(content.typeName)")
                }
                data.append(bytes)
                sawBody = true
            case .sequence:
                guard case .list(let elements) = content else {
                    throw AMQPError.malformed("message amqp-sequence section: expected list, found \(content.typeName)")
                }
                sequences.append(elements)
                sawBody = true
            case .value:
                message.body = .value(content)
                sawBody = true
            case .footer:
                message.footer = try mapSection(section, content)
            }
        }
        if sawBody {
            if !data.isEmpty {
                message.body = .data(data)
            } else if !sequences.isEmpty {
                message.body = .sequence(sequences)
            }
        }
        return message
    }

    private static func mapSection(_ section: MessageSection, _ content: AMQPValue) throws -> [AMQPMapEntry]? {
        switch content {
        case .map(let entries): return entries
        case .null: return nil
        default: throw AMQPError.malformed("message \(section.name) section: expected map, found \(content.typeName)")
        }
    }
}
