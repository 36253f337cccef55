import Foundation

/// Where a consumer starts reading a partition.
public struct EventPosition: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Hashable {
        case offset(String)
        case sequenceNumber(Int64)
        case enqueuedTime(Date)
    }

    let kind: Kind
    /// Whether the event at the position itself is read.
    public let isInclusive: Bool

    /// The oldest event the partition retains.
    public static let earliest = EventPosition(kind: .offset("-1"), isInclusive: false)
    /// Only events enqueued after the consumer starts.
    public static let latest = EventPosition(kind: .offset("@latest"), isInclusive: false)

    /// From the event with this offset (as reported in ``ReceivedEventData/offset``).
    public static func offset(_ offset: String, isInclusive: Bool = false) -> EventPosition {
        EventPosition(kind: .offset(offset), isInclusive: isInclusive)
    }
    /// From the event with this sequence number.
    public static func sequenceNumber(_ sequenceNumber: Int64, isInclusive: Bool = false) -> EventPosition {
        EventPosition(kind: .sequenceNumber(sequenceNumber), isInclusive: isInclusive)
    }
    /// From the first event enqueued after this time.
    public static func enqueuedTime(_ time: Date) -> EventPosition {
        EventPosition(kind: .enqueuedTime(time), isInclusive: false)
    }

    /// The selector Event Hubs applies to the receiver link (`apache.org:selector-filter:string`).
    var filterExpression: String {
        let comparison = isInclusive ? ">=" : ">"
        switch kind {
        case .offset(let offset):
            return "amqp.annotation.x-opt-offset \(comparison) '\(offset)'"
        case .sequenceNumber(let number):
            return "amqp.annotation.x-opt-sequence-number \(comparison) '\(number)'"
        case .enqueuedTime(let time):
            return "amqp.annotation.x-opt-enqueued-time \(comparison) '\(Int64((time.timeIntervalSince1970 * 1000).rounded()))'"
        }
    }

    public var description: String {
        switch kind {
        case .offset("-1"): "earliest"
        case .offset("@latest"): "latest"
        case .offset(let offset): "offset \(isInclusive ? ">=" : ">") \(offset)"
        case .sequenceNumber(let number): "sequence number \(isInclusive ? ">=" : ">") \(number)"
        case .enqueuedTime(let time): "enqueued after \(time)"
        }
    }
}
