import AMQP
import Foundation
import NIOCore
import Testing

@Suite struct AMQPMessageTests {
    static let full = AMQPMessage(
        header: AMQPMessage.Header(durable: true, ttl: 60000),
        deliveryAnnotations: [AMQPMapEntry(.symbol("x-opt-lock-token"), .uuid(sampleUUID))],
        messageAnnotations: [
            AMQPMapEntry(.symbol("x-opt-sequence-number"), .long(42)),
            AMQPMapEntry(.symbol("x-opt-offset"), .string("4096")),
            AMQPMapEntry(.symbol("x-opt-enqueued-time"), .timestamp(1_745_950_268_107)),
            AMQPMapEntry(.symbol("x-opt-partition-key"), .string("pk")),
        ],
        properties: AMQPMessage.Properties(messageID: .string("m1"), contentType: "text/plain", creationTime: 5),
        applicationProperties: [AMQPMapEntry(.string("operation"), .string("READ"))],
        body: .data([Array("hello".utf8), []]),
        footer: [AMQPMapEntry(.symbol("x-opt-crc"), .uint(7))]
    )

    @Test func allSectionsRoundTrip() throws {
        let bytes = Self.full.encoded()
        #expect(try AMQPMessage.decode(from: buffer(bytes)) == Self.full)
        for body in [AMQPMessage.Body.sequence([[.uint(1)], [.string("two"), .null]]), .value(.map([]))] {
            var message = Self.full
            message.body = body
            #expect(try AMQPMessage.decode(from: buffer(message.encoded())) == message)
        }
    }

    @Test func exactBytesOfASimpleMessage() throws {
        // What Microsoft's Python client sends for one event with body "Data" (from the Azure recording).
        let message = AMQPMessage(body: .data([Array("Data".utf8)]))
        #expect(hexString(message.encoded()) == "005375a00444617461")
        var out = ByteBuffer()
        message.encode(into: &out)
        #expect(Array(out.readableBytesView) == message.encoded())
    }

    @Test func emptyDataBodyWritesNoSectionAndReadsAsNullValue() throws {
        let message = AMQPMessage(applicationProperties: [AMQPMapEntry(.string("status-code"), .int(202))])
        // int 202 does not fit smallint, so it is written as 0x71, as Azure writes status codes.
        #expect(hexString(message.encoded()) == "005374c11302a10b7374617475732d636f64657100000" + "0ca")
        let decoded = try AMQPMessage.decode(from: buffer(message.encoded()))
        #expect(decoded.body == .value(.null))
        #expect(decoded.applicationProperties == message.applicationProperties)
        #expect(try AMQPMessage.decode(from: ByteBuffer()).body == .value(.null))
    }

    @Test func batchFormatAndSectionsOfABatch() throws {
        #expect(AMQPMessage.batchFormat == 0x8001_3700)
        let events = [AMQPMessage(body: .data([[1]])), AMQPMessage(messageAnnotations: [], body: .value(.string("x")))]
        let batch = AMQPMessage(body: .data(events.map { $0.encoded() }))
        let decoded = try AMQPMessage.decode(from: buffer(batch.encoded()))
        guard case .data(let sections) = decoded.body else {
            Issue.record("batch body is not data")
            return
        }
        #expect(try sections.map { try AMQPMessage.decode(from: buffer($0)) } == events)
    }

    @Test func symbolicSectionDescriptorsAreAccepted() throws {
        var bytes = encode(.described(descriptor: .symbol("amqp:application-properties:map"), value: .map([])))
        bytes += encode(.described(descriptor: .symbol("amqp:amqp-value:*"), value: .uint(1)))
        let message = try AMQPMessage.decode(from: buffer(bytes))
        #expect(message.applicationProperties == [])
        #expect(message.body == .value(.uint(1)))
    }

    struct BadMessage: Sendable, CustomTestStringConvertible {
        let name: String
        let sections: [AMQPValue]
        let message: String
        var testDescription: String { name }
    }

    static func section(_ code: UInt64, _ value: AMQPValue) -> AMQPValue {
        .described(descriptor: .ulong(code), value: value)
    }

    static let badMessages: [BadMessage] = [
        BadMessage(
            name: "not described", sections: [.uint(1)],
            message: "message section at byte 0: expected a described value, found uint"
        ),
        BadMessage(
            name: "unknown section", sections: [section(0x79, .null)],
            message: "message section at byte 0: unknown descriptor 0x79"
        ),
        BadMessage(
            name: "properties after application properties",
            sections: [section(0x74, .map([])), section(0x73, .list([]))],
            message: "message: properties section after application-properties section"
        ),
        BadMessage(
            name: "two headers", sections: [section(0x70, .list([])), section(0x70, .list([]))],
            message: "message: header section after header section"
        ),
        BadMessage(
            name: "data then value", sections: [section(0x75, .binary([])), section(0x77, .null)],
            message: "message: amqp-value section after data section"
        ),
        BadMessage(
            name: "two values", sections: [section(0x77, .null), section(0x77, .null)],
            message: "message: amqp-value section after amqp-value section"
        ),
        BadMessage(
            name: "data that is not binary", sections: [section(0x75, .string("x"))],
            message: "message data section: expected binary, found string"
        ),
        BadMessage(
            name: "annotations that are not a map", sections: [section(0x72, .list([]))],
            message: "message message-annotations section: expected map, found list"
        ),
        BadMessage(
            name: "header with a wrong field", sections: [section(0x70, .list([.string("yes")]))],
            message: "header.durable: expected boolean, found string"
        ),
        BadMessage(
            name: "message-id of a wrong type", sections: [section(0x73, .list([.bool(true)]))],
            message: "properties.message-id: expected ulong, uuid, binary or string, found boolean"
        ),
    ]

    @Test(arguments: badMessages)
    func malformedMessagesNameTheSection(bad: BadMessage) {
        var bytes: [UInt8] = []
        for section in bad.sections {
            bytes += encode(section)
        }
        let failure = amqpErrorMessage { _ = try AMQPMessage.decode(from: buffer(bytes)) }
        #expect(failure?.0 == .malformedData)
        #expect(failure?.1 == bad.message)
    }

    @Test func everyTruncationOfAMessageFails() throws {
        let bytes = Self.full.encoded()
        var boundaries: Set<Int> = []
        var sections = buffer(bytes)
        while sections.readableBytes > 0 {
            _ = try AMQPValue.decode(from: &sections)
            boundaries.insert(sections.readerIndex)
        }
        // Cutting exactly between sections leaves a shorter, valid message; anywhere else is a named error.
        for length in 1..<bytes.count {
            let failure = amqpErrorMessage { _ = try AMQPMessage.decode(from: ByteBuffer(bytes: bytes.prefix(length))) }
            if boundaries.contains(length) {
                #expect(failure == nil, "cut at \(length)")
            } else {
                #expect(failure?.0 == .malformedData, "cut at \(length)")
            }
        }
    }
}
