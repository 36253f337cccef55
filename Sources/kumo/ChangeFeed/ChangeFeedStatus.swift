import ArgumentParser
import Foundation
import KumoChangeFeed
import KumoKV

struct ChangeFeedStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a feed's checkpoint, its lag behind the store, its rate and the write-ahead log it keeps.",
        discussion: """
            Reads the checkpoint without claiming it and the store read-only, so it works beside a running feed. \
            Lag in seconds is the time since the feed last checkpointed, when it is behind (the write-ahead log has \
            no write times).
            """)

    @Option(help: "The database directory.") var db: String
    @OptionGroup var checkpoint: ChangeFeedCheckpointOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        let path = absolutePath(db)
        let checkpointStore = try await checkpoint.store(db: db)
        let record = try await checkpointStore.read()
        let latest = try Store.latestSequenceNumber(ofDatabaseAt: path)
        let hold = try Store.walHold(at: path)
        let files = try Store.walFiles(at: path)
        let acknowledged = record?.sequenceNumber ?? 0
        let lag = latest > acknowledged ? latest - acknowledged : 0
        let age = record.map { Date().timeIntervalSince($0.updated) }
        let lagSeconds = lag > 0 ? (age ?? 0) : 0
        let retainedBytes = files.reduce(Int64(0)) { $0 + Int64($1.size) }

        if json {
            var object: [String: Any] = [
                "store": path, "checkpointLocation": checkpointStore.location, "latestSequence": latest,
                "lagSequences": lag, "lagSeconds": lagSeconds, "walFiles": files.count, "walBytes": retainedBytes,
                "walHeld": hold != nil,
            ]
            if let record {
                object["checkpoint"] = record.sequenceNumber
                object["holder"] = record.holder
                object["processID"] = record.processID
                object["updated"] = EventTimeFormat.string(from: record.updated)
                object["eventHub"] = record.eventHub
                object["eventsPublished"] = record.eventsPublished
                object["eventsPerSecond"] = record.eventsPerSecond
            }
            if let oldest = files.compactMap(\.firstSequence).min() { object["walOldestSequence"] = oldest }
            printJSONObject(object)
            return
        }
        print("store        \(path)")
        print("latest       \(latest)")
        guard let record else {
            print("checkpoint   none at \(checkpointStore.location) (no feed has run)")
            return
        }
        print("checkpoint   \(record.sequenceNumber) at \(checkpointStore.location)")
        print("event hub    \(record.eventHub)")
        print("holder       \(record.holder) (pid \(record.processID)), written \(Self.ago(age ?? 0)) ago")
        print(String(format: "lag          %llu changes (%.1f s)", lag, lagSeconds))
        print(String(format: "rate         %.0f events/s, %llu published", record.eventsPerSecond, record.eventsPublished))
        var wal = "\(files.count) files, \(formatBytes(retainedBytes))"
        if let oldest = files.compactMap(\.firstSequence).min() { wal += ", from sequence \(oldest)" }
        wal += hold != nil ? "; kept until the feed releases it" : "; not held (RocksDB may delete it before the feed reads it)"
        print("wal          \(wal)")
    }

    static func ago(_ seconds: TimeInterval) -> String {
        seconds < 120 ? String(format: "%.0f s", seconds) : seconds < 7200 ? String(format: "%.0f min", seconds / 60) : String(format: "%.1f h", seconds / 3600)
    }
}
