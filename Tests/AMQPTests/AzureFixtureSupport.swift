import AMQP
import Foundation
import NIOCore
import Testing

/// A JSON value as the recorder wrote it; numbers keep their integer width.
enum JSON: Sendable, Decodable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .uint(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSON].self))
        }
    }

    subscript(key: String) -> JSON {
        if case .object(let fields) = self { fields[key] ?? .null } else { .null }
    }

    var string: String? {
        if case .string(let value) = self { value } else { nil }
    }

    /// A string that the recorder writes as "" when the field was absent.
    var nonEmptyString: String? {
        guard let value = string, !value.isEmpty else { return nil }
        return value
    }

    var bool: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    var uint64: UInt64? {
        switch self {
        case .int(let value): UInt64(exactly: value)
        case .uint(let value): value
        default: nil
        }
    }

    var int64: Int64? {
        switch self {
        case .int(let value): value
        case .uint(let value): Int64(exactly: value)
        default: nil
        }
    }

    var uint32: UInt32? { uint64.flatMap { UInt32(exactly: $0) } }

    var array: [JSON]? {
        if case .array(let value) = self { value } else { nil }
    }

    var object: [String: JSON]? {
        if case .object(let value) = self { value } else { nil }
    }

    var isNull: Bool { self == .null }

    var strings: [String]? { array?.compactMap(\.string) }

    /// Base64 text as bytes ("" is an empty array).
    var base64: [UInt8]? { string.flatMap { Data(base64Encoded: $0) }.map(Array.init) }

    /// The recorder's 16-element byte arrays for UUIDs.
    var uuid: UUID? {
        guard let bytes = array?.compactMap(\.uint64), bytes.count == 16 else { return nil }
        let b = bytes.map { UInt8($0) }
        return UUID(
            uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
        )
    }
}

/// One line of a recording: a frame as the recorder saw it.
struct RecordedFrame: Sendable, Decodable, CustomTestStringConvertible {
    struct Frame: Sendable, Decodable {
        struct Header: Sendable, Decodable {
            let Size: Int
            let DataOffset: Int
            let FrameType: Int
            let Channel: Int
            let Raw: String
        }

        let Header: Header
        let Body: JSON?
    }

    let Direction: String
    let FrameType: String
    let Frame: Frame?
    let MessageData: JSON?
    var file = ""
    var line = 0

    enum CodingKeys: String, CodingKey {
        case Direction, FrameType, Frame, MessageData
    }

    var testDescription: String { "\(file):\(line) \(Direction) \(FrameType)" }
}

enum AzureFixtures {
    /// ../shared/fixtures/amqp from the package root.
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/fixtures/amqp")

    static let files: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }()

    static func frames(in file: String) throws -> [RecordedFrame] {
        let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        var frames: [RecordedFrame] = []
        for (index, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            var frame = try JSONDecoder().decode(RecordedFrame.self, from: Data(line.utf8))
            frame.file = file
            frame.line = index + 1
            frames.append(frame)
        }
        return frames
    }

    static let allFrames: [RecordedFrame] = files.flatMap { (try? frames(in: $0)) ?? [] }

    /// Every transfer payload of the recordings: real messages to mutate and to seed the fuzzer with.
    static var payloads: [[UInt8]] {
        allFrames.compactMap { $0.Frame?.Body?["Payload"].base64 }
    }
}

/// Builds Kumo's value for what the recorder decoded. The recorder shows absent fields as Go zero values, so
/// "" and 0 in optional fields are read as absent where the frame sizes show they were.
enum RecordedBody {
    static func symbols(_ json: JSON) -> [String]? { json.strings }

    /// A fields map. The recorder drops the AMQP types of values: numbers that fit a smallint were written as
    /// 1-byte forms and larger ones as 4-byte ints by both peers (the frame sizes agree), so numbers map to `.int`
    /// when they fit and `.long` otherwise.
    static func fields(_ json: JSON) -> [AMQPMapEntry]? {
        guard let object = json.object else { return nil }
        return object.keys.sorted().map { key in AMQPMapEntry(.symbol(key), value(object[key]!)) }
    }

    static func value(_ json: JSON) -> AMQPValue {
        switch json {
        case .null: .null
        case .bool(let value): .bool(value)
        case .int(let value): Int32(exactly: value).map { .int($0) } ?? .long(value)
        case .uint(let value): .ulong(value)
        case .double(let value): .double(value)
        case .string(let value): .string(value)
        case .array(let values): .list(values.map(value))
        case .object: .map(fields(json) ?? [])
        }
    }

    static func errorCondition(_ json: JSON) -> AMQPErrorCondition? {
        guard let condition = json["Condition"].string else { return nil }
        return AMQPErrorCondition(
            condition: condition, description: json["Description"].nonEmptyString, info: fields(json["Info"]))
    }

    static func deliveryState(_ json: JSON) -> AMQPDeliveryState? {
        // The recorder prints the accepted outcome as {} and has no other states in these recordings.
        guard let object = json.object else { return nil }
        return object.isEmpty ? .accepted : nil
    }

    static func source(_ json: JSON) -> AMQPSource? {
        guard json.object != nil else { return nil }
        var filter: [AMQPMapEntry]?
        if let entries = json["Filter"].object {
            filter = entries.keys.sorted().map { key in
                let entry = entries[key]!
                let descriptor: AMQPValue =
                    if let name = entry["Descriptor"].string { .symbol(name) } else {
                        .ulong(entry["Descriptor"].uint64 ?? 0)
                    }
                return AMQPMapEntry(
                    .symbol(key), .described(descriptor: descriptor, value: .string(entry["Value"].string ?? "")))
            }
        }
        return AMQPSource(
            address: json["Address"].nonEmptyString, durable: json["Durable"].uint32 ?? 0,
            expiryPolicy: json["ExpiryPolicy"].nonEmptyString ?? "session-end", timeout: json["Timeout"].uint32 ?? 0,
            dynamic: json["Dynamic"].bool ?? false, dynamicNodeProperties: fields(json["DynamicNodeProperties"]),
            distributionMode: json["DistributionMode"].nonEmptyString, filter: filter,
            defaultOutcome: deliveryState(json["DefaultOutcome"]), outcomes: symbols(json["Outcomes"]),
            capabilities: symbols(json["Capabilities"])
        )
    }

    static func target(_ json: JSON) -> AMQPTarget? {
        guard json.object != nil else { return nil }
        return AMQPTarget(
            address: json["Address"].nonEmptyString, durable: json["Durable"].uint32 ?? 0,
            expiryPolicy: json["ExpiryPolicy"].nonEmptyString ?? "session-end", timeout: json["Timeout"].uint32 ?? 0,
            dynamic: json["Dynamic"].bool ?? false, dynamicNodeProperties: fields(json["DynamicNodeProperties"]),
            capabilities: symbols(json["Capabilities"])
        )
    }

    /// Kumo's frame body for a recorded frame; nil for frame types built elsewhere (transfers need their payload).
    static func performative(_ type: String, _ body: JSON) -> AMQPFrame.Body? {
        switch type {
        case "SASLMechanisms":
            return .sasl(.mechanisms(AMQPSASLMechanisms(mechanisms: symbols(body["Mechanisms"]) ?? [])))
        case "SASLInit":
            return .sasl(
                .initial(
                    AMQPSASLInit(
                        mechanism: body["Mechanism"].string ?? "", initialResponse: body["InitialResponse"].base64,
                        hostname: body["Hostname"].nonEmptyString
                    )))
        case "SASLOutcome":
            return .sasl(
                .outcome(
                    AMQPSASLOutcome(
                        code: AMQPSASLCode(rawValue: UInt8(body["Code"].uint64 ?? 0)) ?? .ok,
                        additionalData: body["AdditionalData"].base64
                    )))
        case "Open":
            // IdleTimeout is in nanoseconds; 0 means absent.
            let idle = body["IdleTimeout"].uint64.flatMap { $0 == 0 ? nil : UInt32(exactly: $0 / 1_000_000) }
            return .amqp(
                .open(
                    AMQPOpen(
                        containerID: body["ContainerID"].string ?? "", hostname: body["Hostname"].nonEmptyString,
                        maxFrameSize: body["MaxFrameSize"].uint32 ?? .max,
                        channelMax: UInt16(body["ChannelMax"].uint64 ?? 65535),
                        idleTimeOut: idle, outgoingLocales: symbols(body["OutgoingLocales"]),
                        incomingLocales: symbols(body["IncomingLocales"]),
                        offeredCapabilities: symbols(body["OfferedCapabilities"]),
                        desiredCapabilities: symbols(body["DesiredCapabilities"]),
                        properties: fields(body["Properties"])
                    )), payload: nil)
        case "Begin":
            return .amqp(
                .begin(
                    AMQPBegin(
                        remoteChannel: body["RemoteChannel"].uint64.map { UInt16($0) },
                        nextOutgoingID: body["NextOutgoingID"].uint32 ?? 0,
                        incomingWindow: body["IncomingWindow"].uint32 ?? 0,
                        outgoingWindow: body["OutgoingWindow"].uint32 ?? 0,
                        handleMax: body["HandleMax"].uint32 ?? .max,
                        offeredCapabilities: symbols(body["OfferedCapabilities"]),
                        desiredCapabilities: symbols(body["DesiredCapabilities"]),
                        properties: fields(body["Properties"])
                    )), payload: nil)
        case "Attach":
            let role: AMQPRole = body["Role"].bool == true ? .receiver : .sender
            return .amqp(
                .attach(
                    AMQPAttach(
                        name: body["Name"].string ?? "", handle: body["Handle"].uint32 ?? 0, role: role,
                        sndSettleMode: AMQPSenderSettleMode(rawValue: UInt8(body["SenderSettleMode"].uint64 ?? 2))
                            ?? .mixed,
                        rcvSettleMode: AMQPReceiverSettleMode(rawValue: UInt8(body["ReceiverSettleMode"].uint64 ?? 0))
                            ?? .first,
                        source: source(body["Source"]), target: target(body["Target"]),
                        unsettled: fields(body["Unsettled"]),
                        incompleteUnsettled: body["IncompleteUnsettled"].bool ?? false,
                        // Only a sender states an initial delivery count; the recorder prints 0 for receivers.
                        initialDeliveryCount: role == .sender ? body["InitialDeliveryCount"].uint32 : nil,
                        maxMessageSize: body["MaxMessageSize"].uint64.flatMap { $0 == 0 ? nil : $0 },
                        offeredCapabilities: symbols(body["OfferedCapabilities"]),
                        desiredCapabilities: symbols(body["DesiredCapabilities"]),
                        properties: fields(body["Properties"])
                    )), payload: nil)
        case "Flow":
            return .amqp(
                .flow(
                    AMQPFlow(
                        nextIncomingID: body["NextIncomingID"].uint32,
                        incomingWindow: body["IncomingWindow"].uint32 ?? 0,
                        nextOutgoingID: body["NextOutgoingID"].uint32 ?? 0,
                        outgoingWindow: body["OutgoingWindow"].uint32 ?? 0,
                        handle: body["Handle"].uint32, deliveryCount: body["DeliveryCount"].uint32,
                        linkCredit: body["LinkCredit"].uint32, available: body["Available"].uint32,
                        drain: body["Drain"].bool ?? false, echo: body["Echo"].bool ?? false,
                        properties: fields(body["Properties"])
                    )), payload: nil)
        case "Disposition":
            return .amqp(
                .disposition(
                    AMQPDisposition(
                        role: body["Role"].bool == true ? .receiver : .sender, first: body["First"].uint32 ?? 0,
                        last: body["Last"].uint32, settled: body["Settled"].bool ?? false,
                        state: deliveryState(body["State"]),
                        batchable: body["Batchable"].bool ?? false
                    )), payload: nil)
        case "Detach":
            return .amqp(
                .detach(
                    AMQPDetach(
                        handle: body["Handle"].uint32 ?? 0, closed: body["Closed"].bool ?? false,
                        error: errorCondition(body["Error"])
                    )), payload: nil)
        case "End":
            return .amqp(.end(AMQPEnd(error: errorCondition(body["Error"]))), payload: nil)
        case "Close":
            return .amqp(.close(AMQPClose(error: errorCondition(body["Error"]))), payload: nil)
        default:
            return nil
        }
    }

    static func transfer(_ body: JSON) -> AMQPTransfer {
        AMQPTransfer(
            handle: body["Handle"].uint32 ?? 0, deliveryID: body["DeliveryID"].uint32,
            deliveryTag: body["DeliveryTag"].base64, messageFormat: body["MessageFormat"].uint32,
            settled: body["Settled"].bool, more: body["More"].bool ?? false,
            rcvSettleMode: body["ReceiverSettleMode"].uint64.flatMap { AMQPReceiverSettleMode(rawValue: UInt8($0)) },
            state: deliveryState(body["State"]), resume: body["Resume"].bool ?? false,
            aborted: body["Aborted"].bool ?? false, batchable: body["Batchable"].bool ?? false
        )
    }
}
