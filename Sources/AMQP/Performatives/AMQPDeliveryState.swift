/// The state of a delivery: the outcomes of AMQP 1.0 part 3.4 and the received state.
///
/// States this module does not model (a transactional state, say) are kept as `.other` with the value as sent.
public enum AMQPDeliveryState: Sendable, Hashable {
    /// Descriptor 0x23: how much of the message the receiver has.
    case received(sectionNumber: UInt32, sectionOffset: UInt64)
    /// Descriptor 0x24.
    case accepted
    /// Descriptor 0x25.
    case rejected(AMQPErrorCondition?)
    /// Descriptor 0x26.
    case released
    /// Descriptor 0x27.
    case modified(deliveryFailed: Bool?, undeliverableHere: Bool?, messageAnnotations: [AMQPMapEntry]?)
    /// Any other described value.
    case other(AMQPValue)

    private static let codes: [(code: UInt64, name: String)] = [
        (0x23, "amqp:received:list"), (0x24, "amqp:accepted:list"), (0x25, "amqp:rejected:list"),
        (0x26, "amqp:released:list"), (0x27, "amqp:modified:list"),
    ]

    /// Reads a delivery state from a described list with a numeric or symbolic descriptor.
    ///
    /// - Throws: `AMQPError` `.malformedData` when the value is not described, or a known state's fields are wrong.
    public init(described value: AMQPValue) throws {
        guard case .described(let descriptor, let body) = value else {
            throw AMQPError.malformed("delivery-state: expected a described value, found \(value.typeName)")
        }
        let code: UInt64?
        switch descriptor {
        case .ulong(let number): code = Self.codes.contains { $0.code == number } ? number : nil
        case .symbol(let name): code = Self.codes.first { $0.name == name }?.code
        default: code = nil
        }
        guard let code else {
            self = .other(value)
            return
        }
        guard case .list(let fields) = body else {
            throw AMQPError.malformed("delivery-state: expected a list, found \(body.typeName)")
        }
        switch code {
        case 0x23:
            let reader = FieldReader("received", fields)
            self = .received(
                sectionNumber: try reader.required(reader.uint(0, "section-number"), "section-number"),
                sectionOffset: try reader.required(reader.ulong(1, "section-offset"), "section-offset")
            )
        case 0x24:
            self = .accepted
        case 0x25:
            self = .rejected(try FieldReader("rejected", fields).composite(0, "error", as: AMQPErrorCondition.self))
        case 0x26:
            self = .released
        default:
            let reader = FieldReader("modified", fields)
            self = .modified(
                deliveryFailed: try reader.bool(0, "delivery-failed"),
                undeliverableHere: try reader.bool(1, "undeliverable-here"),
                messageAnnotations: try reader.map(2, "message-annotations")
            )
        }
    }

    /// The state as a described list with the numeric descriptor, every field written.
    public var described: AMQPValue {
        switch self {
        case .received(let sectionNumber, let sectionOffset):
            return .described(descriptor: .ulong(0x23), value: .list([.uint(sectionNumber), .ulong(sectionOffset)]))
        case .accepted:
            return .described(descriptor: .ulong(0x24), value: .list([]))
        case .rejected(let error):
            return .described(descriptor: .ulong(0x25), value: .list([.optional(error) { $0.described }]))
        case .released:
            return .described(descriptor: .ulong(0x26), value: .list([]))
        case .modified(let deliveryFailed, let undeliverableHere, let messageAnnotations):
            return .described(
                descriptor: .ulong(0x27),
                value: .list([
                    .optional(deliveryFailed, AMQPValue.bool), .optional(undeliverableHere, AMQPValue.bool),
                    .fieldsMap(messageAnnotations),
                ])
            )
        case .other(let value):
            return value
        }
    }
}
