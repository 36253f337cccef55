import AMQP
import Foundation
import Logging
import NIOCore

extension EventHubsService {
    // MARK: - Publishers

    /// Stores what a client sends to a hub or partition: one event per message, or per data section of a
    /// batch (format 0x80013700), each settled accepted once it is stored.
    func servePublisher(_ receiver: AMQPReceiver, connection: AMQPConnection, hub: EventHubDefinition, partition fixedPartition: String?) async {
        var random = SystemRandomNumberGenerator()
        // Faults apply to Event Hubs sends when no operations are named, or when eventhubs-send is.
        let faulty = faults.operations.isEmpty || faults.operations.contains("eventhubs-send")
        do {
            for try await delivery in receiver {
                if faulty, faults.latencyMilliseconds > 0 {
                    try await Task.sleep(for: .milliseconds(faults.latencyMilliseconds))
                }
                if faulty, faults.errorRate > 0, Double.random(in: 0..<1, using: &random) < faults.errorRate {
                    receiver.settle(delivery, .rejected(AMQPErrorCondition(
                        condition: "com.microsoft:server-busy",
                        description: "The request was terminated because the namespace is being throttled. Retry later.", info: nil)))
                    continue
                }
                if faulty, faults.dropRate > 0, Double.random(in: 0..<1, using: &random) < faults.dropRate {
                    await connection.close(AMQPErrorCondition(condition: "amqp:connection:forced", description: "The connection was closed by the emulator's fault injection.", info: nil))
                    return
                }
                do {
                    let message = try delivery.message()
                    var events: [AMQPMessage]
                    if delivery.messageFormat == 0x8001_3700 {
                        guard case .data(let sections) = message.body else {
                            throw AMQPError(code: .malformedData, message: "a batch message carries no data sections")
                        }
                        events = try sections.map { try AMQPMessage.decode(from: ByteBuffer(bytes: $0)) }
                    } else {
                        events = [message]
                    }
                    let key = message.messageAnnotations?[symbol: "x-opt-partition-key"]?.stringValue
                        ?? events.first?.messageAnnotations?[symbol: "x-opt-partition-key"]?.stringValue
                    let partition = fixedPartition ?? choosePartition(hub: hub, key: key)
                    _ = try await log.append(hub: hub.name, partition: partition, messages: events, partitionKey: key)
                    receiver.settle(delivery, .accepted)
                } catch {
                    receiver.settle(delivery, .rejected(AMQPErrorCondition(
                        condition: "amqp:decode-error", description: "The message could not be read: \(error)", info: nil)))
                }
            }
        } catch {
            logger.debug("a publisher link to \(hub.name) ended: \(error)")
        }
    }

    /// The partition for an event sent to the hub: by a stable hash of its partition key, else round-robin.
    func choosePartition(hub: EventHubDefinition, key: String?) -> String {
        if let key {
            // FNV-1a over the key's UTF-8 bytes: the same key always lands on the same partition.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in key.utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01B3
            }
            return String(hash % UInt64(hub.partitionCount))
        }
        let index = nextRoundRobin()
        return String(index % hub.partitionCount)
    }

    // MARK: - Readers

    func startReader(
        _ request: AMQPLinkRequest, connection: AMQPConnection, hub: EventHubDefinition, consumerGroup: String, partition: String,
        group: inout TaskGroup<Void>
    ) {
        let attach = request.attach
        var filter = EventFilter.sequenceNumber(0, inclusive: true)
        var echoedFilter: [AMQPMapEntry]?
        if let entries = attach.source?.filter {
            for entry in entries {
                guard case .described(let descriptor, let value) = entry.value else { continue }
                let isSelector =
                    descriptor == .symbol("apache.org:selector-filter:string") || descriptor == .ulong(0x0000_468C_0000_0004)
                    || descriptor == .ulong(0x0000_0013_7000_000A)
                guard isSelector, let expression = value.stringValue else { continue }
                guard let parsed = EventFilter(expression: expression) else {
                    request.reject(AMQPErrorCondition(
                        condition: "amqp:not-implemented",
                        description: "The filter expression '\(expression)' is not supported: use amqp.annotation.x-opt-offset, x-opt-sequence-number or x-opt-enqueued-time with > or >=.",
                        info: nil))
                    return
                }
                filter = parsed
                echoedFilter = [AMQPMapEntry(entry.key, .described(descriptor: .ulong(0x0000_0013_7000_000A), value: .string(expression)))]
            }
        }
        let level = attach.properties?[symbol: "com.microsoft:epoch"]?.int64Value
        var source = attach.source ?? AMQPSource()
        if let echoedFilter { source.filter = echoedFilter }
        let metrics = attach.desiredCapabilities?.contains("com.microsoft:enable-receiver-runtime-metric") ?? false
        let reply = AMQPLinkOptions(
            name: attach.name, source: source, target: attach.target, senderSettleMode: .settled, receiverSettleMode: .first,
            maxMessageSize: UInt64(configuration.maxMessageSize),
            properties: [AMQPMapEntry(.symbol("com.microsoft:timeout"), .uint(65000))],
            offeredCapabilities: metrics ? ["com.microsoft:enable-receiver-runtime-metric"] : nil)
        let key = "\(hub.name.lowercased())/\(consumerGroup.lowercased())/\(partition)"
        group.addTask {
            let sender = request.acceptAsSender(connection: connection, reply: reply)
            switch await self.owners.admit(key: key, level: level, sender: sender) {
            case .refused(let reason):
                await sender.detach(error: AMQPErrorCondition(condition: "amqp:link:stolen", description: reason, info: nil))
            case .admitted(let id, let displaced):
                for other in displaced {
                    let description = "New receiver with owner level '\(level ?? 0)' was created hence this receiver is disconnected."
                    Task { await other.detach(error: AMQPErrorCondition(condition: "amqp:link:stolen", description: description, info: nil)) }
                }
                await self.deliver(to: sender, hub: hub.name, partition: partition, filter: filter, metrics: metrics)
                await self.owners.remove(key: key, id: id)
            }
        }
    }

    /// Sends the partition's events from the filter's position on, then each new one as it is stored, until
    /// the link or connection goes away.
    private func deliver(to sender: AMQPSender, hub: String, partition: String, filter: EventFilter, metrics: Bool) async {
        do {
            var next = try await log.startSequence(hub: hub, partition: partition, filter: filter)
            while !Task.isCancelled {
                let events = try await log.read(hub: hub, partition: partition, from: next, limit: 256)
                if events.isEmpty {
                    await log.waitForEvent(hub: hub, partition: partition, after: next - 1)
                    continue
                }
                guard metrics else {
                    // Without runtime metrics the stored bytes go out as they are, a whole chunk at a time.
                    try await sender.send(encodedBatch: events.map { ByteBuffer(bytes: $0.message) }, settled: true)
                    next = events[events.count - 1].sequenceNumber + 1
                    continue
                }
                let state = await log.state(hub: hub, partition: partition)
                for event in events {
                    if let state {
                        var message = try AMQPMessage.decode(from: ByteBuffer(bytes: event.message))
                        message.deliveryAnnotations = [
                            AMQPMapEntry(.symbol("last_enqueued_sequence_number"), .long(state.nextSequence - 1)),
                            AMQPMapEntry(.symbol("last_enqueued_offset"), .string(String(state.lastOffset))),
                            AMQPMapEntry(.symbol("last_enqueued_time_utc"), .timestamp(state.lastEnqueuedTime)),
                            AMQPMapEntry(.symbol("runtime_info_retrieval_time_utc"), .timestamp(Int64((Date().timeIntervalSince1970 * 1000).rounded()))),
                        ]
                        try await sender.send(message, settled: true)
                    } else {
                        try await sender.send(encoded: ByteBuffer(bytes: event.message), settled: true)
                    }
                    next = event.sequenceNumber + 1
                }
            }
        } catch {
            logger.debug("a reader of \(hub)/\(partition) ended: \(error)")
        }
    }
}
