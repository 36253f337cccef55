/// The body of an AMQP frame (frame type 0).
public enum AMQPPerformative: Sendable, Hashable {
    case open(AMQPOpen)
    case begin(AMQPBegin)
    case attach(AMQPAttach)
    case flow(AMQPFlow)
    case transfer(AMQPTransfer)
    case disposition(AMQPDisposition)
    case detach(AMQPDetach)
    case end(AMQPEnd)
    case close(AMQPClose)

    /// Reads a performative from a described list, by numeric or symbolic descriptor.
    ///
    /// - Throws: `AMQPError` `.malformedData` for a value that is not a described list, an unknown descriptor,
    ///   or a wrong field.
    public init(described value: AMQPValue) throws {
        guard case .described(let descriptor, _) = value else {
            throw AMQPError.malformed("performative: expected a described list, found \(value.typeName)")
        }
        if AMQPOpen.matches(descriptor) {
            self = .open(try AMQPOpen(described: value))
        } else if AMQPBegin.matches(descriptor) {
            self = .begin(try AMQPBegin(described: value))
        } else if AMQPAttach.matches(descriptor) {
            self = .attach(try AMQPAttach(described: value))
        } else if AMQPFlow.matches(descriptor) {
            self = .flow(try AMQPFlow(described: value))
        } else if AMQPTransfer.matches(descriptor) {
            self = .transfer(try AMQPTransfer(described: value))
        } else if AMQPDisposition.matches(descriptor) {
            self = .disposition(try AMQPDisposition(described: value))
        } else if AMQPDetach.matches(descriptor) {
            self = .detach(try AMQPDetach(described: value))
        } else if AMQPEnd.matches(descriptor) {
            self = .end(try AMQPEnd(described: value))
        } else if AMQPClose.matches(descriptor) {
            self = .close(try AMQPClose(described: value))
        } else {
            throw AMQPError.malformed("performative: unknown descriptor \(describeDescriptor(descriptor))")
        }
    }

    /// The performative as a described list with its numeric descriptor and every field.
    public var described: AMQPValue {
        switch self {
        case .open(let body): body.described
        case .begin(let body): body.described
        case .attach(let body): body.described
        case .flow(let body): body.described
        case .transfer(let body): body.described
        case .disposition(let body): body.described
        case .detach(let body): body.described
        case .end(let body): body.described
        case .close(let body): body.described
        }
    }

    /// "open", "begin", ...: for logs and errors.
    public var name: String {
        switch self {
        case .open: "open"
        case .begin: "begin"
        case .attach: "attach"
        case .flow: "flow"
        case .transfer: "transfer"
        case .disposition: "disposition"
        case .detach: "detach"
        case .end: "end"
        case .close: "close"
        }
    }
}

/// The body of a SASL frame (frame type 1).
public enum AMQPSASLPerformative: Sendable, Hashable {
    case mechanisms(AMQPSASLMechanisms)
    case initial(AMQPSASLInit)
    case challenge(AMQPSASLChallenge)
    case response(AMQPSASLResponse)
    case outcome(AMQPSASLOutcome)

    /// Reads a SASL performative from a described list, by numeric or symbolic descriptor.
    ///
    /// - Throws: `AMQPError` `.malformedData` for an unknown descriptor or a wrong field.
    public init(described value: AMQPValue) throws {
        guard case .described(let descriptor, _) = value else {
            throw AMQPError.malformed("sasl performative: expected a described list, found \(value.typeName)")
        }
        if AMQPSASLMechanisms.matches(descriptor) {
            self = .mechanisms(try AMQPSASLMechanisms(described: value))
        } else if AMQPSASLInit.matches(descriptor) {
            self = .initial(try AMQPSASLInit(described: value))
        } else if AMQPSASLChallenge.matches(descriptor) {
            self = .challenge(try AMQPSASLChallenge(described: value))
        } else if AMQPSASLResponse.matches(descriptor) {
            self = .response(try AMQPSASLResponse(described: value))
        } else if AMQPSASLOutcome.matches(descriptor) {
            self = .outcome(try AMQPSASLOutcome(described: value))
        } else {
            throw AMQPError.malformed("sasl performative: unknown descriptor \(describeDescriptor(descriptor))")
        }
    }

    /// The performative as a described list with its numeric descriptor and every field.
    public var described: AMQPValue {
        switch self {
        case .mechanisms(let body): body.described
        case .initial(let body): body.described
        case .challenge(let body): body.described
        case .response(let body): body.described
        case .outcome(let body): body.described
        }
    }

    /// "sasl-mechanisms", "sasl-init", ...: for logs and errors.
    public var name: String {
        switch self {
        case .mechanisms: "sasl-mechanisms"
        case .initial: "sasl-init"
        case .challenge: "sasl-challenge"
        case .response: "sasl-response"
        case .outcome: "sasl-outcome"
        }
    }
}
