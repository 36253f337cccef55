import ArgumentParser
import AzureCore
import AzureMessagingEventHubs
import AzureStorageBlobs
import Foundation
import KumoChangeFeed
import KumoKV
import Logging

struct ChangeFeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changefeed",
        abstract: "Publish every change of a store to Azure Event Hubs as CloudEvents, checkpointed and resumable.",
        discussion: """
            'run' reads the store's write-ahead log and sends one event per change, partitioned by key, and writes \
            a checkpoint after the hub acknowledges each round: stopped or killed at any moment, the next 'run' \
            resumes from the checkpoint without losing a change. 'status' shows where a feed stands; 'tail' prints \
            the published events. The namespace comes from --connection-string, --connection-string-secret or \
            AZURE_EVENTHUBS_CONNECTION_STRING. docs/changefeed.md describes the events.
            """,
        subcommands: [ChangeFeedRun.self, ChangeFeedStatus.self, ChangeFeedTail.self])
}

/// `--checkpoint` and the storage account a blob checkpoint lives in.
struct ChangeFeedCheckpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Where the checkpoint lives: file:///path, a plain path, or azure://<container>/<blob> (default: <db>.changefeed.json beside the store).",
        valueName: "location"))
    var checkpoint: String?

    @Option(help: ArgumentHelp(
        "A storage connection string for an azure:// checkpoint (default: $AZURE_STORAGE_CONNECTION_STRING).", valueName: "connection-string"))
    var storageConnectionString: String?

    @Option(help: ArgumentHelp("A Key Vault secret (https://<vault>/secrets/<name>) holding the storage connection string.", valueName: "secret-url"))
    var storageConnectionStringSecret: String?

    func store(db: String) async throws -> any ChangeFeedCheckpointStore {
        let location = checkpoint ?? "file://\(absolutePath(db)).changefeed.json"
        if location.hasPrefix("azure://") {
            let rest = location.dropFirst("azure://".count)
            guard let slash = rest.firstIndex(of: "/"), rest.index(after: slash) < rest.endIndex else {
                throw ValidationError("--checkpoint '\(location)' must be azure://<container>/<blob path>")
            }
            let container = String(rest[..<slash])
            try validateContainerName(container)
            let connectionString = try await AzureAccess.connectionString(
                storageConnectionString, secret: storageConnectionStringSecret, secretOption: "--storage-connection-string-secret",
                environmentVariable: "AZURE_STORAGE_CONNECTION_STRING",
                missing: "an azure:// checkpoint needs a storage account: pass --storage-connection-string or set AZURE_STORAGE_CONNECTION_STRING (for the emulator: UseDevelopmentStorage=true)")
            let service = try BlobServiceClient(connectionString: connectionString, transport: AzureAccess.transport)
            let containerClient = service.containerClient(container)
            return BlobChangeFeedCheckpointStore(blob: containerClient.blobClient(String(rest[rest.index(after: slash)...])), location: location)
        }
        if location.hasPrefix("file://") {
            let path = String(location.dropFirst("file://".count))
            guard path.hasPrefix("/") else {
                throw ValidationError("--checkpoint '\(location)': file:// needs an absolute path (file:///dir/feed.json); a plain path is relative to the working directory")
            }
            return FileCheckpointStore(path: path)
        }
        if location.contains("://") {
            throw ValidationError("--checkpoint '\(location)' must be file:///path, a plain path or azure://<container>/<blob>")
        }
        return FileCheckpointStore(path: absolutePath(location))
    }
}

/// Opens the store to follow: as its owner when no other process holds it (and marks its write-ahead log as kept
/// until the feed releases it), or as a read-only follower of the process that does.
enum FeedStoreOpener {
    static func open(_ db: String, scratch: String?) async throws -> (Store, following: Bool) {
        let path = absolutePath(db)
        var options = StoreOptions()
        options.createIfMissing = false
        options.walRetention = .untilReleased
        do {
            return (try await Store.open(at: path, options: options), false)
        } catch let error as KVError where error.code == .locked {
            let scratchDirectory = scratch.map(absolutePath)
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("kumo-follow-\(UUID().uuidString.prefix(8))").path
            return (try await Store.follow(at: path, scratchDirectory: scratchDirectory), true)
        }
    }
}

struct ChangeFeedRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Publish the store's changes until stopped (Ctrl-C or SIGTERM finish the current round and checkpoint).",
        discussion: """
            When no other process holds the store, 'run' opens it and keeps its write-ahead log until the feed has \
            checkpointed past it. When an application holds it, 'run' follows it read-only (a RocksDB secondary \
            instance); that application must keep the log (it does when the store carries the feed's mark, \
            KUMO-WAL-HOLD, which 'run' writes). A gap in the log stops the feed with the exact range lost.
            """)

    @Option(help: "The database directory.") var db: String
    @Option(help: "The event hub (default: the connection string's EntityPath).") var hub: String?
    @Option(help: "An Event Hubs connection string (default: $AZURE_EVENTHUBS_CONNECTION_STRING).") var connectionString: String?
    @Option(help: ArgumentHelp("A Key Vault secret (https://<vault>/secrets/<name>) holding the Event Hubs connection string.", valueName: "secret-url"))
    var connectionStringSecret: String?
    @OptionGroup var checkpoint: ChangeFeedCheckpointOptions
    @Option(help: ArgumentHelp("Where a feed without a checkpoint starts: earliest, latest or a sequence number (e.g. a backup's + 1).", valueName: "position"))
    var startAt = "earliest"
    @Option(help: ArgumentHelp("What picks a change's partition: whole (the key), prefix:N (its first N bytes) or separator:C (the bytes before C).", valueName: "rule"))
    var partitionKey = "whole"
    @Option(name: .customLong("include-cf"), parsing: .singleValue, help: ArgumentHelp("Publish only this column family (repeatable).", valueName: "name"))
    var includeFamilies: [String] = []
    @Option(name: .customLong("exclude-cf"), parsing: .singleValue, help: ArgumentHelp("Do not publish this column family (repeatable).", valueName: "name"))
    var excludeFamilies: [String] = []
    @Flag(help: "Claim an azure:// checkpoint another holder wrote recently.") var takeOver = false
    @Option(help: ArgumentHelp("The most changes one round reads and sends before it checkpoints (bounds memory and re-sends after a crash).", valueName: "count"))
    var maxRoundRecords = 20_000
    @Option(help: ArgumentHelp("Where a follower keeps its own files (default: a temporary directory).", valueName: "dir"))
    var followerDirectory: String?
    @Option(help: ArgumentHelp("Print progress every this many seconds.", valueName: "seconds")) var progressInterval: Double = 1
    @Flag(help: "Stop once every change the store held at start is published and checkpointed (for batch jobs).")
    var untilCaughtUp = false
    @Flag(help: "Print progress as JSON lines.") var json = false

    func validate() throws {
        if !includeFamilies.isEmpty && !excludeFamilies.isEmpty {
            throw ValidationError("give --include-cf or --exclude-cf, not both")
        }
        if connectionString != nil && connectionStringSecret != nil {
            throw ValidationError("give --connection-string or --connection-string-secret, not both")
        }
        if !(progressInterval > 0) { throw ValidationError("--progress-interval must be > 0") }
        if maxRoundRecords < 1 { throw ValidationError("--max-round-records must be at least 1") }
        _ = try parse(startAt) { try ChangeFeedStart(parsing: $0) }
        _ = try parse(partitionKey) { try PartitionKeyStrategy(parsing: $0) }
    }

    private func parse<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
        do { return try body(text) } catch let error as ChangeFeedError { throw ValidationError(error.message) }
    }

    func run() async throws {
        var configuration = ChangeFeedConfiguration()
        configuration.start = try parse(startAt) { try ChangeFeedStart(parsing: $0) }
        configuration.partitioning = try parse(partitionKey) { try PartitionKeyStrategy(parsing: $0) }
        if !includeFamilies.isEmpty { configuration.columnFamilies = .only(Set(includeFamilies)) }
        if !excludeFamilies.isEmpty { configuration.columnFamilies = .excluding(Set(excludeFamilies)) }
        configuration.takeOver = takeOver
        configuration.maxRoundRecords = maxRoundRecords

        let namespace = try await AzureAccess.connectionString(
            connectionString, secret: connectionStringSecret, environmentVariable: "AZURE_EVENTHUBS_CONNECTION_STRING",
            missing: "no Event Hubs namespace: pass --connection-string or set AZURE_EVENTHUBS_CONNECTION_STRING (for the emulator: the string 'kumo emulator' prints)")
        let checkpointStore = try await checkpoint.store(db: db)
        let (store, following) = try await FeedStoreOpener.open(db, scratch: followerDirectory)
        defer { try? store.close() }
        let producer = try EventHubProducerClient(connectionString: namespace, eventHubName: hub)
        let feed = try ChangeFeed(
            store: store, producer: producer, checkpointStore: checkpointStore, configuration: configuration,
            logger: Logger(label: "kumo.changefeed"))
        Interruption.respond(.stop { feed.stop() })

        let reporter = FeedProgressReporter(json: json, interval: progressInterval)
        if !json {
            printError("kumo: publishing \(store.path)\(following ? " (following the process that holds it, read-only)" : "") to \(producer.eventHubName); checkpoint \(checkpointStore.location)")
        }
        let progress = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(progressInterval))
                reporter.report(feed.statistics, final: false)
            }
        }
        defer { progress.cancel() }
        do {
            if untilCaughtUp {
                try store.catchUpWithPrimary()
                try await feed.run(until: try store.latestSequenceNumber)
            } else {
                try await feed.run()
            }
        } catch let error as ChangeFeedError {
            progress.cancel()
            await producer.close()
            reporter.finish()
            throw error
        }
        progress.cancel()
        _ = await progress.value  // so the final report is the last line
        await producer.close()
        reporter.report(feed.statistics, final: true)
    }
}
