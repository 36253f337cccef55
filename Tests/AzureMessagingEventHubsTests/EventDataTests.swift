import AMQP
import AzureCore
import Foundation
import NIOCore
import Testing

@testable import AzureMessagingEventHubs

/// Events as they go on the wire and come back: batch sizing, the filters positions become, and events the
/// real Event Hubs delivered (frames recorded from Azure, in ../shared/fixtures/amqp).
@Suite struct EventDataTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/fixtures/amqp")

    /// The payloads of the hub's transfers to a receiver link in one recorded file.
    static func receivedPayloads(_ file: String) throws -> [ByteBuffer] {
        let text = try String(contentsOf: fixtures.appendingPathComponent(file), encoding: .utf8)
        var payloads: [ByteBuffer] = []
        for line in text.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard object["Direction"] as? String == "in", object["FrameType"] as? String == "Transfer",
                object["Receiver"] as? Bool == true, let entity = object["EntityPath"] as? String, entity.contains("/Partitions/"),
                let frame = object["Frame"] as? [String: Any], let body = frame["Body"] as? [String: Any],
                let payload = body["Payload"] as? String, let bytes = Data(base64Encoded: payload)
            else { continue }
            payloads.append(ByteBuffer(bytes: Array(bytes)))
        }
        return payloads
    }

    @Test func eventsTheRealHubDeliveredDecode() throws {
        let payloads = try Self.receivedPayloads("test_receive.test_receive_with_event_position_sync[pyamqp-sequence-True-Inclusive]-9.json")
        #expect(payloads.count == 2)
        let events = try payloads.map { try ReceivedEventData(message: AMQPMessage.decode(from: $0), partitionID: "0") }
        #expect(events.map(\.sequenceNumber) == [0, 1])
        #expect(events.map(\.offset) == ["0", "72"])
        #expect(events.allSatisfy { $0.event.bodyAsString == "Inclusive" })
        // x-opt-enqueued-time 2025-04-29T18:15:19.482Z, as the recorder decoded it.
        #expect(events[0].enqueuedTime == Date(timeIntervalSince1970: 1_745_950_519.482))
        let last = try #require(events[1].lastEnqueuedEventProperties)
        #expect(last.sequenceNumber == 1)
        #expect(last.offset == "72")
        #expect(events[0].systemProperties["x-opt-sequence-number-epoch"] == .int(-1))
    }

    @Test func partitionKeyOfAReceivedEvent() throws {
        let payloads = try Self.receivedPayloads("test_receive.test_receive_end_of_stream[pyamqp]-3.json")
        let event = try ReceivedEventData(message: AMQPMessage.decode(from: #require(payloads.first)), partitionID: "0")
        #expect(event.partitionKey == "0")
    }

    @Test(arguments: [0, 1, 200, 255, 256, 300, 70_000])
    func batchSizeIsExactlyWhatIsSent(bodySize: Int) {
        for key in [nil, "user-42"] as [String?] {
            var batch = EventDataBatch(partitionID: nil, partitionKey: key, maximumSizeInBytes: 1 << 20)
            for index in 0..<3 {
                let added = batch.tryAdd(EventData(
                    body: [UInt8](repeating: UInt8(index), count: bodySize), contentType: "application/json", messageID: "m\(index)",
                    properties: ["index": .int(Int32(index))]))
                #expect(added)
            }
            #expect(batch.encoded().readableBytes == batch.sizeInBytes)
        }
    }

    @Test func batchRefusesWhatWouldExceedTheLimitAndStaysUnchanged() throws {
        var batch = EventDataBatch(partitionID: "1", partitionKey: nil, maximumSizeInBytes: 1000)
        let first = batch.tryAdd(EventData(body: [UInt8](repeating: 1, count: 400)))
        let second = batch.tryAdd(EventData(body: [UInt8](repeating: 2, count: 400)))
        #expect(first && second)
        let before = batch.sizeInBytes
        let third = batch.tryAdd(EventData(body: [UInt8](repeating: 3, count: 400)))
        #expect(!third)
        #expect(batch.count == 2)
        #expect(batch.sizeInBytes == before)
        #expect(batch.sizeInBytes <= 1000)
        // The batch message: format 0x80013700, one data section per event, each a complete message.
        let message = try AMQPMessage.decode(from: batch.encoded())
        guard case .data(let sections) = message.body else { Issue.record("a batch has data sections"); return }
        #expect(sections.count == 2)
        let inner = try AMQPMessage.decode(from: ByteBuffer(bytes: sections[1]))
        #expect(inner.body == .data([[UInt8](repeating: 2, count: 400)]))
    }

    @Test func partitionKeyTravelsOnTheBatchAndEachEvent() throws {
        var batch = EventDataBatch(partitionID: nil, partitionKey: "tenant-7", maximumSizeInBytes: 1 << 20)
        batch.tryAdd(EventData(string: "a"))
        let message = try AMQPMessage.decode(from: batch.encoded())
        #expect(message.messageAnnotations?[symbol: "x-opt-partition-key"] == .string("tenant-7"))
        guard case .data(let sections) = message.body else { Issue.record("no data"); return }
        let inner = try AMQPMessage.decode(from: ByteBuffer(bytes: sections[0]))
        #expect(inner.messageAnnotations?[symbol: "x-opt-partition-key"] == .string("tenant-7"))
    }

    @Test func eventPropertiesRoundTripThroughTheMessage() throws {
        let event = EventData(
            body: Array("{\"k\":1}".utf8), contentType: "application/json", correlationID: "c-1", messageID: "m-1",
            properties: ["kind": .string("put"), "count": .long(3), "ok": .bool(true)])
        var message = event.amqpMessage(partitionKey: nil)
        message.messageAnnotations = [
            AMQPMapEntry(.symbol("x-opt-sequence-number"), .long(9)), AMQPMapEntry(.symbol("x-opt-offset"), .string("4096")),
            AMQPMapEntry(.symbol("x-opt-enqueued-time"), .timestamp(1_700_000_000_123)),
        ]
        let received = try ReceivedEventData(message: AMQPMessage.decode(from: ByteBuffer(bytes: message.encoded())), partitionID: "3")
        #expect(received.event == event)
        #expect(received.sequenceNumber == 9)
        #expect(received.offset == "4096")
        #expect(received.enqueuedTime == Date(timeIntervalSince1970: 1_700_000_000.123))
    }

    @Test func anEventWithoutSequenceNumberIsRefused() {
        #expect(throws: AzureError.self) {
            try ReceivedEventData(message: AMQPMessage(body: .data([[1]])), partitionID: "0")
        }
    }

    @Test(arguments: [
        (EventPosition.earliest, "amqp.annotation.x-opt-offset > '-1'"),
        (EventPosition.latest, "amqp.annotation.x-opt-offset > '@latest'"),
        (EventPosition.sequenceNumber(5, isInclusive: true), "amqp.annotation.x-opt-sequence-number >= '5'"),
        (EventPosition.sequenceNumber(5), "amqp.annotation.x-opt-sequence-number > '5'"),
        (EventPosition.offset("4096", isInclusive: true), "amqp.annotation.x-opt-offset >= '4096'"),
        (EventPosition.enqueuedTime(Date(timeIntervalSince1970: 1_700_000_000.5)), "amqp.annotation.x-opt-enqueued-time > '1700000000500'"),
    ])
    func positionsBecomeTheHubsFilters(position: EventPosition, expression: String) {
        #expect(position.filterExpression == expression)
    }

    @Test func conditionsMapToAzureErrors() {
        let cases: [(String, Int?, Bool, AzureError.Code)] = [
            ("amqp:not-found", 404, false, .service),
            ("com.microsoft:auth-failed", 401, false, .authentication),
            ("amqp:unauthorized-access", 401, false, .authentication),
            ("com.microsoft:server-busy", 503, true, .service),
            ("amqp:link:stolen", 409, false, .service),
            ("amqp:link:message-size-exceeded", 413, false, .service),
            ("amqp:link:detach-forced", nil, true, .service),
        ]
        for (condition, status, retriable, code) in cases {
            let error = EventHubsErrors.map(
                AMQPError.remote(AMQPErrorCondition(condition: condition, description: "why", info: nil), code: .linkDetached),
                operation: "sending to hub")
            #expect(error.errorCode == condition)
            #expect(error.statusCode == status)
            #expect(error.isRetriable == retriable)
            #expect(error.code == code)
            #expect(error.message.contains("sending to hub"))
        }
        #expect(EventHubsErrors.map(AMQPError(code: .connectionClosed, message: "gone"), operation: "x").isRetriable)
        #expect(EventHubsErrors.map(AMQPError(code: .connectionClosed, message: "gone"), operation: "x").code == .transport)
    }
}
