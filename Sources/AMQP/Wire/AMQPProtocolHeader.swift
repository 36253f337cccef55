/// The 8-byte header that starts a connection and each protocol layer: "AMQP", a protocol id, then 1.0.0.
public enum AMQPProtocolHeader: Sendable, Hashable {
    /// "AMQP" 0 1 0 0: plain AMQP.
    case amqp
    /// "AMQP" 3 1 0 0: SASL negotiation comes first.
    case sasl
    /// "AMQP" 2 1 0 0: a TLS handshake comes first.
    case tls

    /// The eight bytes on the wire.
    public var bytes: [UInt8] {
        [0x41, 0x4d, 0x51, 0x50, protocolID, 1, 0, 0]
    }

    var protocolID: UInt8 {
        switch self {
        case .amqp: 0
        case .tls: 2
        case .sasl: 3
        }
    }

    /// Reads a header from exactly eight bytes.
    ///
    /// - Throws: `AMQPError` `.protocolViolation` for an unknown protocol id or a version other than 1.0.0, so the
    ///   caller can answer with the header it supports and close.
    init(_ bytes: [UInt8]) throws {
        guard bytes.count == 8, bytes[0] == 0x41, bytes[1] == 0x4d, bytes[2] == 0x51, bytes[3] == 0x50 else {
            throw AMQPError(code: .protocolViolation, message: "protocol header does not start with \"AMQP\"")
        }
        guard bytes[5] == 1, bytes[6] == 0, bytes[7] == 0 else {
            throw AMQPError(
                code: .protocolViolation,
                message: "protocol header asks for version \(bytes[5]).\(bytes[6]).\(bytes[7]), not 1.0.0"
            )
        }
        switch bytes[4] {
        case 0: self = .amqp
        case 2: self = .tls
        case 3: self = .sasl
        default:
            throw AMQPError(code: .protocolViolation, message: "protocol header has unknown protocol id \(bytes[4])")
        }
    }
}
