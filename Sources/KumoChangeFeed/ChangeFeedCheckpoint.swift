import Foundation

/// Where a feed stands: every change with a sequence number at or below ``sequenceNumber`` has been acknowledged
/// by the event hub. Written only after the acknowledgement, so a feed that restarts from it loses nothing and
/// re-sends at most what was in flight.
public struct ChangeFeedCheckpoint: Sendable, Equatable, Codable {
    /// The layout of this record; a newer one is refused rather than misread.
    public var formatVersion: Int
    /// The identity of the store the sequence numbers belong to.
    public var storeID: String
    /// The highest sequence number whose changes the hub acknowledged (0: none yet).
    public var sequenceNumber: UInt64
    /// `<namespace>/<event hub>` the changes went to.
    public var eventHub: String
    /// Who wrote it: `<host>:<store path>` (stable across restarts of the same feed).
    public var holder: String
    /// The holder's process id, for operators.
    public var processID: Int32
    /// When it was written; a feed writes it at least every heartbeat interval while it runs.
    public var updated: Date
    /// Events published since the feed first started.
    public var eventsPublished: UInt64
    /// The recent rate of published events.
    public var eventsPerSecond: Double

    public static let currentFormatVersion = 1

    public init(
        storeID: String, sequenceNumber: UInt64, eventHub: String, holder: String,
        processID: Int32 = ProcessInfo.processInfo.processIdentifier, updated: Date = Date(), eventsPublished: UInt64 = 0,
        eventsPerSecond: Double = 0
    ) {
        formatVersion = Self.currentFormatVersion
        self.storeID = storeID
        self.sequenceNumber = sequenceNumber
        self.eventHub = eventHub
        self.holder = holder
        self.processID = processID
        self.updated = updated
        self.eventsPublished = eventsPublished
        self.eventsPerSecond = eventsPerSecond
    }

    /// The JSON form written to a file or blob.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.rfc3339(date))
        }
        // Encoding a struct of strings and numbers cannot fail.
        return Array((try? encoder.encode(self)) ?? Data()) + [UInt8(ascii: "\n")]
    }

    /// Reads a checkpoint record.
    /// - Throws: `.checkpointInvalid` naming `location` and what is wrong.
    public static func decode(_ bytes: [UInt8], location: String) throws -> ChangeFeedCheckpoint {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 time: \(text.prefix(40))")
            }
            return date
        }
        let checkpoint: ChangeFeedCheckpoint
        do {
            checkpoint = try decoder.decode(ChangeFeedCheckpoint.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw ChangeFeedError(.checkpointInvalid, "checkpoint \(location) is damaged (\(bytes.count) bytes): \(describe(error)); restore it or start a new one with --start-at")
        }
        guard checkpoint.formatVersion == currentFormatVersion else {
            throw ChangeFeedError(
                .checkpointInvalid,
                "checkpoint \(location) has format version \(checkpoint.formatVersion); this Kumo reads version \(currentFormatVersion)")
        }
        return checkpoint
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "\(key.stringValue) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON" : "\(path(context)): \(context.debugDescription)"
        @unknown default: return "unreadable"
        }
    }
}

/// Where a feed keeps its checkpoint, and the guarantee that one feed at a time writes it.
public protocol ChangeFeedCheckpointStore: Sendable {
    /// The checkpoint's location for messages (`file:///…`, `azure://container/path`); never a secret.
    var location: String { get }

    /// Takes the checkpoint for `holder` and returns what it holds (`nil` for a new one).
    ///
    /// - Throws: `.checkpointHeld` naming the holder when another feed holds it (for a blob: another holder wrote
    ///   it within `staleAfter`, unless `takeOver`).
    func claim(holder: String, staleAfter: Duration, takeOver: Bool) async throws -> ChangeFeedCheckpoint?

    /// Writes the checkpoint, only if nobody else wrote it since this feed's last read or write.
    /// - Throws: `.checkpointLost` naming the new holder when another feed took it over.
    func save(_ checkpoint: ChangeFeedCheckpoint) async throws

    /// Reads the checkpoint without claiming it (`nil` when there is none).
    func read() async throws -> ChangeFeedCheckpoint?

    /// Gives the checkpoint up (a file's lock); the record stays.
    func release() async
}
