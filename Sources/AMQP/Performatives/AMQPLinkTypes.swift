/// Which end of a link this is: on the wire a boolean, false for sender.
public enum AMQPRole: Sendable, Hashable {
    case sender
    case receiver

    var wireValue: Bool { self == .receiver }

    init(wireValue: Bool) {
        self = wireValue ? .receiver : .sender
    }
}

/// How the sender settles deliveries (a ubyte on the wire).
public enum AMQPSenderSettleMode: UInt8, Sendable, Hashable {
    case unsettled = 0
    case settled = 1
    case mixed = 2
}

/// When the receiver settles deliveries (a ubyte on the wire).
public enum AMQPReceiverSettleMode: UInt8, Sendable, Hashable {
    case first = 0
    case second = 1
}

extension FieldReader {
    func role(_ index: Int, _ name: String) throws -> AMQPRole? {
        try bool(index, name).map(AMQPRole.init(wireValue:))
    }

    func senderSettleMode(_ index: Int, _ name: String) throws -> AMQPSenderSettleMode? {
        guard let raw = try ubyte(index, name) else { return nil }
        guard let mode = AMQPSenderSettleMode(rawValue: raw) else {
            throw AMQPError.malformed("\(composite).\(name): \(raw) is not a sender settle mode (0, 1 or 2)")
        }
        return mode
    }

    func receiverSettleMode(_ index: Int, _ name: String) throws -> AMQPReceiverSettleMode? {
        guard let raw = try ubyte(index, name) else { return nil }
        guard let mode = AMQPReceiverSettleMode(rawValue: raw) else {
            throw AMQPError.malformed("\(composite).\(name): \(raw) is not a receiver settle mode (0 or 1)")
        }
        return mode
    }
}

/// The source terminus of a link (descriptor 0x28).
public struct AMQPSource: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x28
    public static let descriptorName = "amqp:source:list"

    public var address: String?
    /// Terminus durability: 0 none, 1 configuration, 2 unsettled-state.
    public var durable: UInt32
    /// A symbol: "link-detach", "session-end", "connection-close" or "never".
    public var expiryPolicy: String
    /// Seconds.
    public var timeout: UInt32
    public var dynamic: Bool
    public var dynamicNodeProperties: [AMQPMapEntry]?
    /// A symbol: "move" or "copy".
    public var distributionMode: String?
    /// The filter set: symbol keys, described filter values.
    public var filter: [AMQPMapEntry]?
    public var defaultOutcome: AMQPDeliveryState?
    public var outcomes: [String]?
    public var capabilities: [String]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        address: String? = nil,
        durable: UInt32 = 0,
        expiryPolicy: String = "session-end",
        timeout: UInt32 = 0,
        dynamic: Bool = false,
        dynamicNodeProperties: [AMQPMapEntry]? = nil,
        distributionMode: String? = nil,
        filter: [AMQPMapEntry]? = nil,
        defaultOutcome: AMQPDeliveryState? = nil,
        outcomes: [String]? = nil,
        capabilities: [String]? = nil
    ) {
        self.address = address
        self.durable = durable
        self.expiryPolicy = expiryPolicy
        self.timeout = timeout
        self.dynamic = dynamic
        self.dynamicNodeProperties = dynamicNodeProperties
        self.distributionMode = distributionMode
        self.filter = filter
        self.defaultOutcome = defaultOutcome
        self.outcomes = outcomes
        self.capabilities = capabilities
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        address = try reader.string(0, "address")
        durable = try reader.uint(1, "durable") ?? 0
        expiryPolicy = try reader.symbol(2, "expiry-policy") ?? "session-end"
        timeout = try reader.uint(3, "timeout") ?? 0
        dynamic = try reader.bool(4, "dynamic") ?? false
        dynamicNodeProperties = try reader.map(5, "dynamic-node-properties")
        distributionMode = try reader.symbol(6, "distribution-mode")
        filter = try reader.map(7, "filter")
        defaultOutcome = try reader.deliveryState(8, "default-outcome")
        outcomes = try reader.symbols(9, "outcomes")
        capabilities = try reader.symbols(10, "capabilities")
    }

    public var fields: [AMQPValue] {
        [
            .optional(address, AMQPValue.string), .uint(durable), .symbol(expiryPolicy), .uint(timeout),
            .bool(dynamic), .fieldsMap(dynamicNodeProperties), .optional(distributionMode, AMQPValue.symbol),
            .fieldsMap(filter), .optional(defaultOutcome) { $0.described }, .symbols(outcomes),
            .symbols(capabilities),
        ]
    }
}

/// The target terminus of a link (descriptor 0x29).
public struct AMQPTarget: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x29
    public static let descriptorName = "amqp:target:list"

    public var address: String?
    public var durable: UInt32
    public var expiryPolicy: String
    /// Seconds.
    public var timeout: UInt32
    public var dynamic: Bool
    public var dynamicNodeProperties: [AMQPMapEntry]?
    public var capabilities: [String]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(
        address: String? = nil,
        durable: UInt32 = 0,
        expiryPolicy: String = "session-end",
        timeout: UInt32 = 0,
        dynamic: Bool = false,
        dynamicNodeProperties: [AMQPMapEntry]? = nil,
        capabilities: [String]? = nil
    ) {
        self.address = address
        self.durable = durable
        self.expiryPolicy = expiryPolicy
        self.timeout = timeout
        self.dynamic = dynamic
        self.dynamicNodeProperties = dynamicNodeProperties
        self.capabilities = capabilities
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        address = try reader.string(0, "address")
        durable = try reader.uint(1, "durable") ?? 0
        expiryPolicy = try reader.symbol(2, "expiry-policy") ?? "session-end"
        timeout = try reader.uint(3, "timeout") ?? 0
        dynamic = try reader.bool(4, "dynamic") ?? false
        dynamicNodeProperties = try reader.map(5, "dynamic-node-properties")
        capabilities = try reader.symbols(6, "capabilities")
    }

    public var fields: [AMQPValue] {
        [
            .optional(address, AMQPValue.string), .uint(durable), .symbol(expiryPolicy), .uint(timeout),
            .bool(dynamic), .fieldsMap(dynamicNodeProperties), .symbols(capabilities),
        ]
    }
}
