/// The error condition carried by detach, end, close and the rejected outcome (descriptor 0x1d).
public struct AMQPErrorCondition: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x1d
    public static let descriptorName = "amqp:error:list"

    /// A symbol such as "amqp:not-found" or "com.microsoft:auth-failed".
    public var condition: String
    public var description: String?
    public var info: [AMQPMapEntry]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(condition: String, description: String? = nil, info: [AMQPMapEntry]? = nil) {
        self.condition = condition
        self.description = description
        self.info = info
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        condition = try reader.required(reader.symbol(0, "condition"), "condition")
        description = try reader.string(1, "description")
        info = try reader.map(2, "info")
    }

    public var fields: [AMQPValue] {
        [.symbol(condition), .optional(description, AMQPValue.string), .fieldsMap(info)]
    }
}

/// The first frame on a connection: its capabilities and limits (descriptor 0x10).
public struct AMQPOpen: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x10
    public static let descriptorName = "amqp:open:list"

    public var containerID: String
    public var hostname: String?
    public var maxFrameSize: UInt32
    public var channelMax: UInt16
    /// Milliseconds.
    public var idleTimeOut: UInt32?
    public var outgoingLocales: [String]?
    public var incomingLocales: [String]?
    public var offeredCapabilities: [String]?
    public var desiredCapabilities: [String]?
    public var properties: [AMQPMapEntry]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        containerID: String,
        hostname: String? = nil,
        maxFrameSize: UInt32 = .max,
        channelMax: UInt16 = 65535,
        idleTimeOut: UInt32? = nil,
        outgoingLocales: [String]? = nil,
        incomingLocales: [String]? = nil,
        offeredCapabilities: [String]? = nil,
        desiredCapabilities: [String]? = nil,
        properties: [AMQPMapEntry]? = nil
    ) {
        self.containerID = containerID
        self.hostname = hostname
        self.maxFrameSize = maxFrameSize
        self.channelMax = channelMax
        self.idleTimeOut = idleTimeOut
        self.outgoingLocales = outgoingLocales
        self.incomingLocales = incomingLocales
        self.offeredCapabilities = offeredCapabilities
        self.desiredCapabilities = desiredCapabilities
        self.properties = properties
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        containerID = try reader.required(reader.string(0, "container-id"), "container-id")
        hostname = try reader.string(1, "hostname")
        maxFrameSize = try reader.uint(2, "max-frame-size") ?? .max
        channelMax = try reader.ushort(3, "channel-max") ?? 65535
        idleTimeOut = try reader.uint(4, "idle-time-out")
        outgoingLocales = try reader.symbols(5, "outgoing-locales")
        incomingLocales = try reader.symbols(6, "incoming-locales")
        offeredCapabilities = try reader.symbols(7, "offered-capabilities")
        desiredCapabilities = try reader.symbols(8, "desired-capabilities")
        properties = try reader.map(9, "properties")
    }

    public var fields: [AMQPValue] {
        [
            .string(containerID), .optional(hostname, AMQPValue.string), .uint(maxFrameSize), .ushort(channelMax),
            .optional(idleTimeOut, AMQPValue.uint), .symbols(outgoingLocales), .symbols(incomingLocales),
            .symbols(offeredCapabilities), .symbols(desiredCapabilities), .fieldsMap(properties),
        ]
    }
}

/// Begins a session on a channel (descriptor 0x11).
public struct AMQPBegin: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x11
    public static let descriptorName = "amqp:begin:list"

    /// The peer's channel when this begin answers the peer's begin.
    public var remoteChannel: UInt16?
    public var nextOutgoingID: UInt32
    public var incomingWindow: UInt32
    public var outgoingWindow: UInt32
    public var handleMax: UInt32
    public var offeredCapabilities: [String]?
    public var desiredCapabilities: [String]?
    public var properties: [AMQPMapEntry]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        remoteChannel: UInt16? = nil,
        nextOutgoingID: UInt32,
        incomingWindow: UInt32,
        outgoingWindow: UInt32,
        handleMax: UInt32 = .max,
        offeredCapabilities: [String]? = nil,
        desiredCapabilities: [String]? = nil,
        properties: [AMQPMapEntry]? = nil
    ) {
        self.remoteChannel = remoteChannel
        self.nextOutgoingID = nextOutgoingID
        self.incomingWindow = incomingWindow
        self.outgoingWindow = outgoingWindow
        self.handleMax = handleMax
        self.offeredCapabilities = offeredCapabilities
        self.desiredCapabilities = desiredCapabilities
        self.properties = properties
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        remoteChannel = try reader.ushort(0, "remote-channel")
        nextOutgoingID = try reader.required(reader.uint(1, "next-outgoing-id"), "next-outgoing-id")
        incomingWindow = try reader.required(reader.uint(2, "incoming-window"), "incoming-window")
        outgoingWindow = try reader.required(reader.uint(3, "outgoing-window"), "outgoing-window")
        handleMax = try reader.uint(4, "handle-max") ?? .max
        offeredCapabilities = try reader.symbols(5, "offered-capabilities")
        desiredCapabilities = try reader.symbols(6, "desired-capabilities")
        properties = try reader.map(7, "properties")
    }

    public var fields: [AMQPValue] {
        [
            .optional(remoteChannel, AMQPValue.ushort), .uint(nextOutgoingID), .uint(incomingWindow),
            .uint(outgoingWindow), .uint(handleMax), .symbols(offeredCapabilities), .symbols(desiredCapabilities),
            .fieldsMap(properties),
        ]
    }
}

/// Ends a session (descriptor 0x17).
public struct AMQPEnd: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x17
    public static let descriptorName = "amqp:end:list"

    public var error: AMQPErrorCondition?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(error: AMQPErrorCondition? = nil) {
        self.error = error
    }

    public init(fields: [AMQPValue]) throws {
        error = try FieldReader(Self.self, fields).composite(0, "error", as: AMQPErrorCondition.self)
    }

    public var fields: [AMQPValue] {
        [.optional(error) { $0.described }]
    }
}

/// Closes the connection (descriptor 0x18).
public struct AMQPClose: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x18
    public static let descriptorName = "amqp:close:list"

    public var error: AMQPErrorCondition?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(error: AMQPErrorCondition? = nil) {
        self.error = error
    }

    public init(fields: [AMQPValue]) throws {
        error = try FieldReader(Self.self, fields).composite(0, "error", as: AMQPErrorCondition.self)
    }

    public var fields: [AMQPValue] {
        [.optional(error) { $0.described }]
    }
}
