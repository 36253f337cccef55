import AMQP
import Foundation
import KumoKV
import NIOCore

/// One stored event: the message as a reader receives it (with the hub's annotations) and where it sits.
struct StoredEvent: Sendable {
    var sequenceNumber: Int64
    var offset: Int64
    /// Milliseconds since the Unix epoch.
    var enqueuedTime: Int64
    /// The encoded message sections, annotations included.
    var message: [UInt8]
}

/// The partitions' events, persisted in KumoKV under the data directory so they survive restarts. Readers wait
/// for new events without polling: ``waitForEvent(hub:partition:after:)`` returns once one is appended.
actor EventLog {
    struct PartitionState: Sendable {
        var beginSequence: Int64 = 0
        var nextSequence: Int64 = 0
        var nextOffset: Int64 = 0
        var lastEnqueuedTime: Int64 = 0
        var lastOffset: Int64 = -1
        var isEmpty: Bool { nextSequence <= beginSequence }
    }

    private let store: Store
    private var partitions: [String: PartitionState] = [:]
    private var waiters: [String: [UInt64: CheckedContinuation<Void, Never>]] = [:]
    private var nextWaiter: UInt64 = 0

    init(dataDirectory: String, hubs: [EventHubDefinition]) async throws {
        store = try await Store.open(at: dataDirectory + "/eventhubs")
        for hub in hubs {
            for partition in hub.partitionIDs {
                partitions[Self.partitionKey(hub.name, partition)] = try recover(hub: hub.name, partition: partition)
            }
        }
    }

    func close() throws { try store.close() }

    private static func partitionKey(_ hub: String, _ partition: String) -> String { "\(hub.lowercased())/\(partition)" }

    private static func eventKey(_ hub: String, _ partition: String, _ sequence: Int64) -> [UInt8] {
        Array("e/\(partitionKey(hub, partition))/".utf8) + withUnsafeBytes(of: UInt64(bitPattern: sequence).bigEndian) { Array($0) }
    }

    private static func prefix(_ hub: String, _ partition: String) -> [UInt8] { Array("e/\(partitionKey(hub, partition))/".utf8) }

    /// Reads the first and last stored event of a partition.
    private func recover(hub: String, partition: String) throws -> PartitionState {
        var state = PartitionState()
        let prefix = Self.prefix(hub, partition)
        var first: StoredEvent?
        var last: StoredEvent?
        try store.withCursor(.prefix(prefix)) { cursor in
            if let entry = try cursor.next() { first = try Self.decode(entry.value, key: entry.key) }
        }
        try store.withCursor(.prefix(prefix), reverse: true) { cursor in
            if let entry = try cursor.next() { last = try Self.decode(entry.value, key: entry.key) }
        }
        if let first, let last {
            state.beginSequence = first.sequenceNumber
            state.nextSequence = last.sequenceNumber + 1
            state.nextOffset = last.offset + Int64(last.message.count)
            state.lastOffset = last.offset
            state.lastEnqueuedTime = last.enqueuedTime
        }
        return state
    }

    /// Value layout: offset (8 bytes, big-endian), enqueued time (8), then the message.
    private static func encode(_ event: StoredEvent) -> [UInt8] {
        var bytes = withUnsafeBytes(of: UInt64(bitPattern: event.offset).bigEndian) { Array($0) }
        bytes += withUnsafeBytes(of: UInt64(bitPattern: event.enqueuedTime).bigEndian) { Array($0) }
        bytes += event.message
        return bytes
    }

    private static func decode(_ value: [UInt8], key: [UInt8]) throws -> StoredEvent {
        guard value.count >= 16, key.count >= 8 else { throw EventHubsConfigurationError(message: "a stored event is damaged") }
        func integer(_ bytes: ArraySlice<UInt8>) -> Int64 { Int64(bitPattern: bytes.reduce(0) { $0 << 8 | UInt64($1) }) }
        return StoredEvent(
            sequenceNumber: integer(key.suffix(8)[...]), offset: integer(value[0..<8]), enqueuedTime: integer(value[8..<16]),
            message: Array(value[16...]))
    }

    func state(hub: String, partition: String) -> PartitionState? { partitions[Self.partitionKey(hub, partition)] }

    /// Appends events (each an encoded message) in one atomic write and wakes the partition's readers.
    func append(hub: String, partition: String, messages: [AMQPMessage], partitionKey: String?) throws -> [StoredEvent] {
        let key = Self.partitionKey(hub, partition)
        guard var state = partitions[key] else { return [] }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        var batch = WriteBatch()
        var stored: [StoredEvent] = []
        for var message in messages {
            var annotations = (message.messageAnnotations ?? []).filter {
                guard let name = $0.key.stringValue else { return true }
                return !["x-opt-sequence-number", "x-opt-offset", "x-opt-enqueued-time"].contains(name)
            }
            if let partitionKey, annotations[symbol: "x-opt-partition-key"] == nil {
                annotations.append(AMQPMapEntry(.symbol("x-opt-partition-key"), .string(partitionKey)))
            }
            annotations.append(AMQPMapEntry(.symbol("x-opt-sequence-number"), .long(state.nextSequence)))
            annotations.append(AMQPMapEntry(.symbol("x-opt-offset"), .string(String(state.nextOffset))))
            annotations.append(AMQPMapEntry(.symbol("x-opt-enqueued-time"), .timestamp(now)))
            message.messageAnnotations = annotations
            let event = StoredEvent(sequenceNumber: state.nextSequence, offset: state.nextOffset, enqueuedTime: now, message: message.encoded())
            batch.put(Self.eventKey(hub, partition, event.sequenceNumber), Self.encode(event))
            stored.append(event)
            state.lastOffset = state.nextOffset
            state.nextOffset += Int64(event.message.count)
            state.nextSequence += 1
            state.lastEnqueuedTime = now
        }
        try store.write(batch)
        partitions[key] = state
        for waiter in waiters.removeValue(forKey: key)?.values ?? [:].values { waiter.resume() }
        return stored
    }

    /// Up to `limit` events from sequence number `from` on.
    func read(hub: String, partition: String, from sequence: Int64, limit: Int) throws -> [StoredEvent] {
        guard let state = partitions[Self.partitionKey(hub, partition)], sequence < state.nextSequence else { return [] }
        let start = max(sequence, state.beginSequence)
        var events: [StoredEvent] = []
        let prefix = Self.prefix(hub, partition)
        try store.withCursor(KeyRange(lower: Self.eventKey(hub, partition, start), upper: KeyRange.prefix(prefix).upper)) { cursor in
            while events.count < limit, let entry = try cursor.next() {
                guard entry.key.starts(with: prefix) else { break }
                events.append(try Self.decode(entry.value, key: entry.key))
            }
        }
        return events
    }

    /// The first sequence number whose event satisfies a reader's filter.
    func startSequence(hub: String, partition: String, filter: EventFilter) throws -> Int64 {
        guard let state = partitions[Self.partitionKey(hub, partition)] else { return 0 }
        switch filter {
        case .latest: return state.nextSequence
        case .sequenceNumber(let number, let inclusive): return max(state.beginSequence, inclusive ? number : number + 1)
        case .offset(let offset, let inclusive):
            return try firstSequence(hub: hub, partition: partition, state: state) { inclusive ? $0.offset >= offset : $0.offset > offset }
        case .enqueuedTime(let time, let inclusive):
            return try firstSequence(hub: hub, partition: partition, state: state) { inclusive ? $0.enqueuedTime >= time : $0.enqueuedTime > time }
        }
    }

    private func firstSequence(hub: String, partition: String, state: PartitionState, where matches: (StoredEvent) -> Bool) throws -> Int64 {
        var sequence = state.beginSequence
        while sequence < state.nextSequence {
            let events = try read(hub: hub, partition: partition, from: sequence, limit: 512)
            if let found = events.first(where: matches) { return found.sequenceNumber }
            guard let last = events.last else { break }
            sequence = last.sequenceNumber + 1
        }
        return state.nextSequence
    }

    /// Returns once the partition has an event after `sequence`, or the waiting task is cancelled.
    func waitForEvent(hub: String, partition: String, after sequence: Int64) async {
        let key = Self.partitionKey(hub, partition)
        guard let state = partitions[key], state.nextSequence <= sequence + 1 else { return }
        let id = nextWaiter
        nextWaiter += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled { continuation.resume(); return }
                waiters[key, default: [:]][id] = continuation
            }
        } onCancel: {
            Task { await self.cancelWaiter(key: key, id: id) }
        }
    }

    private func cancelWaiter(key: String, id: UInt64) {
        waiters[key]?.removeValue(forKey: id)?.resume()
    }

    /// Deletes events older than `retention`; the partition's beginning moves up.
    func sweep(retention: Duration) throws -> Int {
        let cutoff = Int64((Date().timeIntervalSince1970 - Double(retention.components.seconds)) * 1000)
        var removed = 0
        for (key, var state) in partitions {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            var sequence = state.beginSequence
            while sequence < state.nextSequence {
                let events = try read(hub: parts[0], partition: parts[1], from: sequence, limit: 512)
                let old = events.prefix { $0.enqueuedTime < cutoff }
                guard let last = old.last else { break }
                try store.deleteRange(from: Self.eventKey(parts[0], parts[1], sequence), to: Self.eventKey(parts[0], parts[1], last.sequenceNumber + 1))
                removed += old.count
                sequence = last.sequenceNumber + 1
                if old.count < events.count { break }
            }
            state.beginSequence = sequence
            partitions[key] = state
        }
        return removed
    }
}

/// Where a reader starts, from the `apache.org:selector-filter:string` filter of its attach.
enum EventFilter: Sendable, Equatable {
    case latest
    case sequenceNumber(Int64, inclusive: Bool)
    case offset(Int64, inclusive: Bool)
    case enqueuedTime(Int64, inclusive: Bool)

    /// Parses `amqp.annotation.x-opt-offset > '-1'` and its kin; nil when the expression is not one of them.
    init?(expression: String) {
        let pattern = #"^\s*amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=|>)\s*'([^']*)'\s*$"#
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]),
            let match = regex.firstMatch(in: expression, range: NSRange(expression.startIndex..., in: expression)),
            let field = Range(match.range(at: 1), in: expression), let comparison = Range(match.range(at: 2), in: expression),
            let value = Range(match.range(at: 3), in: expression)
        else { return nil }
        let inclusive = expression[comparison] == ">="
        let text = String(expression[value])
        switch expression[field].lowercased() {
        case "x-opt-offset":
            if text == "@latest" { self = .latest; return }
            guard let offset = Int64(text) else { return nil }
            self = .offset(offset, inclusive: inclusive)
        case "x-opt-sequence-number":
            guard let number = Int64(text) else { return nil }
            self = .sequenceNumber(number, inclusive: inclusive)
        default:
            guard let time = Int64(text) else { return nil }
            self = .enqueuedTime(time, inclusive: inclusive)
        }
    }
}
