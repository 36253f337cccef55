/// Attaches a link to a session (descriptor 0x12).
public struct AMQPAttach: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x12
    public static let descriptorName = "amqp:attach:list"

    public var name: String
    public var handle: UInt32
    public var role: AMQPRole
    public var sndSettleMode: AMQPSenderSettleMode
    public var rcvSettleMode: AMQPReceiverSettleMode
    public var source: AMQPSource?
    public var target: AMQPTarget?
    public var unsettled: [AMQPMapEntry]?
    public var incompleteUnsettled: Bool
    public var initialDeliveryCount: UInt32?
    public var maxMessageSize: UInt64?
    public var offeredCapabilities: [String]?
    public var desiredCapabilities: [String]?
    public var properties: [AMQPMapEntry]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        name: String,
        handle: UInt32,
        role: AMQPRole,
        sndSettleMode: AMQPSenderSettleMode = .mixed,
        rcvSettleMode: AMQPReceiverSettleMode = .first,
        source: AMQPSource? = nil,
        target: AMQPTarget? = nil,
        unsettled: [AMQPMapEntry]? = nil,
        incompleteUnsettled: Bool = false,
        initialDeliveryCount: UInt32? = nil,
        maxMessageSize: UInt64? = nil,
        offeredCapabilities: [String]? = nil,
        desiredCapabilities: [String]? = nil,
        properties: [AMQPMapEntry]? = nil
    ) {
        self.name = name
        self.handle = handle
        self.role = role
        self.sndSettleMode = sndSettleMode
        self.rcvSettleMode = rcvSettleMode
        self.source = source
        self.target = target
        self.unsettled = unsettled
        self.incompleteUnsettled = incompleteUnsettled
        self.initialDeliveryCount = initialDeliveryCount
        self.maxMessageSize = maxMessageSize
        self.offeredCapabilities = offeredCapabilities
        self.desiredCapabilities = desiredCapabilities
        self.properties = properties
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        name = try reader.required(reader.string(0, "name"), "name")
        handle = try reader.required(reader.uint(1, "handle"), "handle")
        role = try reader.required(reader.role(2, "role"), "role")
        sndSettleMode = try reader.senderSettleMode(3, "snd-settle-mode") ?? .mixed
        rcvSettleMode = try reader.receiverSettleMode(4, "rcv-settle-mode") ?? .first
        source = try reader.composite(5, "source", as: AMQPSource.self)
        target = try reader.composite(6, "target", as: AMQPTarget.self)
        unsettled = try reader.map(7, "unsettled")
        incompleteUnsettled = try reader.bool(8, "incomplete-unsettled") ?? false
        initialDeliveryCount = try reader.uint(9, "initial-delivery-count")
        maxMessageSize = try reader.ulong(10, "max-message-size")
        offeredCapabilities = try reader.symbols(11, "offered-capabilities")
        desiredCapabilities = try reader.symbols(12, "desired-capabilities")
        properties = try reader.map(13, "properties")
    }

    public var fields: [AMQPValue] {
        [
            .string(name), .uint(handle), .bool(role.wireValue), .ubyte(sndSettleMode.rawValue),
            .ubyte(rcvSettleMode.rawValue), .optional(source) { $0.described }, .optional(target) { $0.described },
            .fieldsMap(unsettled), .bool(incompleteUnsettled), .optional(initialDeliveryCount, AMQPValue.uint),
            .optional(maxMessageSize, AMQPValue.ulong), .symbols(offeredCapabilities), .symbols(desiredCapabilities),
            .fieldsMap(properties),
        ]
    }
}

/// Flow control for a session, and for a link when `handle` is set (descriptor 0x13).
public struct AMQPFlow: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x13
    public static let descriptorName = "amqp:flow:list"

    public var nextIncomingID: UInt32?
    public var incomingWindow: UInt32
    public var nextOutgoingID: UInt32
    public var outgoingWindow: UInt32
    public var handle: UInt32?
    public var deliveryCount: UInt32?
    public var linkCredit: UInt32?
    public var available: UInt32?
    public var drain: Bool
    public var echo: Bool
    public var properties: [AMQPMapEntry]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        nextIncomingID: UInt32? = nil,
        incomingWindow: UInt32,
        nextOutgoingID: UInt32,
        outgoingWindow: UInt32,
        handle: UInt32? = nil,
        deliveryCount: UInt32? = nil,
        linkCredit: UInt32? = nil,
        available: UInt32? = nil,
        drain: Bool = false,
        echo: Bool = false,
        properties: [AMQPMapEntry]? = nil
    ) {
        self.nextIncomingID = nextIncomingID
        self.incomingWindow = incomingWindow
        self.nextOutgoingID = nextOutgoingID
        self.outgoingWindow = outgoingWindow
        self.handle = handle
        self.deliveryCount = deliveryCount
        self.linkCredit = linkCredit
        self.available = available
        self.drain = drain
        self.echo = echo
        self.properties = properties
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        nextIncomingID = try reader.uint(0, "next-incoming-id")
        incomingWindow = try reader.required(reader.uint(1, "incoming-window"), "incoming-window")
        nextOutgoingID = try reader.required(reader.uint(2, "next-outgoing-id"), "next-outgoing-id")
        outgoingWindow = try reader.required(reader.uint(3, "outgoing-window"), "outgoing-window")
        handle = try reader.uint(4, "handle")
        deliveryCount = try reader.uint(5, "delivery-count")
        linkCredit = try reader.uint(6, "link-credit")
        available = try reader.uint(7, "available")
        drain = try reader.bool(8, "drain") ?? false
        echo = try reader.bool(9, "echo") ?? false
        properties = try reader.map(10, "properties")
    }

    public var fields: [AMQPValue] {
        [
            .optional(nextIncomingID, AMQPValue.uint), .uint(incomingWindow), .uint(nextOutgoingID),
            .uint(outgoingWindow), .optional(handle, AMQPValue.uint), .optional(deliveryCount, AMQPValue.uint),
            .optional(linkCredit, AMQPValue.uint), .optional(available, AMQPValue.uint), .bool(drain), .bool(echo),
            .fieldsMap(properties),
        ]
    }
}

/// Carries (part of) a message on a link; the message bytes follow the performative in the frame (descriptor 0x14).
public struct AMQPTransfer: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x14
    public static let descriptorName = "amqp:transfer:list"

    public var handle: UInt32
    public var deliveryID: UInt32?
    public var deliveryTag: [UInt8]?
    public var messageFormat: UInt32?
    public var settled: Bool?
    public var more: Bool
    public var rcvSettleMode: AMQPReceiverSettleMode?
    public var state: AMQPDeliveryState?
    public var resume: Bool
    public var aborted: Bool
    public var batchable: Bool

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        handle: UInt32,
        deliveryID: UInt32? = nil,
        deliveryTag: [UInt8]? = nil,
        messageFormat: UInt32? = nil,
        settled: Bool? = nil,
        more: Bool = false,
        rcvSettleMode: AMQPReceiverSettleMode? = nil,
        state: AMQPDeliveryState? = nil,
        resume: Bool = false,
        aborted: Bool = false,
        batchable: Bool = false
    ) {
        self.handle = handle
        self.deliveryID = deliveryID
        self.deliveryTag = deliveryTag
        self.messageFormat = messageFormat
        self.settled = settled
        self.more = more
        self.rcvSettleMode = rcvSettleMode
        self.state = state
        self.resume = resume
        self.aborted = aborted
        self.batchable = batchable
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        handle = try reader.required(reader.uint(0, "handle"), "handle")
        deliveryID = try reader.uint(1, "delivery-id")
        deliveryTag = try reader.binary(2, "delivery-tag")
        messageFormat = try reader.uint(3, "message-format")
        settled = try reader.bool(4, "settled")
        more = try reader.bool(5, "more") ?? false
        rcvSettleMode = try reader.receiverSettleMode(6, "rcv-settle-mode")
        state = try reader.deliveryState(7, "state")
        resume = try reader.bool(8, "resume") ?? false
        aborted = try reader.bool(9, "aborted") ?? false
        batchable = try reader.bool(10, "batchable") ?? false
    }

    public var fields: [AMQPValue] {
        [
            .uint(handle), .optional(deliveryID, AMQPValue.uint), .optional(deliveryTag, AMQPValue.binary),
            .optional(messageFormat, AMQPValue.uint), .optional(settled, AMQPValue.bool), .bool(more),
            .optional(rcvSettleMode) { .ubyte($0.rawValue) }, .optional(state) { $0.described }, .bool(resume),
            .bool(aborted), .bool(batchable),
        ]
    }
}

/// Settles or updates the state of a range of deliveries (descriptor 0x15).
public struct AMQPDisposition: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x15
    public static let descriptorName = "amqp:disposition:list"

    public var role: AMQPRole
    public var first: UInt32
    public var last: UInt32?
    public var settled: Bool
    public var state: AMQPDeliveryState?
    public var batchable: Bool

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        role: AMQPRole,
        first: UInt32,
        last: UInt32? = nil,
        settled: Bool = false,
        state: AMQPDeliveryState? = nil,
        batchable: Bool = false
    ) {
        self.role = role
        self.first = first
        self.last = last
        self.settled = settled
        self.state = state
        self.batchable = batchable
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        role = try reader.required(reader.role(0, "role"), "role")
        first = try reader.required(reader.uint(1, "first"), "first")
        last = try reader.uint(2, "last")
        settled = try reader.bool(3, "settled") ?? false
        state = try reader.deliveryState(4, "state")
        batchable = try reader.bool(5, "batchable") ?? false
    }

    public var fields: [AMQPValue] {
        [
            .bool(role.wireValue), .uint(first), .optional(last, AMQPValue.uint), .bool(settled),
            .optional(state) { $0.described }, .bool(batchable),
        ]
    }
}

/// Detaches a link, closing it when `closed` is true (descriptor 0x16).
public struct AMQPDetach: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x16
    public static let descriptorName = "amqp:detach:list"

    public var handle: UInt32
    public var closed: Bool
    public var error: AMQPErrorCondition?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(handle: UInt32, closed: Bool = false, error: AMQPErrorCondition? = nil) {
        self.handle = handle
        self.closed = closed
        self.error = error
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        handle = try reader.required(reader.uint(0, "handle"), "handle")
        closed = try reader.bool(1, "closed") ?? false
        error = try reader.composite(2, "error", as: AMQPErrorCondition.self)
    }

    public var fields: [AMQPValue] {
        [.uint(handle), .bool(closed), .optional(error) { $0.described }]
    }
}
