import AzureCore
import AzureMessagingEventHubs
import Foundation
import KumoKV
import Logging
import Synchronization

/// Publishes every change of a store to an event hub, in order per key, at least once, resuming from a checkpoint.
///
/// The feed works in rounds: read the changes after the checkpoint (up to ``ChangeFeedConfiguration/maxRoundRecords``
/// or ``ChangeFeedConfiguration/maxRoundBytes``), turn each record into a CloudEvents event, send each partition's
/// events in order (partitions in parallel), and once the hub has acknowledged every one, write the round's last
/// sequence number as the checkpoint. A crash at any moment loses nothing: a restart re-reads from the checkpoint,
/// so a consumer sees at most the last unacknowledged round twice (drop duplicates by the event `id`).
///
/// A failed send is retried with back-off for as long as the feed runs (the hub may be busy or unreachable for a
/// while); a refusal retrying cannot fix (unknown hub, missing permission), a gap in the write-ahead log and a lost
/// checkpoint end ``run()`` with a ``ChangeFeedError``.
public final class ChangeFeed: Sendable {
    public let store: Store
    public let producer: EventHubProducerClient
    public let checkpointStore: any ChangeFeedCheckpointStore
    public let configuration: ChangeFeedConfiguration
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var statistics = ChangeFeedStatistics()
        var stopRequested = false
    }

    /// - Parameters:
    ///   - store: The store to follow: open in this process, or a follower of one another process holds
    ///     (`Store.follow(at:scratchDirectory:)`).
    ///   - producer: A producer for the hub; the feed sends to partitions by id and does not close it.
    ///   - checkpointStore: Where the checkpoint lives (``FileCheckpointStore``, ``BlobChangeFeedCheckpointStore``).
    public init(
        store: Store, producer: EventHubProducerClient, checkpointStore: any ChangeFeedCheckpointStore,
        configuration: ChangeFeedConfiguration = ChangeFeedConfiguration(), logger: Logger = Logger(label: "kumo.changefeed")
    ) throws {
        self.store = store
        self.producer = producer
        self.checkpointStore = checkpointStore
        self.configuration = try configuration.validated()
        self.logger = logger
    }

    /// What the feed has done so far.
    public var statistics: ChangeFeedStatistics { state.withLock { $0.statistics } }

    /// Asks a running feed to stop after its current round: what is in flight is sent and checkpointed first.
    public func stop() {
        state.withLock { $0.stopRequested = true }
    }

    private var stopRequested: Bool { state.withLock { $0.stopRequested } }

    /// `<host>:<store path>`: the same feed restarted on the same host is the same holder.
    public static func defaultHolder(storePath: String) -> String {
        "\(ProcessInfo.processInfo.hostName):\(storePath)"
    }

    /// Runs until ``stop()`` (returns after a last checkpoint), until the checkpoint reaches `sequence` when one
    /// is given, or until cancelled (returns at once; the changes in flight are sent again by the next run).
    ///
    /// - Throws: ``ChangeFeedError``: `.walGap`, `.checkpointHeld`, `.checkpointLost`, `.checkpointInvalid`,
    ///   `.publishRefused`.
    public func run(until sequence: UInt64? = nil) async throws {
        let holder = configuration.holder ?? Self.defaultHolder(storePath: store.path)
        let storeID = try storeCall("reading the store's identity") { try store.identity }
        let claimed = try await checkpointStore.claim(
            holder: holder, staleAfter: configuration.holderTimeout, takeOver: configuration.takeOver)
        // Released before returning (not in a later task), so the next feed in this process can claim it at once.
        do {
            try await publish(from: claimed, storeID: storeID, holder: holder, until: sequence)
        } catch {
            await checkpointStore.release()
            throw error
        }
        await checkpointStore.release()
    }

    private func publish(from claimed: ChangeFeedCheckpoint?, storeID: String, holder: String, until sequence: UInt64?) async throws {
        try storeCall("catching up with the store") { try store.catchUpWithPrimary() }
        let latest = try storeCall("reading the latest sequence number") { try store.latestSequenceNumber }
        var checkpoint = try startingCheckpoint(claimed, storeID: storeID, holder: holder, latest: latest)
        if configuration.retainsWAL {
            try storeCall("marking the store's write-ahead log as held") { try store.holdWAL(holder: holder) }
        }
        try await checkpointStore.save(checkpoint)
        state.withLock {
            $0.statistics.checkpoint = checkpoint.sequenceNumber
            $0.statistics.latestSequence = latest
            $0.statistics.lastCheckpointAt = checkpoint.updated
        }
        logger.info("change feed started", metadata: [
            "store": "\(store.path)", "eventHub": "\(checkpoint.eventHub)", "checkpoint": "\(checkpoint.sequenceNumber)",
            "location": "\(checkpointStore.location)",
        ])

        let partitionIDs = try await withPublishRetries("reading the hub's partitions") { try await self.producer.getPartitionIDs() }
        let partitioner = ChangePartitioner(strategy: configuration.partitioning, partitionIDs: partitionIDs)
        let maxMessage = try await withPublishRetries("opening a sender") {
            try await self.producer.createBatch(options: CreateBatchOptions(partitionID: partitionIDs[0])).maximumSizeInBytes
        }
        // Room for the batch envelope and each event's AMQP sections (properties, data header).
        let builder = ChangeEventBuilder(
            storeID: storeID, maxEventBytes: max(1024, maxMessage - 512 - ChangeEventFormat.contentType.utf8.count - 256),
            maxValueBytesPerEvent: configuration.maxValueBytesPerEvent)

        var idleDelay = configuration.pollInterval
        var lastWrite = ContinuousClock.now
        var lastRelease = ContinuousClock.now - configuration.walReleaseInterval
        var rate = RateMeter()
        while !stopRequested {
            try Task.checkCancellation()
            if let sequence, checkpoint.sequenceNumber >= sequence { break }
            let round = try await readRound(after: checkpoint.sequenceNumber)
            state.withLock { $0.statistics.latestSequence = max($0.statistics.latestSequence, round.latest) }
            guard let last = round.records.last else {
                state.withLock { $0.statistics.behindSince = nil }
                if ContinuousClock.now - lastWrite >= configuration.heartbeatInterval {
                    checkpoint.updated = Date()
                    try await checkpointStore.save(checkpoint)
                    lastWrite = .now
                }
                await sleep(idleDelay)
                idleDelay = min(idleDelay * 2, configuration.maxPollInterval)
                continue
            }
            idleDelay = configuration.pollInterval
            state.withLock { if $0.statistics.behindSince == nil { $0.statistics.behindSince = Date() } }

            let (byPartition, skipped, split) = events(for: round.records, builder: builder, partitioner: partitioner)
            let sent = try await sendRound(byPartition, partitionIDs: partitionIDs)
            guard sent.completed else { break }  // stopped while retrying: nothing new is checkpointed

            checkpoint.sequenceNumber = last.sequenceNumber
            checkpoint.updated = Date()
            checkpoint.holder = holder
            checkpoint.processID = ProcessInfo.processInfo.processIdentifier
            checkpoint.eventsPublished += UInt64(sent.events)
            checkpoint.eventsPerSecond = rate.record(events: sent.events)
            try await checkpointStore.save(checkpoint)
            lastWrite = .now
            state.withLock {
                $0.statistics.checkpoint = checkpoint.sequenceNumber
                $0.statistics.eventsPublished += UInt64(sent.events)
                $0.statistics.batchesSent += UInt64(sent.batches)
                $0.statistics.recordsSkipped += UInt64(skipped)
                $0.statistics.valuesSplit += UInt64(split)
                $0.statistics.eventsPerSecond = checkpoint.eventsPerSecond
                $0.statistics.lastCheckpointAt = checkpoint.updated
                if $0.statistics.checkpoint >= $0.statistics.latestSequence { $0.statistics.behindSince = nil }
            }
            if configuration.retainsWAL, ContinuousClock.now - lastRelease >= configuration.walReleaseInterval {
                lastRelease = .now
                releaseWAL(through: checkpoint.sequenceNumber)
            }
        }
        logger.info("change feed stopped", metadata: ["checkpoint": "\(checkpoint.sequenceNumber)"])
    }

    // MARK: Steps

    private func startingCheckpoint(
        _ claimed: ChangeFeedCheckpoint?, storeID: String, holder: String, latest: UInt64
    ) throws -> ChangeFeedCheckpoint {
        let eventHub = "\(producer.fullyQualifiedNamespace)/\(producer.eventHubName)"
        guard var checkpoint = claimed else {
            let acknowledged: UInt64 = switch configuration.start {
            case .earliest: 0
            case .latest: latest
            case .sequence(let sequence): sequence - 1
            }
            return ChangeFeedCheckpoint(storeID: storeID, sequenceNumber: acknowledged, eventHub: eventHub, holder: holder)
        }
        guard checkpoint.storeID == storeID else {
            throw ChangeFeedError(
                .checkpointInvalid,
                "checkpoint \(checkpointStore.location) belongs to store \(checkpoint.storeID), not to \(store.path) (store \(storeID)); give this store its own checkpoint")
        }
        guard checkpoint.sequenceNumber <= latest else {
            throw ChangeFeedError(
                .checkpointInvalid,
                "checkpoint \(checkpointStore.location) is at sequence \(checkpoint.sequenceNumber) but \(store.path) has only reached \(latest) (restored from an older backup?); consumers have seen changes this store no longer has. Start a new checkpoint with --start-at")
        }
        if checkpoint.eventHub != eventHub {
            logger.warning("the checkpoint was written for another event hub", metadata: ["was": "\(checkpoint.eventHub)", "now": "\(eventHub)"])
            checkpoint.eventHub = eventHub
        }
        checkpoint.holder = holder
        return checkpoint
    }

    private struct Round {
        var records: [ChangeRecord] = []
        var latest: UInt64 = 0
    }

    private func readRound(after acknowledged: UInt64) async throws -> Round {
        var round = Round()
        try storeCall("catching up with the store") { try store.catchUpWithPrimary() }
        round.latest = try storeCall("reading the latest sequence number") { try store.latestSequenceNumber }
        guard round.latest > acknowledged else { return round }
        var bytes = 0
        do {
            for try await record in store.changes(since: acknowledged + 1) {
                round.records.append(record)
                bytes += record.key.count + (record.value?.count ?? 0) + (record.endKey?.count ?? 0)
                if round.records.count >= configuration.maxRoundRecords || bytes >= configuration.maxRoundBytes { break }
            }
        } catch let error as KVError where error.code == .walGap {
            let lost = error.lostRange
            var message = "the write-ahead log of \(store.path) no longer holds changes this feed has not published"
            if let lost { message += ": sequences \(lost.lowerBound)–\(lost.upperBound) are gone" }
            message += " (\(error.message)). Nothing after them was published. To recover, restore consumers from a backup and start a new checkpoint at the backup's sequence number + 1 (--start-at), or accept the loss with --start-at \((lost?.upperBound ?? acknowledged) + 1)"
            throw ChangeFeedError(.walGap, message, lostRange: lost)
        } catch let error as KVError {
            throw ChangeFeedError(.store, "reading the changes of \(store.path) after sequence \(acknowledged) failed: \(error.message)")
        }
        return round
    }

    private func events(
        for records: [ChangeRecord], builder: ChangeEventBuilder, partitioner: ChangePartitioner
    ) -> (byPartition: [[EventData]], skipped: Int, split: Int) {
        var byPartition = [[EventData]](repeating: [], count: partitioner.partitionIDs.count)
        var skipped = 0
        var split = 0
        let now = Date()
        let time = Timestamp.rfc3339(now)
        for record in records {
            guard configuration.columnFamilies.includes(record.columnFamily) else {
                skipped += 1
                continue
            }
            let events = builder.events(for: record, time: now)
            if events.count > 1 { split += 1 }
            let data = events.map { event in
                EventData(body: ChangeEventFormat.encode(event, time: time), contentType: ChangeEventFormat.contentType, messageID: event.id)
            }
            if record.operation == .deleteRange {
                // A range can hold keys of every partition: each partition's consumers see it in order with their keys.
                for index in byPartition.indices { byPartition[index].append(contentsOf: data) }
            } else {
                byPartition[partitioner.partitionIndex(for: record.key)].append(contentsOf: data)
            }
        }
        return (byPartition, skipped, split)
    }

    private struct Sent {
        var completed: Bool
        var events = 0
        var batches = 0
    }

    /// Sends each partition's events in order, partitions in parallel, retrying a failed round as a whole until it
    /// is acknowledged or the feed is stopped.
    private func sendRound(_ byPartition: [[EventData]], partitionIDs: [String]) async throws -> Sent {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                let batches = try await sendOnce(byPartition, partitionIDs: partitionIDs)
                return Sent(completed: true, events: byPartition.reduce(0) { $0 + $1.count }, batches: batches)
            } catch let error as ChangeFeedError {
                throw error
            } catch {
                try Task.checkCancellation()
                if let refused = Self.refusal(error, eventHub: producer.eventHubName) { throw refused }
                let text = Redaction.redact(String(describing: error))
                state.withLock {
                    $0.statistics.retries += 1
                    $0.statistics.lastError = text
                }
                logger.warning("sending changes failed; retrying", metadata: ["error": "\(text)", "delay": "\(delay)"])
                if stopRequested { return Sent(completed: false) }
                await sleep(delay)
                if stopRequested { return Sent(completed: false) }
                delay = min(delay * 2, configuration.maxRetryDelay)
            }
        }
    }

    private func sendOnce(_ byPartition: [[EventData]], partitionIDs: [String]) async throws -> Int {
        let producer = self.producer
        return try await withThrowingTaskGroup(of: Int.self) { group in
            var pending = byPartition.indices.filter { !byPartition[$0].isEmpty }.makeIterator()
            var running = 0
            var batches = 0
            func startNext() -> Bool {
                guard let index = pending.next() else { return false }
                let events = byPartition[index]
                let partitionID = partitionIDs[index]
                group.addTask {
                    try await Self.send(events, to: partitionID, producer: producer)
                }
                return true
            }
            while running < configuration.maxConcurrentSends, startNext() { running += 1 }
            while let sent = try await group.next() {
                batches += sent
                if !startNext() { running -= 1 }
            }
            return batches
        }
    }

    /// Sends one partition's events in order, in as few batches as fit; returns the batch count.
    private static func send(_ events: [EventData], to partitionID: String, producer: EventHubProducerClient) async throws -> Int {
        let options = CreateBatchOptions(partitionID: partitionID)
        var batch = try await producer.createBatch(options: options)
        var batches = 0
        for event in events {
            if batch.tryAdd(event) { continue }
            if batch.count == 0 {
                throw ChangeFeedError(
                    .publishRefused,
                    "an event of \(event.body.count) bytes (\(event.messageID ?? "?")) does not fit the hub's \(batch.maximumSizeInBytes)-byte messages even alone; its key is too large to publish")
            }
            try await producer.send(batch)
            batches += 1
            batch = try await producer.createBatch(options: options)
            batch.tryAdd(event)
        }
        if batch.count > 0 {
            try await producer.send(batch)
            batches += 1
        }
        return batches
    }

    /// A failure that retrying cannot fix, as a ``ChangeFeedError``; `nil` for one worth retrying.
    static func refusal(_ error: any Error, eventHub: String) -> ChangeFeedError? {
        guard let error = error as? AzureError else { return nil }
        let condition = error.errorCode ?? ""
        let permanent = error.code == .authentication || error.code == .credentialUnavailable || error.code == .invalidArgument
            || ["amqp:not-found", "amqp:unauthorized-access", "amqp:not-allowed"].contains(condition)
            || error.statusCode == 401 || error.statusCode == 403 || error.statusCode == 404
        guard permanent else { return nil }
        return ChangeFeedError(.publishRefused, "event hub \(eventHub) refused the feed: \(error)")
    }

    private func withPublishRetries<T: Sendable>(_ what: String, _ body: @Sendable () async throws -> T) async throws -> T {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                return try await body()
            } catch {
                try Task.checkCancellation()
                if let refused = Self.refusal(error, eventHub: producer.eventHubName) { throw refused }
                if stopRequested { throw CancellationError() }
                logger.warning("\(what) failed; retrying", metadata: ["error": "\(Redaction.redact(String(describing: error)))"])
                state.withLock { $0.statistics.retries += 1 }
                await sleep(delay)
                delay = min(delay * 2, configuration.maxRetryDelay)
            }
        }
    }

    private func releaseWAL(through sequence: UInt64) {
        do {
            _ = try store.releaseWAL(through: sequence)
        } catch {
            // The log is only kept longer than needed; the next release tries again.
            logger.warning("releasing the write-ahead log failed", metadata: ["error": "\(error)"])
        }
    }

    private func storeCall<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as KVError {
            throw ChangeFeedError(.store, "\(what) of \(store.path) failed: \(error.message)")
        }
    }

    /// Sleeps for `duration`, or less when ``stop()`` is called or the task is cancelled.
    private func sleep(_ duration: Duration) async {
        let deadline = ContinuousClock.now + duration
        while !stopRequested, !Task.isCancelled, ContinuousClock.now < deadline {
            try? await Task.sleep(for: min(.milliseconds(50), deadline - .now))
        }
    }
}

/// Events per second over the last rounds (an exponentially weighted average, so one round does not swing it).
struct RateMeter {
    private var last = ContinuousClock.now
    private var rate: Double = 0

    mutating func record(events: Int) -> Double {
        let now = ContinuousClock.now
        let elapsed = now - last
        last = now
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard seconds > 0 else { return rate }
        let instant = Double(events) / seconds
        let weight = min(1, seconds / 5)
        rate = rate == 0 ? instant : rate + (instant - rate) * weight
        return rate
    }
}
