import AzureCore
import Foundation

/// The wire form of a ``ChangeEvent``: a CloudEvents 1.0 event in structured mode, one JSON object per Event Hubs
/// event body, with AMQP `content-type` `application/cloudevents+json; charset=utf-8`.
///
/// ```json
/// {"specversion":"1.0","id":"<store>:<batch seq>:<index>","source":"kumo://stores/<store>","type":"kumo.kv.put",
///  "subject":"user%2F1","time":"2026-12-05T10:00:00.123Z","datacontenttype":"application/octet-stream",
///  "kumocf":"default","kumocfid":0,"kumoseq":"42","kumobatchseq":"41","kumobatchsize":2,
///  "kumokey":"dXNlci8x","data_base64":"..."}
/// ```
/// CloudEvents integers are 32-bit, so sequence numbers travel as decimal strings. Keys and values are base64.
public enum ChangeEventFormat {
    /// The AMQP content type of a structured-mode CloudEvent.
    public static let contentType = "application/cloudevents+json; charset=utf-8"
    /// The content type of `data` (values are raw bytes).
    public static let dataContentType = "application/octet-stream"

    /// The JSON bytes of an event, attributes in a fixed order.
    /// - Parameter time: `event.time` already formatted, for a caller encoding many events read at one moment.
    public static func encode(_ event: ChangeEvent, time: String? = nil) -> [UInt8] {
        var out = JSONWriter(capacity: 320 + (event.data?.count ?? 0) * 4 / 3 + event.key.count * 3)
        out.begin()
        out.string("specversion", "1.0")
        out.string("id", event.id)
        out.string("source", event.source)
        out.string("type", event.kind.rawValue)
        out.string("subject", event.subject)
        out.string("time", time ?? Timestamp.rfc3339(event.time))
        if event.data != nil { out.string("datacontenttype", dataContentType) }
        if let family = event.columnFamily { out.string("kumocf", family) }
        out.integer("kumocfid", Int(event.columnFamilyID))
        out.string("kumoseq", String(event.sequenceNumber))
        out.string("kumobatchseq", String(event.batchSequenceNumber))
        out.integer("kumobatchsize", event.batchSize)
        out.base64("kumokey", event.key)
        if let endKey = event.endKey { out.base64("kumoendkey", endKey) }
        if let part = event.part {
            out.integer("kumopart", part.number)
            out.integer("kumoparts", part.count)
            out.integer("kumovaluesize", part.valueSize)
        }
        if let data = event.data { out.base64("data_base64", data) }
        out.end()
        return out.bytes
    }

    /// The JSON size of an event without its data, plus what `dataBytes` of data add (base64, 4 per 3).
    static func encodedSize(withoutData event: ChangeEvent, dataBytes: Int) -> Int {
        var bare = event
        bare.data = nil
        bare.part = ChangeEvent.Part(number: Int(Int32.max), count: Int(Int32.max), valueSize: Int(Int32.max))
        return encode(bare).count + 64 + (dataBytes + 2) / 3 * 4
    }

    /// The attributes as JSON carries them; every one optional, so a missing one is named by ``decode(_:)``. Integers
    /// are read as numbers and checked after, so one out of range is named too.
    private struct Attributes: Decodable {
        var specversion: String?
        var id: String?
        var source: String?
        var type: String?
        var subject: String?
        var time: String?
        var kumocf: String?
        var kumocfid: Double?
        var kumoseq: String?
        var kumobatchseq: String?
        var kumobatchsize: Double?
        var kumokey: String?
        var kumoendkey: String?
        var kumopart: Double?
        var kumoparts: Double?
        var kumovaluesize: Double?
        var data_base64: String?
    }

    /// Reads an event's JSON body.
    /// - Throws: ``ChangeFeedError`` `.malformedEvent` naming the attribute that is missing or wrong.
    public static func decode(_ body: [UInt8]) throws -> ChangeEvent {
        let fields: Attributes
        do {
            fields = try JSONDecoder().decode(Attributes.self, from: Data(body))
        } catch let error as DecodingError {
            switch error {
            case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
                let name = context.codingPath.first?.stringValue ?? "the body"
                if context.codingPath.isEmpty { throw malformed("the body is not a JSON object") }
                throw malformed("\(name): expected \(type == String.self ? "a string" : "a number")")
            case .dataCorrupted(let context) where !context.codingPath.isEmpty:
                throw malformed("\(context.codingPath[0].stringValue): expected a 32-bit integer")
            default:
                throw malformed("the body is not JSON (\(body.count) bytes)")
            }
        } catch {
            throw malformed("the body is not JSON (\(body.count) bytes)")
        }
        func required<T>(_ value: T?, _ name: String) throws -> T {
            guard let value else { throw malformed("\(name) is missing") }
            return value
        }
        func integer(_ value: Double?, _ name: String) throws -> Int {
            let value = try required(value, name)
            guard let int = Int32(exactly: value) else { throw malformed("\(name): expected a 32-bit integer") }
            return Int(int)
        }
        func sequence(_ text: String?, _ name: String) throws -> UInt64 {
            let text = try required(text, name)
            guard let value = UInt64(text) else { throw malformed("\(name): expected a decimal sequence number, found \"\(text.prefix(40))\"") }
            return value
        }
        func bytes(_ text: String?, _ name: String) throws -> [UInt8]? {
            guard let text else { return nil }
            guard let data = Data(base64Encoded: text) else { throw malformed("\(name): not base64") }
            return Array(data)
        }

        let version = try required(fields.specversion, "specversion")
        guard version == "1.0" else { throw malformed("specversion \"\(version.prefix(20))\" is not 1.0") }
        let type = try required(fields.type, "type")
        guard let kind = ChangeEvent.Kind(rawValue: type) else { throw malformed("type \"\(type.prefix(60))\" is not a Kumo change") }
        let source = try required(fields.source, "source")
        let prefix = "kumo://stores/"
        guard source.hasPrefix(prefix), source.count > prefix.count else {
            throw malformed("source \"\(source.prefix(80))\" is not kumo://stores/<id>")
        }
        let storeID = String(source.dropFirst(prefix.count))
        let sequenceNumber = try sequence(fields.kumoseq, "kumoseq")
        let batchSequence = try sequence(fields.kumobatchseq, "kumobatchseq")
        let batchSize = try integer(fields.kumobatchsize, "kumobatchsize")
        guard batchSequence <= sequenceNumber, batchSize > 0, sequenceNumber - batchSequence < UInt64(batchSize) else {
            throw malformed("kumoseq \(sequenceNumber) is not inside the batch of \(batchSize) at kumobatchseq \(batchSequence)")
        }
        let familyID = try integer(fields.kumocfid, "kumocfid")
        guard familyID >= 0 else { throw malformed("kumocfid: negative") }
        guard let key = try bytes(fields.kumokey, "kumokey") else { throw malformed("kumokey is missing") }
        let timeText = try required(fields.time, "time")
        guard let time = Timestamp.parse(timeText) else { throw malformed("time \"\(timeText.prefix(40))\" is not an RFC 3339 timestamp") }
        var part: ChangeEvent.Part?
        if fields.kumopart != nil || fields.kumoparts != nil {
            let number = try integer(fields.kumopart, "kumopart")
            let count = try integer(fields.kumoparts, "kumoparts")
            let size = try integer(fields.kumovaluesize, "kumovaluesize")
            guard count >= 1, number >= 1, number <= count, size >= 0 else {
                throw malformed("kumopart \(number) of kumoparts \(count) (kumovaluesize \(size)) is not a valid part")
            }
            part = ChangeEvent.Part(number: number, count: count, valueSize: size)
        }
        let event = ChangeEvent(
            storeID: storeID, kind: kind, sequenceNumber: sequenceNumber, batchSequenceNumber: batchSequence,
            batchSize: batchSize, columnFamilyID: UInt32(familyID), columnFamily: fields.kumocf,
            key: key, endKey: try bytes(fields.kumoendkey, "kumoendkey"), data: try bytes(fields.data_base64, "data_base64"),
            part: part, time: time)
        let id = try required(fields.id, "id")
        guard id == event.id else { throw malformed("id \"\(id.prefix(80))\" does not match its store, batch and index (\(event.id))") }
        return event
    }

    private static func malformed(_ detail: String) -> ChangeFeedError {
        ChangeFeedError(.malformedEvent, "not a Kumo change event: \(detail)")
    }
}

/// A JSON object written field by field, for the feed's hot path (no intermediate dictionaries).
struct JSONWriter {
    private(set) var bytes: [UInt8]
    private var first = true

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func begin() { bytes.append(UInt8(ascii: "{")) }
    mutating func end() { bytes.append(UInt8(ascii: "}")) }

    private mutating func name(_ name: String) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        quoted(name)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func string(_ key: String, _ value: String) {
        name(key)
        quoted(value)
    }

    /// A string attribute holding `value` in base64 (RFC 4648, padded), written straight into the output.
    mutating func base64(_ key: String, _ value: [UInt8]) {
        name(key)
        bytes.append(UInt8(ascii: "\""))
        let alphabet = JSONWriter.base64Alphabet
        var index = 0
        bytes.reserveCapacity(bytes.count + (value.count + 2) / 3 * 4 + 1)
        while index + 3 <= value.count {
            let chunk = UInt32(value[index]) << 16 | UInt32(value[index + 1]) << 8 | UInt32(value[index + 2])
            bytes.append(alphabet[Int(chunk >> 18 & 63)])
            bytes.append(alphabet[Int(chunk >> 12 & 63)])
            bytes.append(alphabet[Int(chunk >> 6 & 63)])
            bytes.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        let left = value.count - index
        if left > 0 {
            let chunk = UInt32(value[index]) << 16 | (left == 2 ? UInt32(value[index + 1]) << 8 : 0)
            bytes.append(alphabet[Int(chunk >> 18 & 63)])
            bytes.append(alphabet[Int(chunk >> 12 & 63)])
            bytes.append(left == 2 ? alphabet[Int(chunk >> 6 & 63)] : UInt8(ascii: "="))
            bytes.append(UInt8(ascii: "="))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    mutating func integer(_ key: String, _ value: Int) {
        name(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    private mutating func quoted(_ text: String) {
        let hex = Array("0123456789abcdef".utf8)
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// RFC 3339 timestamps in UTC with milliseconds, formatted without a `DateFormatter` (the feed writes one per event).
enum Timestamp {
    static func rfc3339(_ date: Date) -> String { HTTPDateFormat.iso8601(date, milliseconds: true) }

    static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
