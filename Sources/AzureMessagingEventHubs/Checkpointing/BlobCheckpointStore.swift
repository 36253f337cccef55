import AzureCore
import AzureStorageBlobs
import Foundation

/// A ``CheckpointStore`` in an Azure Blob Storage container, in the layout of Microsoft's checkpoint stores
/// (Python `azure-eventhub-checkpointstoreblob`, .NET `Azure.Messaging.EventHubs.Processor`), so Kumo's processors
/// and Microsoft's read and honour each other's ownership and checkpoints.
///
/// Each record is an empty block blob whose metadata holds the data, named (all lower-cased):
/// ```
/// <namespace>/<event hub>/<consumer group>/ownership/<partition>    metadata: ownerid
/// <namespace>/<event hub>/<consumer group>/checkpoint/<partition>   metadata: offset, sequencenumber
/// ```
/// The container must exist. Ownership claims are conditional writes (If-Match the known ETag, or If-None-Match
/// `*` for a partition never claimed), so of two processors racing for a partition exactly one wins.
public struct BlobCheckpointStore: CheckpointStore {
    /// The container the records live in.
    public let containerClient: BlobContainerClient
    /// How many claims of one ``claimOwnership(_:)`` call are in flight at once.
    public var maxConcurrentClaims: Int

    /// Metadata keys, as Microsoft's stores write them.
    enum MetadataKey {
        static let ownerID = "ownerid"
        static let offset = "offset"
        static let sequenceNumber = "sequencenumber"
    }

    /// - Parameter containerClient: An existing container, e.g. from `BlobServiceClient.containerClient(_:)`.
    public init(containerClient: BlobContainerClient, maxConcurrentClaims: Int = 8) {
        self.containerClient = containerClient
        self.maxConcurrentClaims = max(1, maxConcurrentClaims)
    }

    // MARK: Blob names

    /// The name of the blob holding a partition's ownership, lower-cased:
    /// `<namespace>/<event hub>/<consumer group>/ownership/<partition>`.
    public static func ownershipBlobName(
        fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String, partitionID: String
    ) -> String {
        prefix(fullyQualifiedNamespace, eventHubName, consumerGroup, "ownership") + partitionID.lowercased()
    }

    /// The name of the blob holding a partition's checkpoint, lower-cased:
    /// `<namespace>/<event hub>/<consumer group>/checkpoint/<partition>`.
    public static func checkpointBlobName(
        fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String, partitionID: String
    ) -> String {
        prefix(fullyQualifiedNamespace, eventHubName, consumerGroup, "checkpoint") + partitionID.lowercased()
    }

    static func prefix(_ namespace: String, _ eventHub: String, _ consumerGroup: String, _ kind: String) -> String {
        "\(namespace)/\(eventHub)/\(consumerGroup)/\(kind)/".lowercased()
    }

    /// Rejects names that would put a record where another one's listing finds it (a `/` makes a deeper path).
    static func validate(
        _ namespace: String, _ eventHub: String, _ consumerGroup: String, partitionID: String? = nil
    ) throws {
        var parts = [
            ("fully qualified namespace", namespace), ("event hub name", eventHub), ("consumer group", consumerGroup),
        ]
        if let partitionID { parts.append(("partition id", partitionID)) }
        for (what, value) in parts {
            guard !value.isEmpty else { throw AzureError(.invalidArgument, "the \(what) is empty") }
            guard !value.contains("/") else {
                throw AzureError(
                    .invalidArgument, "the \(what) '\(value)' contains '/', which would change the blob path")
            }
        }
    }

    // MARK: Ownership

    /// Lists the ownership blobs of the event hub and consumer group with their metadata. A blob without an
    /// `ownerid` reads as relinquished (owner ""). The returned records carry the names as given, not lower-cased.
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` for an empty name or one containing `/`; the Blob service's
    ///   error (e.g. 404 `ContainerNotFound`) otherwise.
    public func listOwnership(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String)
        async throws -> [PartitionOwnership]
    {
        try Self.validate(fullyQualifiedNamespace, eventHubName, consumerGroup)
        let prefix = Self.prefix(fullyQualifiedNamespace, eventHubName, consumerGroup, "ownership")
        var result: [PartitionOwnership] = []
        for try await blob in containerClient.listBlobs(prefix: prefix, include: .metadata) {
            guard let partitionID = Self.partitionID(blob.name, prefix: prefix) else { continue }
            result.append(
                PartitionOwnership(
                    fullyQualifiedNamespace: fullyQualifiedNamespace, eventHubName: eventHubName,
                    consumerGroup: consumerGroup, partitionID: partitionID,
                    ownerID: Self.value(MetadataKey.ownerID, in: blob.properties.metadata) ?? "",
                    lastModifiedTime: blob.properties.lastModified, eTag: Self.quoted(blob.properties.etag)))
        }
        return result
    }

    /// Claims each ownership with a conditional write of its blob's `ownerid` metadata: If-Match its `eTag`, or
    /// for a claim without one, creating the empty blob with If-None-Match `*`. A claim whose condition fails
    /// (412 `ConditionNotMet`, 409 `BlobAlreadyExists`) lost a race and is left out of the result. A claim with
    /// an `eTag` whose blob has since been deleted is retried as a creation.
    ///
    /// - Returns: The winning claims in the order given, each with the blob's new `eTag` and `lastModifiedTime`.
    /// - Throws: ``AzureError`` `.invalidArgument` for an empty name or one containing `/`; any other Blob
    ///   service or transport error (the first one, after the claims in flight finish).
    public func claimOwnership(_ ownerships: [PartitionOwnership]) async throws -> [PartitionOwnership] {
        for ownership in ownerships {
            try Self.validate(
                ownership.fullyQualifiedNamespace, ownership.eventHubName, ownership.consumerGroup,
                partitionID: ownership.partitionID)
        }
        var outcomes = [PartitionOwnership?](repeating: nil, count: ownerships.count)
        try await withThrowingTaskGroup(of: (Int, PartitionOwnership?).self) { group in
            var next = 0
            func startNext() {
                guard next < ownerships.count else { return }
                let index = next
                let ownership = ownerships[index]
                next += 1
                group.addTask { (index, try await claim(ownership)) }
            }
            for _ in 0..<min(maxConcurrentClaims, ownerships.count) { startNext() }
            while let (index, outcome) = try await group.next() {
                outcomes[index] = outcome
                startNext()
            }
        }
        return outcomes.compactMap { $0 }
    }

    /// One conditional write; nil when the claim lost.
    private func claim(_ ownership: PartitionOwnership) async throws -> PartitionOwnership? {
        let blob = containerClient.blobClient(
            Self.ownershipBlobName(
                fullyQualifiedNamespace: ownership.fullyQualifiedNamespace, eventHubName: ownership.eventHubName,
                consumerGroup: ownership.consumerGroup, partitionID: ownership.partitionID))
        let metadata = [MetadataKey.ownerID: ownership.ownerID]
        var written: BlobWriteResult?
        do {
            if let eTag = ownership.eTag {
                do {
                    written = try await blob.setMetadata(metadata, conditions: BlobRequestConditions(ifMatch: eTag))
                } catch let error as AzureError where error.errorCode == "BlobNotFound" {
                    // Deleted since it was listed: nobody holds it, so claim it as a partition never owned.
                    written = nil
                }
            }
            if written == nil {
                var options = BlobUploadOptions()
                options.metadata = metadata
                options.conditions = .ifNotExists
                written = try await blob.upload([], options: options)
            }
        } catch let error as AzureError where Self.isLostRace(error) {
            return nil
        }
        var claimed = ownership
        claimed.eTag = written.map { Self.quoted($0.etag) }
        claimed.lastModifiedTime = written?.lastModified ?? Date()
        return claimed
    }

    private static func isLostRace(_ error: AzureError) -> Bool {
        error.statusCode == 412 || (error.statusCode == 409 && error.errorCode == "BlobAlreadyExists")
    }

    // MARK: Checkpoints

    /// Lists the checkpoint blobs of the event hub and consumer group with their metadata. A partition that has
    /// never been checkpointed has no blob and is absent. Empty `offset` or `sequencenumber` values (which .NET's
    /// store writes for an unknown value) read as nil.
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` for an empty name or one containing `/`;
    ///   `.invalidResponse` naming the blob when its `sequencenumber` is not an integer (a processor must not
    ///   guess where to resume); the Blob service's error otherwise.
    public func listCheckpoints(fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String)
        async throws -> [Checkpoint]
    {
        try Self.validate(fullyQualifiedNamespace, eventHubName, consumerGroup)
        let prefix = Self.prefix(fullyQualifiedNamespace, eventHubName, consumerGroup, "checkpoint")
        var result: [Checkpoint] = []
        for try await blob in containerClient.listBlobs(prefix: prefix, include: .metadata) {
            guard let partitionID = Self.partitionID(blob.name, prefix: prefix) else { continue }
            let metadata = blob.properties.metadata
            var sequenceNumber: Int64?
            if let text = Self.value(MetadataKey.sequenceNumber, in: metadata), !text.isEmpty {
                guard let number = Int64(text) else {
                    throw AzureError(
                        .invalidResponse,
                        "checkpoint blob '\(blob.name)' has sequencenumber '\(text.prefix(40))', which is not an integer"
                    )
                }
                sequenceNumber = number
            }
            let offset = Self.value(MetadataKey.offset, in: metadata).flatMap { $0.isEmpty ? nil : $0 }
            result.append(
                Checkpoint(
                    fullyQualifiedNamespace: fullyQualifiedNamespace, eventHubName: eventHubName,
                    consumerGroup: consumerGroup, partitionID: partitionID, offset: offset,
                    sequenceNumber: sequenceNumber))
        }
        return result
    }

    /// Writes the checkpoint as the metadata of its blob, creating the empty blob when the partition has never
    /// been checkpointed (as Microsoft's stores do: set metadata, and on `BlobNotFound` upload). Only the values
    /// present are written; Microsoft's Python store reads both `offset` and `sequencenumber`, so a checkpoint
    /// meant for it should carry both.
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` when the checkpoint has neither an offset nor a sequence
    ///   number, or a name is empty or contains `/`; the Blob service's error otherwise (404 `ContainerNotFound`
    ///   when the container is missing).
    public func updateCheckpoint(_ checkpoint: Checkpoint) async throws {
        try Self.validate(
            checkpoint.fullyQualifiedNamespace, checkpoint.eventHubName, checkpoint.consumerGroup,
            partitionID: checkpoint.partitionID)
        var metadata: [String: String] = [:]
        if let offset = checkpoint.offset { metadata[MetadataKey.offset] = offset }
        if let sequenceNumber = checkpoint.sequenceNumber {
            metadata[MetadataKey.sequenceNumber] = String(sequenceNumber)
        }
        guard !metadata.isEmpty else {
            throw AzureError(
                .invalidArgument,
                "the checkpoint of partition '\(checkpoint.partitionID)' has neither an offset nor a sequence number")
        }
        let blob = containerClient.blobClient(
            Self.checkpointBlobName(
                fullyQualifiedNamespace: checkpoint.fullyQualifiedNamespace, eventHubName: checkpoint.eventHubName,
                consumerGroup: checkpoint.consumerGroup, partitionID: checkpoint.partitionID))
        do {
            try await blob.setMetadata(metadata)
        } catch let error as AzureError where error.errorCode == "BlobNotFound" {
            var options = BlobUploadOptions()
            options.metadata = metadata
            try await blob.upload([], options: options)
        }
    }

    // MARK: Reading listings

    /// The partition id of a listed blob: what follows the prefix, when that is one path segment.
    private static func partitionID(_ name: String, prefix: String) -> String? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        return rest.isEmpty || rest.contains("/") ? nil : String(rest)
    }

    /// A metadata value by case-insensitive name: the service keeps the case a writer used.
    private static func value(_ key: String, in metadata: [String: String]) -> String? {
        metadata[key] ?? metadata.first { $0.key.lowercased() == key }?.value
    }

    /// ETags in the quoted form headers use; listings give them bare.
    private static func quoted(_ eTag: String) -> String {
        eTag.hasPrefix("\"") || eTag.hasPrefix("W/") ? eTag : "\"\(eTag)\""
    }
}
