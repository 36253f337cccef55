import NIOCore

/// One AMQP frame: an 8-byte header (size, data offset, type, channel) and a body.
public struct AMQPFrame: Sendable, Hashable {
    /// What a frame carries.
    public enum Body: Sendable, Hashable {
        /// Frame type 0. `payload` holds a transfer's message bytes (possibly empty); nil for other performatives.
        case amqp(AMQPPerformative, payload: ByteBuffer?)
        /// Frame type 1.
        case sasl(AMQPSASLPerformative)
        /// A frame with no body: a heartbeat.
        case empty
    }

    public var channel: UInt16
    public var body: Body

    public init(channel: UInt16, body: Body) {
        self.channel = channel
        self.body = body
    }

    /// The frame header's size: the smallest frame.
    static let headerSize = 8

    /// Bytes of the frame header plus the encoded transfer performative: what a transfer frame takes before its
    /// payload, so a link can cut a message into frames that fit the peer's max-frame-size.
    public static func transferOverhead(for transfer: AMQPTransfer) -> Int {
        headerSize + transfer.described.encodedSize
    }

    /// Writes the frame: header with data offset 2, then the performative and any payload.
    public func encode(into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        let type: UInt8
        switch body {
        case .sasl: type = 1
        case .amqp, .empty: type = 0
        }
        buffer.writeMultipleIntegers(UInt32(0), UInt8(2), type, channel)
        switch body {
        case .amqp(let performative, let payload):
            performative.described.encode(into: &buffer)
            if var payload {
                buffer.writeBuffer(&payload)
            }
        case .sasl(let performative):
            performative.described.encode(into: &buffer)
        case .empty:
            break
        }
        buffer.setInteger(UInt32(truncatingIfNeeded: buffer.writerIndex - start), at: start)
    }

    /// Reads one frame, or returns nil when the buffer does not yet hold all of it (the reader index is then
    /// unchanged).
    ///
    /// - Throws: `AMQPError` `.frameTooLarge` when the header states more than `maxFrameSize` bytes, decided from
    ///   the header alone so an oversized frame is never buffered; `.malformedData` for a size below 8, a data
    ///   offset below 2 or past the frame, an unknown frame type, a body that is not a performative, or bytes
    ///   after a performative that carries no payload.
    public static func decode(from buffer: inout ByteBuffer, maxFrameSize: UInt32) throws -> AMQPFrame? {
        guard
            let (size, dataOffset, type, channel) = buffer.getMultipleIntegers(
                at: buffer.readerIndex,
                as: (UInt32, UInt8, UInt8, UInt16).self
            )
        else {
            return nil
        }
        guard size >= headerSize else {
            throw AMQPError.malformed("frame size \(size) is smaller than the 8-byte frame header")
        }
        guard size <= maxFrameSize else {
            throw AMQPError(
                code: .frameTooLarge, message: "frame of \(size) bytes exceeds max-frame-size \(maxFrameSize)")
        }
        guard dataOffset >= 2 else {
            throw AMQPError.malformed("frame data offset \(dataOffset) is below the minimum of 2")
        }
        guard Int(dataOffset) * 4 <= size else {
            throw AMQPError.malformed("frame data offset \(dataOffset) points past the frame's \(size) bytes")
        }
        guard type <= 1 else {
            throw AMQPError.malformed("frame type \(type) is neither AMQP (0) nor SASL (1)")
        }
        guard var frame = buffer.getSlice(at: buffer.readerIndex, length: Int(size)) else {
            return nil
        }
        frame.moveReaderIndex(forwardBy: Int(dataOffset) * 4)
        let body = try decodeBody(&frame, type: type)
        buffer.moveReaderIndex(forwardBy: Int(size))
        return AMQPFrame(channel: channel, body: body)
    }

    private static func decodeBody(_ frame: inout ByteBuffer, type: UInt8) throws -> Body {
        if frame.readableBytes == 0 {
            guard type == 0 else {
                throw AMQPError.malformed("SASL frame has no body")
            }
            return .empty
        }
        let value = try AMQPValue.decode(from: &frame)
        if type == 1 {
            let performative = try AMQPSASLPerformative(described: value)
            guard frame.readableBytes == 0 else {
                throw AMQPError.malformed("\(performative.name) frame has \(frame.readableBytes) bytes after its body")
            }
            return .sasl(performative)
        }
        let performative = try AMQPPerformative(described: value)
        if case .transfer = performative {
            return .amqp(performative, payload: frame)
        }
        guard frame.readableBytes == 0 else {
            throw AMQPError.malformed("\(performative.name) frame has \(frame.readableBytes) bytes after its body")
        }
        return .amqp(performative, payload: nil)
    }
}
