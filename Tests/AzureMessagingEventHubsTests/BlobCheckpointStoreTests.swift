import AzureCore
import AzureEmulator
import AzureMessagingEventHubs
import AzureStorageBlobs
import EmulatorTestSupport
import Foundation
import Testing

/// The Blob checkpoint store against the emulator's Blob service over a real socket.
@Suite("Blob checkpoint store against the emulator")
struct BlobCheckpointStoreTests {
    static let namespace = "kumo-test.servicebus.windows.net"

    static func ownership(
        _ partition: String, owner: String, eTag: String? = nil, hub: String = "orders", group: String = "$Default"
    ) -> PartitionOwnership {
        PartitionOwnership(
            fullyQualifiedNamespace: namespace, eventHubName: hub, consumerGroup: group, partitionID: partition,
            ownerID: owner, eTag: eTag)
    }

    @Test func claimsAreGuardedByETags() async throws {
        try await withCheckpointStore { store, _ in
            let first = try await store.claimOwnership([Self.ownership("0", owner: "a")])
            let mine = try #require(first.first)
            #expect(first.count == 1 && mine.ownerID == "a")
            let firstETag = try #require(mine.eTag)
            #expect(mine.lastModifiedTime != nil)

            // A claim of a partition believed unowned loses once someone has created its record.
            #expect(try await store.claimOwnership([Self.ownership("0", owner: "b")]).isEmpty)
            // A claim with a stale ETag loses; with the current one, it wins and the old owner's renewal loses.
            #expect(try await store.claimOwnership([Self.ownership("0", owner: "b", eTag: "\"0x0\"")]).isEmpty)
            let stolen = try await store.claimOwnership([Self.ownership("0", owner: "b", eTag: firstETag)])
            #expect(stolen.map(\.ownerID) == ["b"])
            #expect(stolen.first?.eTag != firstETag)
            #expect(try await store.claimOwnership([Self.ownership("0", owner: "a", eTag: firstETag)]).isEmpty)

            let listed = try await store.listOwnership(
                fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default")
            #expect(listed.count == 1)
            #expect(listed.first?.ownerID == "b")
            #expect(listed.first?.partitionID == "0")
            #expect(listed.first?.eTag == stolen.first?.eTag)
            #expect(listed.first?.consumerGroup == "$Default")
            #expect(listed.first?.lastModifiedTime != nil)

            // The listed ETag (from the XML listing) is as good as the one a write returned.
            let renewed = try await store.claimOwnership([try #require(listed.first)])
            #expect(renewed.count == 1)
        }
    }

    @Test func oneClaimWinsARace() async throws {
        try await withCheckpointStore { store, _ in
            let racers = (0..<8).map { "owner-\($0)" }
            // Everyone claims the never-owned partition at once: exactly one creates it.
            let created = try await Self.race(store, racers.map { Self.ownership("3", owner: $0) })
            #expect(created.count == 1)
            let current = try #require(created.first)

            // Everyone claims it with the ETag they all listed: exactly one write matches it.
            let stolen = try await Self.race(store, racers.map { Self.ownership("3", owner: $0, eTag: current.eTag) })
            #expect(stolen.count == 1)
            let listed = try await store.listOwnership(
                fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default")
            #expect(listed.map(\.ownerID) == stolen.map(\.ownerID))
        }
    }

    /// Each claim in its own call, all at once.
    static func race(_ store: BlobCheckpointStore, _ claims: [PartitionOwnership]) async throws -> [PartitionOwnership]
    {
        try await withThrowingTaskGroup(of: [PartitionOwnership].self) { group in
            for claim in claims { group.addTask { try await store.claimOwnership([claim]) } }
            var won: [PartitionOwnership] = []
            for try await result in group { won += result }
            return won
        }
    }

    @Test func claimManyReturnsWinnersInOrder() async throws {
        try await withCheckpointStore { store, _ in
            _ = try await store.claimOwnership([Self.ownership("2", owner: "other")])
            let claims = (0..<12).map { Self.ownership(String($0), owner: "me") }
            let won = try await store.claimOwnership(claims)
            #expect(won.map(\.partitionID) == ["0", "1", "3", "4", "5", "6", "7", "8", "9", "10", "11"])
            #expect(won.allSatisfy { $0.ownerID == "me" && $0.eTag != nil })
        }
    }

    @Test func relinquishedOwnershipReadsAsUnowned() async throws {
        try await withCheckpointStore { store, _ in
            let claimed = try await store.claimOwnership([Self.ownership("0", owner: "a")])
            var released = try #require(claimed.first)
            released.ownerID = ""
            #expect(try await store.claimOwnership([released]).count == 1)
            let listed = try await store.listOwnership(
                fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default")
            #expect(listed.map(\.ownerID) == [""])
        }
    }

    @Test func checkpointRoundTrip() async throws {
        try await withCheckpointStore { store, _ in
            func list() async throws -> [Checkpoint] {
                try await store.listCheckpoints(
                    fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default")
            }
            // Never checkpointed: no blob, no checkpoint.
            #expect(try await list().isEmpty)
            var checkpoint = Checkpoint(
                fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default",
                partitionID: "1", offset: "4096", sequenceNumber: 17)
            try await store.updateCheckpoint(checkpoint)  // creates the blob
            #expect(try await list() == [checkpoint])
            checkpoint.offset = "8192"
            checkpoint.sequenceNumber = 9_007_199_254_740_993  // beyond a double's exact integers
            try await store.updateCheckpoint(checkpoint)  // replaces its metadata
            #expect(try await list() == [checkpoint])

            let sequenceOnly = Checkpoint(
                fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default",
                partitionID: "0", sequenceNumber: 3)
            try await store.updateCheckpoint(sequenceOnly)
            #expect(try await list() == [sequenceOnly, checkpoint])
        }
    }

    @Test func listingsReturnOnlyTheHubAndGroupAsked() async throws {
        try await withCheckpointStore { store, _ in
            let scopes = [
                ("orders", "$Default"), ("orders2", "$Default"), ("orders", "$Default2"), ("orders", "audit"),
            ]
            for (hub, group) in scopes {
                _ = try await store.claimOwnership([
                    Self.ownership("0", owner: "\(hub)-\(group)", hub: hub, group: group)
                ])
                try await store.updateCheckpoint(
                    Checkpoint(
                        fullyQualifiedNamespace: Self.namespace, eventHubName: hub, consumerGroup: group,
                        partitionID: "0", offset: "1", sequenceNumber: Int64(hub.count + group.count)))
            }
            // Names differing only in case are one scope: blob names are lower-cased.
            let ownership = try await store.listOwnership(
                fullyQualifiedNamespace: Self.namespace.uppercased(), eventHubName: "ORDERS", consumerGroup: "$default")
            #expect(ownership.map(\.ownerID) == ["orders-$Default"])
            #expect(ownership.first?.eventHubName == "ORDERS")
            let checkpoints = try await store.listCheckpoints(
                fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "audit")
            #expect(checkpoints.map(\.sequenceNumber) == [11])
            let otherNamespace = try await store.listOwnership(
                fullyQualifiedNamespace: "other.servicebus.windows.net", eventHubName: "orders",
                consumerGroup: "$Default")
            #expect(otherNamespace.isEmpty)
        }
    }

    /// The layout Microsoft's checkpoint stores read: names, empty bodies, metadata keys.
    @Test func blobLayoutIsMicrosofts() async throws {
        try await withCheckpointStore { store, container in
            _ = try await store.claimOwnership([
                PartitionOwnership(
                    fullyQualifiedNamespace: "Kumo-Test.ServiceBus.Windows.Net", eventHubName: "Orders",
                    consumerGroup: "$Default", partitionID: "0", ownerID: "Processor-A")
            ])
            try await store.updateCheckpoint(
                Checkpoint(
                    fullyQualifiedNamespace: "Kumo-Test.ServiceBus.Windows.Net", eventHubName: "Orders",
                    consumerGroup: "$Default", partitionID: "0", offset: "1024", sequenceNumber: 42))
            var blobs: [BlobItem] = []
            for try await blob in container.listBlobs(include: .metadata) { blobs.append(blob) }
            #expect(
                blobs.map(\.name) == [
                    "kumo-test.servicebus.windows.net/orders/$default/checkpoint/0",
                    "kumo-test.servicebus.windows.net/orders/$default/ownership/0",
                ])
            #expect(blobs.map(\.properties.contentLength) == [0, 0])
            #expect(blobs.first?.properties.metadata == ["offset": "1024", "sequencenumber": "42"])
            #expect(blobs.last?.properties.metadata == ["ownerid": "Processor-A"])
            #expect(
                BlobCheckpointStore.ownershipBlobName(
                    fullyQualifiedNamespace: "Kumo-Test.ServiceBus.Windows.Net", eventHubName: "Orders",
                    consumerGroup: "$Default", partitionID: "0") == blobs.last?.name)
            #expect(
                BlobCheckpointStore.checkpointBlobName(
                    fullyQualifiedNamespace: "Kumo-Test.ServiceBus.Windows.Net", eventHubName: "Orders",
                    consumerGroup: "$Default", partitionID: "0") == blobs.first?.name)
        }
    }

    /// Records written by another SDK: metadata names in another case, and junk that must not be guessed at.
    @Test func readsRecordsOfOtherWriters() async throws {
        try await withCheckpointStore { store, container in
            var options = BlobUploadOptions()
            options.metadata = ["OwnerId": "dotnet-processor"]
            try await container.blobClient("\(Self.namespace)/orders/$default/ownership/5").upload([], options: options)
            options.metadata = ["offset": "12"]
            try await container.blobClient("\(Self.namespace)/orders/$default/checkpoint/5").upload(
                [], options: options)
            // Deeper names under the prefix are not partitions.
            try await container.blobClient("\(Self.namespace)/orders/$default/ownership/5/extra").upload([])

            let ownership = try await store.listOwnership(
                fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default")
            #expect(ownership.map(\.ownerID) == ["dotnet-processor"])
            #expect(ownership.map(\.partitionID) == ["5"])
            let checkpoints = try await store.listCheckpoints(
                fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default")
            #expect(checkpoints.map(\.offset) == ["12"])
            #expect(checkpoints.map(\.sequenceNumber) == [nil])

            options.metadata = ["offset": "12", "sequencenumber": "twelve"]
            try await container.blobClient("\(Self.namespace)/orders/$default/checkpoint/5").upload(
                [], options: options)
            let error = try await #require(throws: AzureError.self) {
                try await store.listCheckpoints(
                    fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default")
            }
            #expect(error.code == .invalidResponse)
            #expect(
                error.message == "checkpoint blob 'kumo-test.servicebus.windows.net/orders/$default/checkpoint/5' "
                    + "has sequencenumber 'twelve', which is not an integer")
        }
    }

    @Test func aMissingContainerIsAnErrorNotALostRace() async throws {
        try await withCheckpointStore { store, container in
            try await container.delete()
            let claim = try await #require(throws: AzureError.self) {
                try await store.claimOwnership([Self.ownership("0", owner: "a")])
            }
            #expect(claim.statusCode == 404 && claim.errorCode == "ContainerNotFound")
            let update = try await #require(throws: AzureError.self) {
                try await store.updateCheckpoint(
                    Checkpoint(
                        fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default",
                        partitionID: "0", offset: "1", sequenceNumber: 1))
            }
            #expect(update.statusCode == 404 && update.errorCode == "ContainerNotFound")
            let list = try await #require(throws: AzureError.self) {
                try await store.listOwnership(
                    fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default")
            }
            #expect(list.statusCode == 404)
        }
    }

    @Test func badNamesAndEmptyCheckpointsAreRejectedBeforeAnyRequest() async throws {
        try await withCheckpointStore { store, container in
            let slash = try await #require(throws: AzureError.self) {
                try await store.claimOwnership([Self.ownership("0/1", owner: "a")])
            }
            #expect(slash.code == .invalidArgument)
            #expect(slash.message == "the partition id '0/1' contains '/', which would change the blob path")
            let empty = try await #require(throws: AzureError.self) {
                try await store.listOwnership(
                    fullyQualifiedNamespace: Self.namespace, eventHubName: "", consumerGroup: "$Default")
            }
            #expect(empty.message == "the event hub name is empty")
            let nothing = try await #require(throws: AzureError.self) {
                try await store.updateCheckpoint(
                    Checkpoint(
                        fullyQualifiedNamespace: Self.namespace, eventHubName: "orders", consumerGroup: "$Default",
                        partitionID: "7"))
            }
            #expect(nothing.message == "the checkpoint of partition '7' has neither an offset nor a sequence number")
            var names: [String] = []
            for try await blob in container.listBlobs() { names.append(blob.name) }
            #expect(names.isEmpty)
        }
    }
}

/// Runs `body` with a checkpoint store on a new container of an in-process emulator.
private func withCheckpointStore(
    _ body: @Sendable (BlobCheckpointStore, BlobContainerClient) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("kumo-eh-checkpoints-\(UUID().uuidString.prefix(12))").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try await withInProcessEmulator(EmulatorConfiguration(blobPort: 0, dataDirectory: directory)) { endpoints in
        var options = ClientOptions()
        options.retry = .noRetry
        options.perTryTimeout = .seconds(30)
        let service = try BlobServiceClient(
            connectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                + "AccountKey=\(StorageConnectionString.developmentAccountKey);BlobEndpoint=\(endpoints.blobEndpoint());",
            options: options)
        let container = service.containerClient("checkpoints-\(UUID().uuidString.lowercased().prefix(8))")
        try await container.create()
        try await body(BlobCheckpointStore(containerClient: container), container)
    }
}
