import NIOCore

/// What arrives on an AMQP connection: a protocol header, or a frame.
public enum AMQPInbound: Sendable {
    case header(AMQPProtocolHeader)
    case frame(AMQPFrame)
}

/// What a connection sends: a protocol header, or a frame.
public enum AMQPOutbound: Sendable {
    case header(AMQPProtocolHeader)
    case frame(AMQPFrame)
}

/// Splits the inbound byte stream into protocol headers and frames.
///
/// "AMQP" at a frame boundary is read as a protocol header only at the start of the stream and right after a
/// SASL outcome, the two places a header can come; anywhere else those bytes are a frame header (and then
/// rejected as too large, since "AMQP" read as a size is over a gigabyte).
public struct AMQPFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = AMQPInbound

    /// Frames whose header states more bytes fail with `.frameTooLarge` before they are buffered. The channel
    /// handler lowers or raises it once open frames have negotiated max-frame-size.
    public var maxFrameSize: UInt32

    private var headerAllowed = true

    /// Creates a decoder that accepts frames up to `maxFrameSize` bytes.
    public init(maxFrameSize: UInt32 = 1 << 20) {
        self.maxFrameSize = maxFrameSize
    }

    /// Reads the next header or frame; nil when more bytes are needed.
    ///
    /// - Throws: `AMQPError` `.frameTooLarge`, `.malformedData` (see `AMQPFrame.decode`), or `.protocolViolation`
    ///   for a protocol header this module does not speak.
    public mutating func decode(buffer: inout ByteBuffer) throws -> AMQPInbound? {
        if headerAllowed, buffer.readableBytes >= 4,
            buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) == 0x414d_5150
        {
            guard let bytes = buffer.getBytes(at: buffer.readerIndex, length: 8) else { return nil }
            let header = try AMQPProtocolHeader(bytes)
            buffer.moveReaderIndex(forwardBy: 8)
            headerAllowed = false
            return .header(header)
        }
        guard let frame = try AMQPFrame.decode(from: &buffer, maxFrameSize: maxFrameSize) else {
            return nil
        }
        headerAllowed = false
        // The AMQP header follows the SASL exchange: after the outcome a client receives it, after its init a
        // server does. A frame can never start with "AMQP" (that size exceeds any max-frame-size).
        if case .sasl = frame.body {
            headerAllowed = true
        }
        return .frame(frame)
    }

    /// At end of stream, returns what is complete; bytes of an unfinished frame are dropped, since the peer has
    /// gone and no frame can be made of them.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> AMQPInbound? {
        try decode(buffer: &buffer)
    }
}

/// Writes protocol headers and frames.
public struct AMQPFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = AMQPOutbound

    public init() {}

    /// Writes the header's eight bytes or the encoded frame.
    public func encode(data: AMQPOutbound, out: inout ByteBuffer) throws {
        switch data {
        case .header(let header):
            out.writeBytes(header.bytes)
        case .frame(let frame):
            frame.encode(into: &out)
        }
    }
}
