import Foundation

/// Which event processor owns a partition of an event hub for a consumer group, as recorded in a
/// ``CheckpointStore``.
///
/// Processors cooperate through these records: each renews its own before they expire, and claims unowned,
/// expired or surplus ones (see ``PartitionLoadBalancer``). A claim is guarded by ``eTag``, so of two processors
/// racing for one partition only one wins.
public struct PartitionOwnership: Sendable, Hashable {
    /// The namespace's host name, e.g. `contoso.servicebus.windows.net`.
    public var fullyQualifiedNamespace: String
    public var eventHubName: String
    /// The consumer group, e.g. `$Default`.
    public var consumerGroup: String
    public var partitionID: String
    /// The owning processor's identifier; empty when the owner gave the partition up.
    public var ownerID: String
    /// When the record was last written (claimed or renewed), as the store's clock saw it. Nil in a claim that
    /// has not been stored yet.
    public var lastModifiedTime: Date?
    /// The store's version of the record. A claim carries the version it last saw (nil: the record must not exist
    /// yet) and fails if the record changed since.
    public var eTag: String?

    public init(
        fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String, partitionID: String,
        ownerID: String, lastModifiedTime: Date? = nil, eTag: String? = nil
    ) {
        self.fullyQualifiedNamespace = fullyQualifiedNamespace
        self.eventHubName = eventHubName
        self.consumerGroup = consumerGroup
        self.partitionID = partitionID
        self.ownerID = ownerID
        self.lastModifiedTime = lastModifiedTime
        self.eTag = eTag
    }
}

/// Where a consumer group has got to in one partition: reading resumes after the event with this sequence
/// number (or, lacking one, this offset).
public struct Checkpoint: Sendable, Hashable {
    public var fullyQualifiedNamespace: String
    public var eventHubName: String
    public var consumerGroup: String
    public var partitionID: String
    /// The offset of the last processed event. A string, as Event Hubs' geo-replicated namespaces made it opaque.
    public var offset: String?
    /// The sequence number of the last processed event.
    public var sequenceNumber: Int64?

    public init(
        fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String, partitionID: String,
        offset: String? = nil, sequenceNumber: Int64? = nil
    ) {
        self.fullyQualifiedNamespace = fullyQualifiedNamespace
        self.eventHubName = eventHubName
        self.consumerGroup = consumerGroup
        self.partitionID = partitionID
        self.offset = offset
        self.sequenceNumber = sequenceNumber
    }
}

/// Durable storage of partition ownership and checkpoints, shared by the event processors of one consumer
/// group. Shaped after Microsoft's `CheckpointStore` (Python `azure-eventhub`, .NET `Azure.Messaging.EventHubs`);
/// ``BlobCheckpointStore`` keeps them in Azure Blob Storage in the layout Microsoft's SDKs use.
public protocol CheckpointStore: Sendable {
    /// Every ownership record of the event hub and consumer group, expired ones included (a claim of an expired
    /// partition needs its ``PartitionOwnership/eTag``).
    func listOwnership(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) async throws
        -> [PartitionOwnership]

    /// Writes each ownership if its record is still at the version the claim carries (``PartitionOwnership/eTag``;
    /// nil: only if no record exists). Returns the claims that won, with their new `eTag` and
    /// `lastModifiedTime`; a claim that lost a race is left out, not thrown.
    ///
    /// - Throws: when the store fails for another reason (unreachable, no permission, no container).
    func claimOwnership(_ ownerships: [PartitionOwnership]) async throws -> [PartitionOwnership]

    /// Every checkpoint of the event hub and consumer group.
    func listCheckpoints(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String) async throws
        -> [Checkpoint]

    /// Creates or replaces the checkpoint of one partition. Unconditional: the partition's owner is the only writer.
    func updateCheckpoint(_ checkpoint: Checkpoint) async throws
}
