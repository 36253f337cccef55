import AMQP
import Foundation
import NIOCore

/// An event to publish: a body and the properties Event Hubs carries beside it.
public struct EventData: Sendable, Hashable {
    /// The event's bytes.
    public var body: [UInt8]
    /// A MIME type describing the body, e.g. `application/json`.
    public var contentType: String?
    /// An id correlating this event with others (AMQP `correlation-id`).
    public var correlationID: String?
    /// An id of this event chosen by the application (AMQP `message-id`).
    public var messageID: String?
    /// Application properties: string keys, AMQP values (strings, numbers, booleans, timestamps, binary).
    public var properties: [String: AMQPValue]

    public init(
        body: [UInt8], contentType: String? = nil, correlationID: String? = nil, messageID: String? = nil,
        properties: [String: AMQPValue] = [:]
    ) {
        self.body = body
        self.contentType = contentType
        self.correlationID = correlationID
        self.messageID = messageID
        self.properties = properties
    }

    /// An event whose body is the UTF-8 bytes of `text`.
    public init(string text: String, contentType: String? = nil, properties: [String: AMQPValue] = [:]) {
        self.init(body: Array(text.utf8), contentType: contentType, properties: properties)
    }

    /// The body as UTF-8 text, if it is.
    public var bodyAsString: String? { String(validating: body, as: UTF8.self) }

    /// The AMQP message Event Hubs stores for this event; the partition key travels as a message annotation.
    func amqpMessage(partitionKey: String?) -> AMQPMessage {
        var message = AMQPMessage(body: .data([body]))
        if contentType != nil || correlationID != nil || messageID != nil {
            message.properties = AMQPMessage.Properties(
                messageID: messageID.map { .string($0) }, correlationID: correlationID.map { .string($0) },
                contentType: contentType)
        }
        if !properties.isEmpty {
            message.applicationProperties = properties.keys.sorted().map { AMQPMapEntry(.string($0), properties[$0]!) }
        }
        if let partitionKey {
            message.messageAnnotations = [AMQPMapEntry(.symbol(EventHubsAnnotation.partitionKey), .string(partitionKey))]
        }
        return message
    }
}

/// The message annotations Event Hubs sets on stored events.
enum EventHubsAnnotation {
    static let partitionKey = "x-opt-partition-key"
    static let sequenceNumber = "x-opt-sequence-number"
    static let offset = "x-opt-offset"
    static let enqueuedTime = "x-opt-enqueued-time"
}

/// An event read from a partition, with what the hub recorded about it.
public struct ReceivedEventData: Sendable, Hashable {
    /// The event as it was published.
    public var event: EventData
    /// The partition it was read from.
    public var partitionID: String
    /// Its position in the partition, unique and increasing.
    public var sequenceNumber: Int64
    /// The hub's offset of the event in the partition, an opaque string.
    public var offset: String
    /// When the hub stored it.
    public var enqueuedTime: Date
    /// The key it was published with, if any.
    public var partitionKey: String?
    /// Every message annotation as received, for properties this client does not name.
    public var systemProperties: [String: AMQPValue]
    /// The partition's last enqueued event when it was read, if tracking was asked for.
    public var lastEnqueuedEventProperties: LastEnqueuedEventProperties?

    public var body: [UInt8] { event.body }
    public var properties: [String: AMQPValue] { event.properties }

    init(message: AMQPMessage, partitionID: String) throws {
        var body: [UInt8] = []
        switch message.body {
        case .data(let sections): body = sections.flatMap { $0 }
        case .value(.binary(let bytes)): body = bytes
        case .value(.string(let text)): body = Array(text.utf8)
        default: break
        }
        var properties: [String: AMQPValue] = [:]
        for entry in message.applicationProperties ?? [] {
            if let key = entry.key.stringValue { properties[key] = entry.value }
        }
        event = EventData(
            body: body, contentType: message.properties?.contentType,
            correlationID: message.properties?.correlationID.flatMap(Self.text),
            messageID: message.properties?.messageID.flatMap(Self.text), properties: properties)
        self.partitionID = partitionID
        var annotations: [String: AMQPValue] = [:]
        for entry in message.messageAnnotations ?? [] {
            if let key = entry.key.stringValue { annotations[key] = entry.value }
        }
        systemProperties = annotations
        guard let sequence = annotations[EventHubsAnnotation.sequenceNumber]?.int64Value else {
            throw EventHubsErrors.invalidResponse("a received event has no \(EventHubsAnnotation.sequenceNumber) annotation")
        }
        sequenceNumber = sequence
        offset = annotations[EventHubsAnnotation.offset]?.stringValue ?? annotations[EventHubsAnnotation.offset]?.int64Value.map(String.init) ?? ""
        if case .timestamp(let milliseconds)? = annotations[EventHubsAnnotation.enqueuedTime] {
            enqueuedTime = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        } else {
            enqueuedTime = Date(timeIntervalSince1970: 0)
        }
        partitionKey = annotations[EventHubsAnnotation.partitionKey]?.stringValue
        if let delivery = message.deliveryAnnotations, let sequence = delivery[symbol: "last_enqueued_sequence_number"]?.int64Value {
            var time: Date?
            if case .timestamp(let ms)? = delivery[symbol: "last_enqueued_time_utc"] { time = Date(timeIntervalSince1970: Double(ms) / 1000) }
            lastEnqueuedEventProperties = LastEnqueuedEventProperties(
                sequenceNumber: sequence, offset: delivery[symbol: "last_enqueued_offset"]?.stringValue, enqueuedTime: time)
        }
    }

    private static func text(_ value: AMQPValue) -> String? {
        switch value {
        case .string(let text), .symbol(let text): text
        case .uuid(let uuid): uuid.uuidString.lowercased()
        case .ulong(let number): String(number)
        case .binary(let bytes): bytes.map { String(format: "%02x", $0) }.joined()
        default: nil
        }
    }
}

/// What a partition's newest event was when an event was read (`trackLastEnqueuedEventProperties`).
public struct LastEnqueuedEventProperties: Sendable, Hashable {
    public var sequenceNumber: Int64
    public var offset: String?
    public var enqueuedTime: Date?
}

/// Events sent together in one AMQP message (format 0x80013700): one data section per event, each the
/// event's complete encoded message. Sized to the link's max-message-size, so a batch that was accepted by
/// ``tryAdd(_:)`` is never refused for size.
public struct EventDataBatch: Sendable {
    /// The AMQP message format of a batch of Event Hubs events.
    public static let messageFormat: UInt32 = 0x8001_3700

    /// The partition the batch goes to, if one was named.
    public let partitionID: String?
    /// The key that routes the batch, if one was named.
    public let partitionKey: String?
    /// The largest size the encoded batch may reach.
    public let maximumSizeInBytes: Int
    private(set) var encodedEvents: [ByteBuffer] = []
    private var envelopeSize: Int
    private var sectionsSize = 0

    init(partitionID: String?, partitionKey: String?, maximumSizeInBytes: Int) {
        self.partitionID = partitionID
        self.partitionKey = partitionKey
        self.maximumSizeInBytes = maximumSizeInBytes
        self.envelopeSize = Self.envelope(partitionKey: partitionKey).encoded().count
    }

    /// How many events the batch holds.
    public var count: Int { encodedEvents.count }
    /// The size of the batch as it will be sent.
    public var sizeInBytes: Int { envelopeSize + sectionsSize }

    /// Adds an event if it fits.
    /// - Returns: false, leaving the batch unchanged, when the event would make it larger than ``maximumSizeInBytes``.
    @discardableResult
    public mutating func tryAdd(_ event: EventData) -> Bool {
        var buffer = ByteBufferAllocator().buffer(capacity: event.body.count + 64)
        event.amqpMessage(partitionKey: partitionKey).encode(into: &buffer)
        // A data section: descriptor (3 bytes) and a vbin8 or vbin32 header.
        let sectionSize = 3 + (buffer.readableBytes < 256 ? 2 : 5) + buffer.readableBytes
        guard sizeInBytes + sectionSize <= maximumSizeInBytes else { return false }
        encodedEvents.append(buffer)
        sectionsSize += sectionSize
        return true
    }

    private static func envelope(partitionKey: String?) -> AMQPMessage {
        var message = AMQPMessage(body: .data([]))
        if let partitionKey {
            message.messageAnnotations = [AMQPMapEntry(.symbol(EventHubsAnnotation.partitionKey), .string(partitionKey))]
        }
        return message
    }

    /// The encoded batch message.
    func encoded() -> ByteBuffer {
        var message = Self.envelope(partitionKey: partitionKey)
        message.body = .data(encodedEvents.map { Array($0.readableBytesView) })
        var buffer = ByteBufferAllocator().buffer(capacity: sizeInBytes)
        message.encode(into: &buffer)
        return buffer
    }
}
