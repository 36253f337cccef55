import ArgumentParser
import AzureMessagingEventHubs
import Foundation
import KumoChangeFeed
import Synchronization

struct ChangeFeedTail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print the change events of a hub, from a position, across all partitions.",
        discussion: """
            Each line is one change: partition, the store's sequence number, type, column family, key and value. \
            With --json, one JSON object per line: partition, the hub's sequence number and enqueued time, and the \
            event decoded (key and value as text when they are UTF-8, always as base64). An event that is not a Kumo \
            change is reported and skipped. Runs until Ctrl-C, --count events, or --idle seconds without one.
            """)

    @Option(help: "The event hub (default: the connection string's EntityPath).") var hub: String?
    @Option(help: "An Event Hubs connection string (default: $AZURE_EVENTHUBS_CONNECTION_STRING).") var connectionString: String?
    @Option(help: ArgumentHelp("A Key Vault secret (https://<vault>/secrets/<name>) holding the Event Hubs connection string.", valueName: "secret-url"))
    var connectionStringSecret: String?
    @Option(help: "The consumer group.") var consumerGroup: String = EventHubConsumerClient.defaultConsumerGroup
    @Option(help: "Read only this partition (default: all).") var partition: String?
    @Option(help: "Where to start: earliest, latest or time:ISO-8601.") var from: String = "latest"
    @Option(help: "Stop after this many events.") var count: Int?
    @Option(help: "Stop when no event arrives for this many seconds.") var idle: Double?
    @Flag(help: "Print JSON lines instead of text.") var json = false

    func position() throws -> EventPosition {
        switch from {
        case "earliest": return .earliest
        case "latest": return .latest
        case let text where text.hasPrefix("time:"):
            guard let date = EventTimeFormat.date(from: String(text.dropFirst(5))) else {
                throw ValidationError("--from time: needs an ISO-8601 time such as 2026-01-31T12:00:00Z, not '\(text)'")
            }
            return .enqueuedTime(date)
        default:
            throw ValidationError("--from must be earliest, latest or time:ISO-8601, not '\(from)'")
        }
    }

    func validate() throws {
        _ = try position()
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let idle, idle <= 0 { throw ValidationError("--idle must be positive") }
    }

    func run() async throws {
        let namespace = try await AzureAccess.connectionString(
            connectionString, secret: connectionStringSecret, environmentVariable: "AZURE_EVENTHUBS_CONNECTION_STRING",
            missing: "no Event Hubs namespace: pass --connection-string or set AZURE_EVENTHUBS_CONNECTION_STRING")
        let consumer = try EventHubConsumerClient(consumerGroup: consumerGroup, connectionString: namespace, eventHubName: hub)
        let partitions: [String]
        if let partition {
            partitions = [partition]
        } else {
            partitions = try await consumer.getPartitionIDs()
        }
        let position = try position()
        let printed = PrintedCount()
        let limit = count
        let idle = self.idle
        let json = self.json
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for partition in partitions {
                    group.addTask {
                        for try await event in consumer.events(partitionID: partition, startingAt: position) {
                            let line = json ? Self.line(for: event) : Self.text(for: event)
                            // One writer at a time, so lines never interleave.
                            let done = Self.output.withLock { _ -> Bool in
                                FileHandle.standardOutput.write(Data((line + "\n").utf8))
                                let total = printed.value.add(1, ordering: .relaxed).newValue
                                return limit.map { total >= $0 } ?? false
                            }
                            if done { return }
                        }
                    }
                }
                group.addTask {
                    guard let idle else {
                        try await Task.sleep(for: .seconds(Int64.max / 4))
                        return
                    }
                    var seen = -1
                    while true {
                        try await Task.sleep(for: .seconds(idle))
                        let now = printed.value.load(ordering: .relaxed)
                        if now == seen { return }
                        seen = now
                    }
                }
                // The reader that reaches --count, or the idle watch, ends the tail; otherwise it runs until Ctrl-C.
                try await group.next()
                group.cancelAll()
            }
        } catch is CancellationError {
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    private static let output = Mutex(())

    /// `p1 #42 kumo.kv.put users user:7 = v7` (bytes that are not printable as `%XX`, as in the event's subject).
    static func text(for received: ReceivedEventData) -> String {
        let prefix = "p\(received.partitionID)"
        guard let event = try? ChangeEventFormat.decode(received.body) else {
            return "\(prefix) hub #\(received.sequenceNumber): not a Kumo change event (\(received.body.count) bytes)"
        }
        var line = "\(prefix) #\(event.sequenceNumber) \(event.kind.rawValue) \(event.columnFamily ?? "#\(event.columnFamilyID)") \(event.subject)"
        if let endKey = event.endKey { line += " .. \(ChangeEvent.printable(endKey))" }
        if let data = event.data { line += " = \(ChangeEvent.printable(data))" }
        if let part = event.part { line += " (part \(part.number) of \(part.count), \(part.valueSize) bytes)" }
        return line
    }

    static func line(for received: ReceivedEventData) -> String {
        var object: [String: Any] = [
            "partition": received.partitionID, "hubSequenceNumber": received.sequenceNumber,
            "enqueuedTime": EventTimeFormat.string(from: received.enqueuedTime),
        ]
        do {
            let event = try ChangeEventFormat.decode(received.body)
            object["id"] = event.id
            object["type"] = event.kind.rawValue
            object["subject"] = event.subject
            object["sequenceNumber"] = String(event.sequenceNumber)
            object["batchSequenceNumber"] = String(event.batchSequenceNumber)
            object["batchSize"] = event.batchSize
            object["columnFamily"] = event.columnFamily ?? NSNull()
            object["columnFamilyID"] = event.columnFamilyID
            object["key"] = Data(event.key).base64EncodedString()
            if let text = String(validating: event.key, as: UTF8.self) { object["keyText"] = text }
            if let endKey = event.endKey { object["endKey"] = Data(endKey).base64EncodedString() }
            if let data = event.data {
                object["value"] = Data(data).base64EncodedString()
                if let text = String(validating: data, as: UTF8.self) { object["valueText"] = text }
            }
            if let part = event.part {
                object["part"] = part.number
                object["parts"] = part.count
                object["valueSize"] = part.valueSize
            }
            object["time"] = EventTimeFormat.string(from: event.time)
        } catch let error as ChangeFeedError {
            object["error"] = error.message
        } catch {
            object["error"] = "\(error)"
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Events printed so far, shared by the partition readers and the idle watch.
private final class PrintedCount: Sendable {
    let value = Atomic<Int>(0)
}
