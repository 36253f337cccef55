import AMQP
import NIOCore
import NIOEmbedded
import Testing

@Suite struct AMQPFrameTests {
    static let open = AMQPFrame(channel: 0, body: .amqp(.open(AMQPOpen(containerID: "c")), payload: nil))

    @Test func protocolHeaders() {
        #expect(AMQPProtocolHeader.amqp.bytes == Array("AMQP".utf8) + [0, 1, 0, 0])
        #expect(AMQPProtocolHeader.sasl.bytes == Array("AMQP".utf8) + [3, 1, 0, 0])
        #expect(AMQPProtocolHeader.tls.bytes == Array("AMQP".utf8) + [2, 1, 0, 0])
    }

    @Test func heartbeatIsAnEmptyFrame() throws {
        let heartbeat = AMQPFrame(channel: 0, body: .empty)
        #expect(hexString(encode(heartbeat)) == "0000000802000000")
        var input = buffer(encode(heartbeat))
        #expect(try AMQPFrame.decode(from: &input, maxFrameSize: 512) == heartbeat)
    }

    @Test func exactBytesOfAnAMQPAndASASLFrame() throws {
        let end = AMQPFrame(channel: 1, body: .amqp(.end(AMQPEnd()), payload: nil))
        #expect(hexString(encode(end)) == "0000000f02000001" + "005317c0020140")
        let outcome = AMQPFrame(channel: 0, body: .sasl(.outcome(AMQPSASLOutcome(code: .ok))))
        #expect(hexString(encode(outcome)) == "0000001102010000" + "005344c004025000" + "40")
        for frame in [end, outcome] {
            var input = buffer(encode(frame))
            #expect(try AMQPFrame.decode(from: &input, maxFrameSize: 512) == frame)
            #expect(input.readableBytes == 0)
        }
    }

    @Test func transferCarriesItsPayload() throws {
        let message = AMQPMessage(body: .data([Array("Data".utf8)]))
        let transfer = AMQPTransfer(handle: 3, deliveryID: 2, deliveryTag: [0, 0, 0, 2], messageFormat: 0)
        let frame = AMQPFrame(
            channel: 1,
            body: .amqp(.transfer(transfer), payload: ByteBuffer(bytes: message.encoded()))
        )
        let bytes = encode(frame)
        #expect(bytes.count == AMQPFrame.transferOverhead(for: transfer) + message.encoded().count)
        var input = buffer(bytes)
        let decoded = try #require(try AMQPFrame.decode(from: &input, maxFrameSize: 512))
        #expect(decoded == frame)
        guard case .amqp(.transfer, let payload?) = decoded.body else {
            Issue.record("not a transfer with a payload")
            return
        }
        #expect(try AMQPMessage.decode(from: payload) == message)

        let empty = AMQPFrame(channel: 0, body: .amqp(.transfer(transfer), payload: nil))
        var emptyInput = buffer(encode(empty))
        #expect(
            try AMQPFrame.decode(from: &emptyInput, maxFrameSize: 512)?.body
                == .amqp(.transfer(transfer), payload: ByteBuffer()))
    }

    @Test func extendedHeaderIsSkipped() throws {
        // doff 3: four bytes of extended header between the header and the body.
        let body = hex("005317c0020140")
        let bytes = hex("00000013 03 00 0005") + [0xde, 0xad, 0xbe, 0xef] + body
        var input = buffer(bytes)
        #expect(
            try AMQPFrame.decode(from: &input, maxFrameSize: 512)
                == AMQPFrame(channel: 5, body: .amqp(.end(AMQPEnd()), payload: nil)))
        var heartbeat = buffer(hex("0000000c 03 00 0000 00000000"))
        #expect(try AMQPFrame.decode(from: &heartbeat, maxFrameSize: 512)?.body == .empty)
    }

    @Test func partialFramesWaitForMoreBytes() throws {
        let bytes = encode(Self.open)
        for length in 0..<bytes.count {
            var input = buffer(Array(bytes.prefix(length)))
            #expect(try AMQPFrame.decode(from: &input, maxFrameSize: 512) == nil)
            #expect(input.readerIndex == 0)
        }
    }

    struct BadFrame: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: String
        let code: AMQPError.Code
        let message: String
        var testDescription: String { name }
    }

    static let badFrames: [BadFrame] = [
        BadFrame(
            name: "over max-frame-size, header only", bytes: "00 00 02 01 02 00 00 00", code: .frameTooLarge,
            message: "frame of 513 bytes exceeds max-frame-size 512"
        ),
        BadFrame(
            name: "4 GiB frame", bytes: "ff ff ff ff 02 00 00 00", code: .frameTooLarge,
            message: "frame of 4294967295 bytes exceeds max-frame-size 512"
        ),
        BadFrame(
            name: "size below the header", bytes: "00 00 00 07 02 00 00 00", code: .malformedData,
            message: "frame size 7 is smaller than the 8-byte frame header"
        ),
        BadFrame(
            name: "data offset 1", bytes: "00 00 00 08 01 00 00 00", code: .malformedData,
            message: "frame data offset 1 is below the minimum of 2"
        ),
        BadFrame(
            name: "data offset past the frame", bytes: "00 00 00 08 03 00 00 00", code: .malformedData,
            message: "frame data offset 3 points past the frame's 8 bytes"
        ),
        BadFrame(
            name: "frame type 2", bytes: "00 00 00 08 02 02 00 00", code: .malformedData,
            message: "frame type 2 is neither AMQP (0) nor SASL (1)"
        ),
        BadFrame(
            name: "empty SASL frame", bytes: "00 00 00 08 02 01 00 00", code: .malformedData,
            message: "SASL frame has no body"
        ),
        BadFrame(
            name: "bytes after a close", bytes: "00 00 00 10 02 00 00 00 00 53 18 c0 01 00 ff ff", code: .malformedData,
            message: "close frame has 2 bytes after its body"
        ),
        BadFrame(
            name: "SASL body in an AMQP frame", bytes: "00 00 00 0e 02 00 00 00 00 53 44 c0 01 00",
            code: .malformedData, message: "performative: unknown descriptor 0x44"
        ),
        BadFrame(
            name: "AMQP body in a SASL frame", bytes: "00 00 00 0e 02 01 00 00 00 53 18 c0 01 00",
            code: .malformedData, message: "sasl performative: unknown descriptor 0x18"
        ),
        BadFrame(
            name: "body that is not described", bytes: "00 00 00 09 02 00 00 00 40", code: .malformedData,
            message: "performative: expected a described list, found null"
        ),
        BadFrame(
            name: "performative cut by the frame size", bytes: "00 00 00 0c 02 00 00 00 00 53 18 c0 01 00",
            code: .malformedData, message: "list8 needs 1 bytes but 0 remain"
        ),
    ]

    @Test(arguments: badFrames)
    func badFramesAreRejectedWithANamedError(bad: BadFrame) {
        var input = buffer(hex(bad.bytes))
        let failure = amqpErrorMessage { _ = try AMQPFrame.decode(from: &input, maxFrameSize: 512) }
        #expect(failure?.0 == bad.code)
        #expect(failure?.1 == bad.message)
    }

    @Test func decoderReadsHeadersWhereTheyMayComeAndFramesElsewhere() throws {
        let outcome = AMQPFrame(channel: 0, body: .sasl(.outcome(AMQPSASLOutcome(code: .ok))))
        let bytes =
            AMQPProtocolHeader.sasl.bytes
            + encode(AMQPFrame(channel: 0, body: .sasl(.mechanisms(AMQPSASLMechanisms(mechanisms: ["ANONYMOUS"])))))
            + encode(outcome) + AMQPProtocolHeader.amqp.bytes + encode(Self.open)
            + encode(AMQPFrame(channel: 0, body: .empty))
        var decoder = AMQPFrameDecoder(maxFrameSize: 512)
        var input = buffer(bytes)
        var items: [String] = []
        while let item = try decoder.decode(buffer: &input) {
            switch item {
            case .header(let header): items.append("header \(header)")
            case .frame(let frame):
                switch frame.body {
                case .sasl(let performative): items.append(performative.name)
                case .amqp(let performative, _): items.append(performative.name)
                case .empty: items.append("heartbeat")
                }
            }
        }
        #expect(items == ["header sasl", "sasl-mechanisms", "sasl-outcome", "header amqp", "open", "heartbeat"])
        #expect(input.readableBytes == 0)

        // After an open, "AMQP" is a frame header stating 1.1 GB, not a protocol header.
        var late = buffer(AMQPProtocolHeader.amqp.bytes)
        #expect(throws: AMQPError.self) { _ = try decoder.decode(buffer: &late) }
    }

    @Test func decoderRejectsUnknownProtocolHeaders() {
        for bytes in [Array("AMQP".utf8) + [1, 1, 0, 0], Array("AMQP".utf8) + [0, 0, 9, 1]] {
            var decoder = AMQPFrameDecoder()
            var input = buffer(bytes)
            let failure = amqpErrorMessage { _ = try decoder.decode(buffer: &input) }
            #expect(failure?.0 == .protocolViolation)
        }
    }

    @Test func maxFrameSizeCanBeChangedAfterOpen() throws {
        var decoder = AMQPFrameDecoder()
        #expect(decoder.maxFrameSize == 1 << 20)
        decoder.maxFrameSize = 16
        var input = buffer(encode(Self.open))
        let failure = amqpErrorMessage { _ = try decoder.decode(buffer: &input) }
        #expect(failure?.0 == .frameTooLarge)
    }

    @Test func channelHandlersDecodeByteByByteAndEncode() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(AMQPFrameDecoder()))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(AMQPFrameEncoder()))
        let frames = [
            Self.open,
            AMQPFrame(
                channel: 1,
                body: .amqp(.begin(AMQPBegin(nextOutgoingID: 0, incomingWindow: 1, outgoingWindow: 1)), payload: nil)),
            AMQPFrame(channel: 1, body: .empty),
        ]
        var bytes = AMQPProtocolHeader.amqp.bytes
        for frame in frames {
            bytes += encode(frame)
        }
        for byte in bytes {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        var received: [AMQPInbound] = []
        while let item = try channel.readInbound(as: AMQPInbound.self) {
            received.append(item)
        }
        #expect(received.count == 4)
        if case .header(.amqp) = received.first {} else { Issue.record("first item is not the AMQP header") }
        for (item, frame) in zip(received.dropFirst(), frames) {
            guard case .frame(let decoded) = item else {
                Issue.record("not a frame")
                continue
            }
            #expect(decoded == frame)
        }

        try channel.writeOutbound(AMQPOutbound.header(.sasl))
        try channel.writeOutbound(AMQPOutbound.frame(Self.open))
        var written = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) {
            written.writeBuffer(&chunk)
        }
        #expect(Array(written.readableBytesView) == AMQPProtocolHeader.sasl.bytes + encode(Self.open))
        _ = try channel.finish()
    }
}
