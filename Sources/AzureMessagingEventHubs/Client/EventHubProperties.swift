import AMQP
import Foundation

/// What `$management` says about a hub.
public struct EventHubProperties: Sendable, Hashable {
    public var name: String
    public var createdOn: Date
    public var partitionIDs: [String]

    init(_ value: AMQPValue) throws {
        guard let map = value.mapValue else { throw EventHubsErrors.invalidResponse("the hub's properties are not a map") }
        guard let name = map[string: "name"]?.stringValue else { throw EventHubsErrors.invalidResponse("the hub's properties have no name") }
        self.name = name
        if case .timestamp(let ms)? = map[string: "created_at"] { createdOn = Date(timeIntervalSince1970: Double(ms) / 1000) } else { createdOn = Date(timeIntervalSince1970: 0) }
        guard let ids = map[string: "partition_ids"]?.arrayValue ?? map[string: "partition_ids"]?.listValue else {
            throw EventHubsErrors.invalidResponse("the properties of hub \(name) have no partition_ids")
        }
        partitionIDs = ids.compactMap(\.stringValue)
    }
}

/// What `$management` says about one partition.
public struct PartitionProperties: Sendable, Hashable {
    public var eventHubName: String
    public var id: String
    public var beginningSequenceNumber: Int64
    public var lastEnqueuedSequenceNumber: Int64
    public var lastEnqueuedOffset: String
    public var lastEnqueuedTime: Date
    public var isEmpty: Bool

    init(_ value: AMQPValue) throws {
        guard let map = value.mapValue else { throw EventHubsErrors.invalidResponse("the partition's properties are not a map") }
        eventHubName = map[string: "name"]?.stringValue ?? ""
        id = map[string: "partition"]?.stringValue ?? ""
        beginningSequenceNumber = map[string: "begin_sequence_number"]?.int64Value ?? -1
        lastEnqueuedSequenceNumber = map[string: "last_enqueued_sequence_number"]?.int64Value ?? -1
        lastEnqueuedOffset = map[string: "last_enqueued_offset"]?.stringValue ?? "-1"
        if case .timestamp(let ms)? = map[string: "last_enqueued_time_utc"] {
            lastEnqueuedTime = Date(timeIntervalSince1970: Double(ms) / 1000)
        } else {
            lastEnqueuedTime = Date(timeIntervalSince1970: 0)
        }
        isEmpty = map[string: "is_partition_empty"]?.boolValue ?? (lastEnqueuedSequenceNumber < beginningSequenceNumber)
    }
}
