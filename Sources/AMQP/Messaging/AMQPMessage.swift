import NIOCore

/// An AMQP 1.0 message (part 3.2): the sections around the body, in spec order.
public struct AMQPMessage: Sendable, Hashable {
    /// Transport headers (descriptor 0x70).
    public struct Header: AMQPComposite {
        public static let descriptorCode: UInt64 = 0x70
        public static let descriptorName = "amqp:header:list"

        public var durable: Bool
        public var priority: UInt8
        /// Milliseconds.
        public var ttl: UInt32?
        public var firstAcquirer: Bool
        public var deliveryCount: UInt32

        /// Creates the value; omitted arguments take the spec's defaults.
        public init(
            durable: Bool = false,
            priority: UInt8 = 4,
            ttl: UInt32? = nil,
            firstAcquirer: Bool = false,
            deliveryCount: UInt32 = 0
        ) {
            self.durable = durable
            self.priority = priority
            self.ttl = ttl
            self.firstAcquirer = firstAcquirer
            self.deliveryCount = deliveryCount
        }

        public init(fields: [AMQPValue]) throws {
            let reader = FieldReader(Self.self, fields)
            durable = try reader.bool(0, "durable") ?? false
            priority = try reader.ubyte(1, "priority") ?? 4
            ttl = try reader.uint(2, "ttl")
            firstAcquirer = try reader.bool(3, "first-acquirer") ?? false
            deliveryCount = try reader.uint(4, "delivery-count") ?? 0
        }

        public var fields: [AMQPValue] {
            [
                .bool(durable), .ubyte(priority), .optional(ttl, AMQPValue.uint), .bool(firstAcquirer),
                .uint(deliveryCount),
            ]
        }
    }

    /// The immutable properties of the message (descriptor 0x73).
    public struct Properties: AMQPComposite {
        public static let descriptorCode: UInt64 = 0x73
        public static let descriptorName = "amqp:properties:list"

        /// A ulong, uuid, binary or string.
        public var messageID: AMQPValue?
        public var userID: [UInt8]?
        public var to: String?
        public var subject: String?
        public var replyTo: String?
        /// A ulong, uuid, binary or string.
        public var correlationID: AMQPValue?
        /// A symbol on the wire.
        public var contentType: String?
        /// A symbol on the wire.
        public var contentEncoding: String?
        /// Milliseconds since the Unix epoch.
        public var absoluteExpiryTime: Int64?
        /// Milliseconds since the Unix epoch.
        public var creationTime: Int64?
        public var groupID: String?
        public var groupSequence: UInt32?
        public var replyToGroupID: String?

        /// Creates the value; omitted arguments take the spec's defaults.
        public init(
            messageID: AMQPValue? = nil,
            userID: [UInt8]? = nil,
            to: String? = nil,
            subject: String? = nil,
            replyTo: String? = nil,
            correlationID: AMQPValue? = nil,
            contentType: String? = nil,
            contentEncoding: String? = nil,
            absoluteExpiryTime: Int64? = nil,
            creationTime: Int64? = nil,
            groupID: String? = nil,
            groupSequence: UInt32? = nil,
            replyToGroupID: String? = nil
        ) {
            self.messageID = messageID
            self.userID = userID
            self.to = to
            self.subject = subject
            self.replyTo = replyTo
            self.correlationID = correlationID
            self.contentType = contentType
            self.contentEncoding = contentEncoding
            self.absoluteExpiryTime = absoluteExpiryTime
            self.creationTime = creationTime
            self.groupID = groupID
            self.groupSequence = groupSequence
            self.replyToGroupID = replyToGroupID
        }

        public init(fields: [AMQPValue]) throws {
            let reader = FieldReader(Self.self, fields)
            messageID = try reader.messageID(0, "message-id")
            userID = try reader.binary(1, "user-id")
            to = try reader.string(2, "to")
            subject = try reader.string(3, "subject")
            replyTo = try reader.string(4, "reply-to")
            correlationID = try reader.messageID(5, "correlation-id")
            contentType = try reader.symbol(6, "content-type")
            contentEncoding = try reader.symbol(7, "content-encoding")
            absoluteExpiryTime = try reader.timestamp(8, "absolute-expiry-time")
            creationTime = try reader.timestamp(9, "creation-time")
            groupID = try reader.string(10, "group-id")
            groupSequence = try reader.uint(11, "group-sequence")
            replyToGroupID = try reader.string(12, "reply-to-group-id")
        }

        /// All thirteen fields, trailing nulls included, as Azure Event Hubs writes them.
        public var fields: [AMQPValue] {
            [
                messageID ?? .null, .optional(userID, AMQPValue.binary), .optional(to, AMQPValue.string),
                .optional(subject, AMQPValue.string), .optional(replyTo, AMQPValue.string), correlationID ?? .null,
                .optional(contentType, AMQPValue.symbol), .optional(contentEncoding, AMQPValue.symbol),
                .optional(absoluteExpiryTime, AMQPValue.timestamp), .optional(creationTime, AMQPValue.timestamp),
                .optional(groupID, AMQPValue.string), .optional(groupSequence, AMQPValue.uint),
                .optional(replyToGroupID, AMQPValue.string),
            ]
        }
    }

    /// The body: data sections, amqp-sequence sections, or one amqp-value section.
    public enum Body: Sendable, Hashable {
        /// One data section (descriptor 0x75) per element; `.data([])` writes no body section.
        case data([[UInt8]])
        /// One amqp-sequence section (descriptor 0x76) per element.
        case sequence([[AMQPValue]])
        /// One amqp-value section (descriptor 0x77).
        case value(AMQPValue)
    }

    /// The message-format of a batch: every data section of the body is a complete encoded message.
    public static let batchFormat: UInt32 = 0x8001_3700

    public var header: Header?
    /// Descriptor 0x71.
    public var deliveryAnnotations: [AMQPMapEntry]?
    /// Descriptor 0x72.
    public var messageAnnotations: [AMQPMapEntry]?
    public var properties: Properties?
    /// Descriptor 0x74.
    public var applicationProperties: [AMQPMapEntry]?
    /// Decoding a message without a body section gives `.value(.null)`.
    public var body: Body
    /// Descriptor 0x78.
    public var footer: [AMQPMapEntry]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        header: Header? = nil,
        deliveryAnnotations: [AMQPMapEntry]? = nil,
        messageAnnotations: [AMQPMapEntry]? = nil,
        properties: Properties? = nil,
        applicationProperties: [AMQPMapEntry]? = nil,
        body: Body = .data([]),
        footer: [AMQPMapEntry]? = nil
    ) {
        self.header = header
        self.deliveryAnnotations = deliveryAnnotations
        self.messageAnnotations = messageAnnotations
        self.properties = properties
        self.applicationProperties = applicationProperties
        self.body = body
        self.footer = footer
    }
}

extension FieldReader {
    /// A message-id or correlation-id: ulong, uuid, binary or string.
    func messageID(_ index: Int, _ name: String) throws -> AMQPValue? {
        let value = self[index]
        switch value {
        case .null: return nil
        case .ulong, .uuid, .binary, .string: return value
        default: throw mismatch(name, expected: "ulong, uuid, binary or string", found: value)
        }
    }

    func timestamp(_ index: Int, _ name: String) throws -> Int64? {
        switch self[index] {
        case .null: return nil
        case .timestamp(let value): return value
        case let other: throw mismatch(name, expected: "timestamp", found: other)
        }
    }
}
