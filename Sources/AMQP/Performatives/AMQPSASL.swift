/// The mechanisms a server offers (descriptor 0x40).
public struct AMQPSASLMechanisms: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x40
    public static let descriptorName = "amqp:sasl-mechanisms:list"

    public var mechanisms: [String]

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(mechanisms: [String]) {
        self.mechanisms = mechanisms
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        mechanisms = try reader.required(reader.symbols(0, "sasl-server-mechanisms"), "sasl-server-mechanisms")
    }

    public var fields: [AMQPValue] {
        [.symbols(mechanisms)]
    }
}

/// The client's chosen mechanism and first response (descriptor 0x41).
public struct AMQPSASLInit: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x41
    public static let descriptorName = "amqp:sasl-init:list"

    public var mechanism: String
    public var initialResponse: [UInt8]?
    public var hostname: String?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(mechanism: String, initialResponse: [UInt8]? = nil, hostname: String? = nil) {
        self.mechanism = mechanism
        self.initialResponse = initialResponse
        self.hostname = hostname
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        mechanism = try reader.required(reader.symbol(0, "mechanism"), "mechanism")
        initialResponse = try reader.binary(1, "initial-response")
        hostname = try reader.string(2, "hostname")
    }

    public var fields: [AMQPValue] {
        [.symbol(mechanism), .optional(initialResponse, AMQPValue.binary), .optional(hostname, AMQPValue.string)]
    }
}

/// A server challenge (descriptor 0x42).
public struct AMQPSASLChallenge: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x42
    public static let descriptorName = "amqp:sasl-challenge:list"

    public var challenge: [UInt8]

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(challenge: [UInt8]) {
        self.challenge = challenge
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        challenge = try reader.required(reader.binary(0, "challenge"), "challenge")
    }

    public var fields: [AMQPValue] {
        [.binary(challenge)]
    }
}

/// A client response to a challenge (descriptor 0x43).
public struct AMQPSASLResponse: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x43
    public static let descriptorName = "amqp:sasl-response:list"

    public var response: [UInt8]

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(response: [UInt8]) {
        self.response = response
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        response = try reader.required(reader.binary(0, "response"), "response")
    }

    public var fields: [AMQPValue] {
        [.binary(response)]
    }
}

/// The result of SASL authentication (a ubyte on the wire).
public enum AMQPSASLCode: UInt8, Sendable, Hashable {
    case ok = 0
    case auth = 1
    case sys = 2
    case sysPerm = 3
    case sysTemp = 4
}

/// The end of SASL negotiation (descriptor 0x44).
public struct AMQPSASLOutcome: AMQPComposite {
    public static let descriptorCode: UInt64 = 0x44
    public static let descriptorName = "amqp:sasl-outcome:list"

    public var code: AMQPSASLCode
    public var additionalData: [UInt8]?

    /// Creates the value; omitted arguments take the spec's defaults.
    public init(code: AMQPSASLCode, additionalData: [UInt8]? = nil) {
        self.code = code
        self.additionalData = additionalData
    }

    public init(fields: [AMQPValue]) throws {
        let reader = FieldReader(Self.self, fields)
        let raw = try reader.required(reader.ubyte(0, "code"), "code")
        guard let code = AMQPSASLCode(rawValue: raw) else {
            throw AMQPError.malformed("sasl-outcome.code: \(raw) is not a SASL code (0 to 4)")
        }
        self.code = code
        additionalData = try reader.binary(1, "additional-data")
    }

    public var fields: [AMQPValue] {
        [.ubyte(code.rawValue), .optional(additionalData, AMQPValue.binary)]
    }
}
