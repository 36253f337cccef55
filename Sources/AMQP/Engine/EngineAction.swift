import NIOCore

/// Identifies a pending request of the connection's user (an attach, a send, a session begin) so that the
/// channel handler can complete the promise it holds for it. The state machines only pass tokens around.
package typealias RequestToken = UInt64

/// Identifies one link for the life of a connection, whichever session and handle it has.
package struct LinkID: Hashable, Sendable, CustomStringConvertible {
    package var channel: UInt16
    package var handle: UInt32
    package var description: String { "link \(channel)/\(handle)" }
}

/// A message that arrived on a receiving link, all its transfer frames joined.
public struct AMQPDelivery: Sendable {
    /// The delivery id, which a disposition names.
    public var deliveryID: UInt32
    /// The sender's tag for this delivery.
    public var deliveryTag: [UInt8]
    /// The message format of the first transfer (0 for a plain message, 0x80013700 for an Event Hubs batch).
    public var messageFormat: UInt32
    /// Whether the sender settled it already (nothing to acknowledge).
    public var settled: Bool
    /// The encoded message sections, exactly as received.
    public var payload: ByteBuffer

    /// Decodes the payload.
    /// - Throws: ``AMQPError`` with code `.malformedData` naming the damaged section.
    public func message() throws -> AMQPMessage { try AMQPMessage.decode(from: payload) }
}

/// What the handler must do after the state machine saw an event. Plain data: the machines never touch I/O.
package enum EngineAction {
    case writeHeader(AMQPProtocolHeader)
    case writeFrame(AMQPFrame)
    /// Flush what was written; the machines batch writes of one event into one flush.
    case flush
    case connectionOpened(AMQPOpen)
    /// Close the socket, after flushing; `error` is why, nil for a clean close.
    case closeChannel(AMQPError?)
    case sessionBegun(RequestToken, channel: UInt16)
    case sessionBeginFailed(RequestToken, AMQPError)
    case sessionEnded(channel: UInt16, AMQPError?)
    case linkAttached(RequestToken, LinkID, remote: AMQPAttach)
    case linkAttachFailed(RequestToken, AMQPError)
    /// A link this side did not ask for: the peer attached, and the user decides (server side).
    case incomingAttach(LinkID, AMQPAttach)
    case linkDetached(LinkID, AMQPError?)
    case delivered(LinkID, AMQPDelivery)
    case sendSettled(RequestToken, AMQPDeliveryState?)
    case sendFailed(RequestToken, AMQPError)
    /// A sending link received credit (the handler may tell waiters).
    case creditChanged(LinkID, credit: UInt32)
    case detachCompleted(RequestToken)
}
