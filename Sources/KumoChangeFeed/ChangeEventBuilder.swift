import Foundation
import KumoKV

/// Turns write-ahead log records into events, splitting a value too large for one event into parts.
struct ChangeEventBuilder: Sendable {
    let storeID: String
    /// The largest encoded event (JSON) the hub accepts inside a batch, with room for the AMQP framing.
    let maxEventBytes: Int
    /// A fixed cap on value bytes per event, below what ``maxEventBytes`` allows.
    let maxValueBytesPerEvent: Int?

    /// The events for one record: one, or one per part of a large value.
    func events(for record: ChangeRecord, time: Date) -> [ChangeEvent] {
        let event = ChangeEvent(
            storeID: storeID, kind: ChangeEvent.Kind(record.operation), sequenceNumber: record.sequenceNumber,
            batchSequenceNumber: record.batchSequenceNumber, batchSize: record.batchSize,
            columnFamilyID: record.columnFamilyID, columnFamily: record.columnFamily, key: record.key,
            endKey: record.endKey, data: record.value, time: time)
        guard let value = record.value else { return [event] }
        // Most values are far below the limit: skip measuring the event's attributes for them.
        let roughSize = (value.count + 2) / 3 * 4 + (record.key.count + (record.endKey?.count ?? 0)) * 5 + storeID.utf8.count * 2
            + (record.columnFamily?.utf8.count ?? 0) * 6 + 512
        if roughSize < maxEventBytes, maxValueBytesPerEvent.map({ value.count <= $0 }) ?? true { return [event] }
        let budget = valueBudget(for: event)
        guard value.count > budget else { return [event] }
        let count = (value.count + budget - 1) / budget
        return (0..<count).map { index in
            var part = event
            let start = index * budget
            part.data = Array(value[start..<min(value.count, start + budget)])
            part.part = ChangeEvent.Part(number: index + 1, count: count, valueSize: value.count)
            return part
        }
    }

    /// How many value bytes fit in one event beside this event's attributes.
    func valueBudget(for event: ChangeEvent) -> Int {
        let overhead = ChangeEventFormat.encodedSize(withoutData: event, dataBytes: 0)
        // base64 turns 3 bytes into 4; keep whole groups of 3 so parts concatenate without padding inside.
        var budget = max(3, (maxEventBytes - overhead) / 4 * 3)
        if let cap = maxValueBytesPerEvent { budget = min(budget, max(1, cap)) }
        return budget
    }
}
