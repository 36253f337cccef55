import Foundation

/// Where a feed without a checkpoint starts.
public enum ChangeFeedStart: Sendable, Hashable, CustomStringConvertible {
    /// The first change the write-ahead log holds (sequence 1 for a store whose log is complete).
    case earliest
    /// After the store's latest change: only new changes are published.
    case latest
    /// At this sequence number, e.g. a backup's, after restoring consumers from that backup.
    case sequence(UInt64)

    /// Parses `earliest`, `latest` or a sequence number.
    public init(parsing text: String) throws {
        switch text {
        case "earliest": self = .earliest
        case "latest": self = .latest
        default:
            guard let sequence = UInt64(text), sequence > 0 else {
                throw ChangeFeedError(.invalidArgument, "start position \"\(text)\": expected earliest, latest or a sequence number > 0")
            }
            self = .sequence(sequence)
        }
    }

    public var description: String {
        switch self {
        case .earliest: "earliest"
        case .latest: "latest"
        case .sequence(let sequence): String(sequence)
        }
    }
}

/// How a ``ChangeFeed`` reads, partitions, batches and checkpoints.
public struct ChangeFeedConfiguration: Sendable {
    /// Which bytes of a key pick its partition.
    public var partitioning: PartitionKeyStrategy = .wholeKey
    /// The column families whose changes are published; records of the others are skipped (and checkpointed past).
    public var columnFamilies: ColumnFamilyFilter = .all
    /// Where a feed without a checkpoint starts. A checkpoint, once written, always wins.
    public var start: ChangeFeedStart = .earliest
    /// The most records one round reads before sending; bounds memory with ``maxRoundBytes``.
    public var maxRoundRecords = 20_000
    /// The most key and value bytes one round holds (at least one record is always taken).
    public var maxRoundBytes = 16 << 20
    /// Partitions sent to at once.
    public var maxConcurrentSends = 8
    /// How often an idle feed looks for new changes; it backs off to ``maxPollInterval`` while nothing happens.
    public var pollInterval: Duration = .milliseconds(5)
    public var maxPollInterval: Duration = .milliseconds(25)
    /// How often an idle feed rewrites its checkpoint, so others see it is alive.
    public var heartbeatInterval: Duration = .seconds(15)
    /// How old a blob checkpoint's last write must be before another holder may claim it.
    public var holderTimeout: Duration = .seconds(60)
    /// Claim the checkpoint even when another holder wrote it recently.
    public var takeOver = false
    /// Who this feed is, in the checkpoint; default `<host>:<store path>`, stable across restarts.
    public var holder: String?
    /// The largest value piece one event carries; `nil` fits each event to the hub's max message size.
    public var maxValueBytesPerEvent: Int?
    /// Mark the store so its write-ahead log is kept until this feed releases it, and release it after checkpoints.
    public var retainsWAL = true
    /// How often the write-ahead log the feed no longer needs is released.
    public var walReleaseInterval: Duration = .seconds(10)
    /// Retries of a failed send: the back-off after each failure doubles up to this.
    public var maxRetryDelay: Duration = .seconds(30)

    public init() {}

    func validated() throws -> ChangeFeedConfiguration {
        guard maxRoundRecords > 0, maxRoundBytes > 0, maxConcurrentSends > 0 else {
            throw ChangeFeedError(.invalidArgument, "maxRoundRecords, maxRoundBytes and maxConcurrentSends must be > 0")
        }
        if case .prefix(let length) = partitioning, length <= 0 {
            throw ChangeFeedError(.invalidArgument, "partition key prefix length must be > 0")
        }
        if let maxValueBytesPerEvent, maxValueBytesPerEvent < 1 {
            throw ChangeFeedError(.invalidArgument, "maxValueBytesPerEvent must be > 0")
        }
        return self
    }
}

/// What a running feed has done, for progress lines, `kumo changefeed status` and metrics.
public struct ChangeFeedStatistics: Sendable, Equatable, Codable {
    /// The highest sequence number acknowledged and checkpointed.
    public var checkpoint: UInt64 = 0
    /// The store's latest sequence number when the feed last looked.
    public var latestSequence: UInt64 = 0
    public var eventsPublished: UInt64 = 0
    public var batchesSent: UInt64 = 0
    /// Records skipped by the column family filter.
    public var recordsSkipped: UInt64 = 0
    /// Values split over several events.
    public var valuesSplit: UInt64 = 0
    /// Sends that failed and were retried.
    public var retries: UInt64 = 0
    public var eventsPerSecond: Double = 0
    public var lastCheckpointAt: Date?
    /// Since when the feed has been behind the store (nil when caught up).
    public var behindSince: Date?
    /// The last failure the feed retried, redacted.
    public var lastError: String?

    public init() {}

    /// Sequence numbers written but not yet acknowledged.
    public var lagSequences: UInt64 { latestSequence > checkpoint ? latestSequence - checkpoint : 0 }

    /// How long the feed has been behind the store, in seconds (0 when caught up).
    public func lagSeconds(now: Date = Date()) -> Double {
        guard lagSequences > 0, let behindSince else { return 0 }
        return max(0, now.timeIntervalSince(behindSince))
    }
}
