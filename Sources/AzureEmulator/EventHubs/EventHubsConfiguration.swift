import Foundation

/// One event hub the emulator serves.
public struct EventHubDefinition: Sendable, Hashable {
    public var name: String
    public var partitionCount: Int
    /// Consumer groups besides `$Default`, which every hub has.
    public var consumerGroups: [String]

    public init(name: String, partitionCount: Int = 4, consumerGroups: [String] = []) {
        self.name = name
        self.partitionCount = partitionCount
        self.consumerGroups = consumerGroups
    }

    /// Reads `NAME` or `NAME:PARTITIONS` as `--event-hub` takes it.
    /// - Throws: ``EventHubsConfigurationError`` naming what is wrong.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        guard Self.isValidName(name) else {
            throw EventHubsConfigurationError(message: "'\(name)' is not a valid event hub name: 1 to 256 letters, digits, '.', '-' and '_', starting and ending with a letter or digit")
        }
        var partitions = 4
        if parts.count == 2 {
            guard let count = Int(parts[1]), (1...1024).contains(count) else {
                throw EventHubsConfigurationError(message: "the partition count of event hub \(name) must be a number from 1 to 1024, not '\(parts[1])'")
            }
            partitions = count
        }
        self.init(name: name, partitionCount: partitions)
    }

    /// Azure's rule for event hub names.
    public static func isValidName(_ name: String) -> Bool {
        guard (1...256).contains(name.count), let first = name.first, let last = name.last,
            first.isASCII && (first.isLetter || first.isNumber), last.isASCII && (last.isLetter || last.isNumber)
        else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }
    }

    /// Every consumer group, `$Default` first.
    public var allConsumerGroups: [String] {
        ["$Default"] + consumerGroups.filter { $0.lowercased() != "$default" }
    }

    /// Partition ids "0", "1", ...
    public var partitionIDs: [String] { (0..<partitionCount).map(String.init) }
}

/// A bad Event Hubs setting of the emulator (a flag or configuration value).
public struct EventHubsConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// How the emulator serves Event Hubs over AMQP.
public struct EventHubsConfiguration: Sendable {
    /// The plain AMQP port (5672 in Azure's emulator); 0 picks a free one; nil serves no Event Hubs.
    public var amqpPort: Int?
    /// An AMQPS port on the emulator's TLS certificate; nil for none.
    public var amqpsPort: Int?
    public var hubs: [EventHubDefinition]
    /// Shared access keys by name, that SAS tokens are signed with.
    public var keys: [String: String]
    /// How long events are kept.
    public var retention: Duration
    /// The largest message (a single event or a batch) a sender may send.
    public var maxMessageSize: Int

    public init(
        amqpPort: Int? = 5672, amqpsPort: Int? = nil, hubs: [EventHubDefinition] = [EventHubDefinition(name: "kumo")],
        keys: [String: String] = [EventHubsConfiguration.developmentKeyName: EventHubsConfiguration.developmentKey],
        retention: Duration = .seconds(24 * 3600), maxMessageSize: Int = 1 << 20
    ) {
        self.amqpPort = amqpPort
        self.amqpsPort = amqpsPort
        self.hubs = hubs
        self.keys = keys
        self.retention = retention
        self.maxMessageSize = maxMessageSize
    }

    /// The name of the namespace-wide key.
    public static let developmentKeyName = "RootManageSharedAccessKey"
    /// The emulator's development key. Like the devstoreaccount1 key, it is public and means nothing outside
    /// the emulator (it is the value Azure's own Event Hubs emulator documents).
    public static let developmentKey = "SAS_KEY_VALUE"

    /// The hub named `name`, compared without regard to case as Azure does.
    func hub(named name: String) -> EventHubDefinition? {
        hubs.first { $0.name.lowercased() == name.lowercased() }
    }

    /// The connection string for a client of the emulator on `host:port`.
    public static func connectionString(host: String, port: Int, eventHubName: String? = nil) -> String {
        var text = "Endpoint=sb://\(host):\(port);SharedAccessKeyName=\(developmentKeyName);SharedAccessKey=\(developmentKey);UseDevelopmentEmulator=true"
        if let eventHubName { text += ";EntityPath=\(eventHubName)" }
        return text
    }
}
