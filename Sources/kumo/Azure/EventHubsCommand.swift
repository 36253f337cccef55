import AMQP
import ArgumentParser
import AzureCore
import AzureMessagingEventHubs
import Foundation

struct EventHubsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventhubs",
        abstract: "Work with Azure Event Hubs (or the local emulator): hub properties, send and receive events.",
        discussion: """
            The namespace comes from --connection-string, --connection-string-secret or the \
            AZURE_EVENTHUBS_CONNECTION_STRING environment variable; the hub from --hub or the string's EntityPath. \
            For the local emulator use the connection string 'kumo emulator' prints \
            (Endpoint=sb://127.0.0.1:5672;...;UseDevelopmentEmulator=true).
            """,
        subcommands: [EventHubsProperties.self, EventHubsSend.self, EventHubsReceive.self])
}

/// Options every `kumo eventhubs` subcommand shares.
struct EventHubsOptions: ParsableArguments {
    @Option(help: "An Event Hubs connection string (default: $AZURE_EVENTHUBS_CONNECTION_STRING).")
    var connectionString: String?

    @Option(help: "A Key Vault secret (https://<vault>/secrets/<name>) holding the Event Hubs connection string.")
    var connectionStringSecret: String?

    @Option(help: "The event hub (default: the connection string's EntityPath).")
    var hub: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func resolvedConnectionString() async throws -> String {
        try await AzureAccess.connectionString(
            connectionString, secret: connectionStringSecret, environmentVariable: "AZURE_EVENTHUBS_CONNECTION_STRING",
            missing: "no Event Hubs namespace: pass --connection-string or set AZURE_EVENTHUBS_CONNECTION_STRING (for the emulator: the string 'kumo emulator' prints)")
    }

    func producer() async throws -> EventHubProducerClient {
        try EventHubProducerClient(connectionString: try await resolvedConnectionString(), eventHubName: hub)
    }

    func consumer(group: String) async throws -> EventHubConsumerClient {
        try EventHubConsumerClient(consumerGroup: group, connectionString: try await resolvedConnectionString(), eventHubName: hub)
    }
}

/// ISO 8601 with milliseconds, as Event Hubs reports times: computed from whole milliseconds in the proleptic
/// Gregorian calendar, so a time prints exactly as the hub stored it (0001-01-01 too, the "never" of an empty
/// partition).
enum EventTimeFormat {
    static func string(from date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (days, dayMilliseconds) = floorDivide(milliseconds, 86_400_000)
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let hours = dayMilliseconds / 3_600_000
        let minutes = dayMilliseconds / 60_000 % 60
        let seconds = dayMilliseconds / 1000 % 60
        return String(
            format: "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", year, month, day, hours, minutes, seconds, dayMilliseconds % 1000)
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let quotient = value >= 0 ? value / divisor : (value - divisor + 1) / divisor
        return (quotient, value - quotient * divisor)
    }

    static func date(from text: String) -> Date? {
        (try? Date(text, strategy: .iso8601)) ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
    }
}

/// An application property as a JSON value: numbers and booleans as such, times as ISO 8601, binary as base64.
func jsonValue(_ value: AMQPValue) -> Any {
    switch value {
    case .null: return NSNull()
    case .bool(let flag): return flag
    case .ubyte(let number): return Int(number)
    case .ushort(let number): return Int(number)
    case .uint(let number): return Int(number)
    case .ulong(let number): return number
    case .byte(let number): return Int(number)
    case .short(let number): return Int(number)
    case .int(let number): return Int(number)
    case .long(let number): return number
    case .float(let number): return Double(number)
    case .double(let number): return number
    case .string(let text), .symbol(let text): return text
    case .timestamp(let milliseconds): return EventTimeFormat.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    case .uuid(let uuid): return uuid.uuidString.lowercased()
    case .binary(let bytes): return Data(bytes).base64EncodedString()
    case .char(let scalar): return String(scalar)
    case .list(let items), .array(let items): return items.map(jsonValue)
    case .map(let entries):
        var object: [String: Any] = [:]
        for entry in entries { object[entry.key.stringValue ?? "\(entry.key)"] = jsonValue(entry.value) }
        return object
    default: return "\(value)"
    }
}


private func printJSON(_ object: Any) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), let text = String(data: data, encoding: .utf8) {
        print(text)
    }
}

struct EventHubsProperties: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "properties", abstract: "Show a hub's partitions, or one partition's sequence numbers and offsets.")

    @OptionGroup var options: EventHubsOptions
    @Option(help: "Show this partition instead of the hub.") var partition: String?

    func run() async throws {
        let client = try await options.producer()
        defer { Task { await client.close() } }
        if let partition {
            let properties = try await client.getPartitionProperties(partitionID: partition)
            await client.close()
            if options.json {
                printJSON([
                    "eventHubName": properties.eventHubName, "partitionID": properties.id,
                    "beginningSequenceNumber": properties.beginningSequenceNumber,
                    "lastEnqueuedSequenceNumber": properties.lastEnqueuedSequenceNumber,
                    "lastEnqueuedOffset": properties.lastEnqueuedOffset,
                    "lastEnqueuedTime": EventTimeFormat.string(from: properties.lastEnqueuedTime), "isEmpty": properties.isEmpty,
                ])
            } else {
                print("partition \(properties.id) of \(properties.eventHubName)")
                if properties.isEmpty {
                    print("  empty")
                } else {
                    print("  sequence numbers \(properties.beginningSequenceNumber)...\(properties.lastEnqueuedSequenceNumber)")
                    print("  last offset      \(properties.lastEnqueuedOffset)")
                    print("  last enqueued    \(EventTimeFormat.string(from: properties.lastEnqueuedTime))")
                }
            }
            return
        }
        let properties = try await client.getEventHubProperties()
        await client.close()
        if options.json {
            printJSON([
                "name": properties.name, "createdOn": EventTimeFormat.string(from: properties.createdOn),
                "partitionIDs": properties.partitionIDs,
            ])
        } else {
            print("\(properties.name): \(plural(properties.partitionIDs.count, "partition")) (\(properties.partitionIDs.joined(separator: ", "))), created \(EventTimeFormat.string(from: properties.createdOn))")
        }
    }
}

struct EventHubsSend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send events: the arguments, or each line of standard input, one event each.",
        discussion: "Events are sent in batches as large as the hub accepts; the command returns once the hub has acknowledged them all.")

    @OptionGroup var options: EventHubsOptions
    @Option(help: "Send to this partition.") var partition: String?
    @Option(help: "Route by this partition key (events with one key stay in order).") var partitionKey: String?
    @Option(help: "The events' content type, e.g. application/json.") var contentType: String?
    @Option(name: .customLong("property"), help: "An application property KEY=VALUE (repeatable).") var properties: [String] = []
    @Argument(help: "Event bodies; none reads standard input, one event per line.") var bodies: [String] = []

    func validate() throws {
        if partition != nil && partitionKey != nil { throw ValidationError("--partition and --partition-key exclude each other") }
        for property in properties where !property.contains("=") {
            throw ValidationError("--property must be KEY=VALUE, not '\(property)'")
        }
    }

    func run() async throws {
        var bodies = self.bodies
        if bodies.isEmpty {
            while let line = readLine(strippingNewline: true) { bodies.append(line) }
        }
        var applicationProperties: [String: AMQPValue] = [:]
        for property in properties {
            let parts = property.split(separator: "=", maxSplits: 1)
            applicationProperties[String(parts[0])] = .string(parts.count > 1 ? String(parts[1]) : "")
        }
        let events = bodies.map { EventData(string: $0, contentType: contentType, properties: applicationProperties) }
        let client = try await options.producer()
        do {
            try await client.send(events, options: CreateBatchOptions(partitionID: partition, partitionKey: partitionKey))
        } catch {
            await client.close()
            throw error
        }
        await client.close()
        let target = partition.map { "partition \($0) of \(client.eventHubName)" } ?? client.eventHubName
        if options.json {
            var record: [String: Any] = ["eventHubName": client.eventHubName, "sent": events.count]
            if let partition { record["partitionID"] = partition }
            if let partitionKey { record["partitionKey"] = partitionKey }
            printJSON(record)
        } else {
            print("sent \(plural(events.count, "event")) to \(target)")
        }
    }
}

struct EventHubsReceive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive", abstract: "Print a partition's events, from a position, as text or JSON lines.",
        discussion: """
            --from takes earliest, latest, seq:N, offset:X or time:ISO-8601 (add --inclusive to include the event \
            at N or X). Stops after --count events or when none arrives for --idle seconds.
            """)

    @OptionGroup var options: EventHubsOptions
    @Option(help: "The partition to read.") var partition: String
    @Option(help: "The consumer group.") var consumerGroup: String = EventHubConsumerClient.defaultConsumerGroup
    @Option(help: "Where to start: earliest, latest, seq:N, offset:X, time:ISO-8601.") var from: String = "earliest"
    @Flag(help: "Include the event at seq:N or offset:X.") var inclusive = false
    @Option(help: "Stop after this many events.") var count: Int?
    @Option(help: "Stop when no event arrives for this many seconds.") var idle: Double = 5
    @Option(help: "Read with this owner level (epoch), taking the partition from readers with a lower one.") var ownerLevel: Int64?

    func position() throws -> EventPosition {
        switch from {
        case "earliest": return .earliest
        case "latest": return .latest
        case let text where text.hasPrefix("seq:"):
            guard let number = Int64(text.dropFirst(4)) else { throw ValidationError("--from seq:N needs a number, not '\(text)'") }
            return .sequenceNumber(number, isInclusive: inclusive)
        case let text where text.hasPrefix("offset:"):
            return .offset(String(text.dropFirst(7)), isInclusive: inclusive)
        case let text where text.hasPrefix("time:"):
            guard let date = EventTimeFormat.date(from: String(text.dropFirst(5))) else {
                throw ValidationError("--from time: needs an ISO-8601 time such as 2026-01-31T12:00:00Z, not '\(text)'")
            }
            return .enqueuedTime(date)
        default:
            throw ValidationError("--from must be earliest, latest, seq:N, offset:X or time:ISO-8601, not '\(from)'")
        }
    }

    func validate() throws {
        _ = try position()
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if idle <= 0 { throw ValidationError("--idle must be positive") }
    }

    func run() async throws {
        let client = try await options.consumer(group: consumerGroup)
        let events = client.events(
            partitionID: partition, startingAt: try position(), options: ReadEventOptions(ownerLevel: ownerLevel))
        let limit = count
        let idle = self.idle
        let json = options.json
        let received: Int
        do {
            received = try await withThrowingTaskGroup(of: Int.self) { group in
                let progress = ReceiveCounter()
                group.addTask {
                    for try await event in events {
                        await progress.bump()
                        Self.print(event, json: json)
                        if let limit, await progress.count >= limit { break }
                    }
                    return await progress.count
                }
                group.addTask {
                    // Ends the read when the partition stays quiet for --idle seconds.
                    var seen = -1
                    while true {
                        try await Task.sleep(for: .seconds(idle))
                        let now = await progress.count
                        if now == seen { return now }
                        seen = now
                    }
                }
                let result = try await group.next() ?? 0
                group.cancelAll()
                return result
            }
        } catch {
            await client.close()
            throw error
        }
        await client.close()
        if !json { FileHandleOutput.writeToStandardError("received \(plural(received, "event")) from partition \(partition) of \(client.eventHubName)\n") }
    }

    static func print(_ event: ReceivedEventData, json: Bool) {
        if json {
            var record: [String: Any] = [
                "partitionID": event.partitionID, "sequenceNumber": event.sequenceNumber, "offset": event.offset,
                "enqueuedTime": EventTimeFormat.string(from: event.enqueuedTime),
            ]
            if let text = event.event.bodyAsString { record["body"] = text } else { record["bodyBase64"] = Data(event.body).base64EncodedString() }
            if let key = event.partitionKey { record["partitionKey"] = key }
            if let type = event.event.contentType { record["contentType"] = type }
            var properties: [String: Any] = [:]
            for (key, value) in event.properties { properties[key] = jsonValue(value) }
            if !properties.isEmpty { record["properties"] = properties }
            printJSON(record)
        } else {
            let body = event.event.bodyAsString ?? "<\(event.body.count) bytes>"
            Swift.print("#\(event.sequenceNumber) \(EventTimeFormat.string(from: event.enqueuedTime)) \(body)")
        }
    }
}

private actor ReceiveCounter {
    var count = 0
    func bump() { count += 1 }
}
