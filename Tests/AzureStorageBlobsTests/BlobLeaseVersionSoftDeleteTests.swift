import AzureCore
import AzureEmulator
import AzureStorageBlobs
import Foundation
import Testing

@Suite("Leases, versions and soft delete against the emulator")
struct BlobLeaseVersionSoftDeleteTests {
    @Test func leaseExcludesOtherWriters() async throws {
        try await withEmulator { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let blob = container.blobClient("locked")
            try await blob.upload(Array("v1".utf8))
            var lease = blob.leaseClient()
            try await lease.acquire(seconds: 15)
            let conflict = try await #require(throws: AzureError.self) { try await blob.leaseClient().acquire(seconds: 15) }
            #expect(conflict.statusCode == 409 && conflict.errorCode == "LeaseAlreadyPresent")
            let missing = try await #require(throws: AzureError.self) { try await blob.upload(Array("intruder".utf8)) }
            #expect(missing.statusCode == 412 && missing.errorCode == "LeaseIdMissing")
            var holder = BlobUploadOptions()
            holder.conditions.leaseID = lease.leaseID
            try await blob.upload(Array("v2".utf8), options: holder)
            #expect(try await blob.properties().leaseState == .leased)
            try await lease.renew()
            try await lease.change(to: UUID().uuidString.lowercased())
            try await lease.release()
            #expect(try await blob.properties().leaseState == .available)
            try await blob.upload(Array("v3".utf8))

            let containerLease = container.leaseClient()
            try await containerLease.acquire()
            let deleteWithoutLease = try await #require(throws: AzureError.self) { try await container.delete() }
            #expect(deleteWithoutLease.statusCode == 412)
            #expect(try await containerLease.breakLease(periodSeconds: 0) == 0)
            try await container.delete()
        }
    }

    @Test func versionsKeepEveryWrite() async throws {
        try await withEmulator(configure: { config in
            config.accounts = config.accounts.map { var account = $0; account.versioningEnabled = true; return account }
        }) { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let blob = container.blobClient("doc")
            let first = try await blob.upload(Array("one".utf8))
            let second = try await blob.upload(Array("two".utf8))
            let v1 = try #require(first.versionID)
            let v2 = try #require(second.versionID)
            #expect(v1 != v2)
            #expect(try await blob.withVersion(v1).download() == Array("one".utf8))
            #expect(try await blob.download() == Array("two".utf8))
            #expect(try await blob.properties().isCurrentVersion == true)
            try await blob.delete()
            #expect(try await blob.withVersion(v2).download() == Array("two".utf8), "deleting the base blob keeps versions")
            let versions = try await collect(container.listBlobs(include: [.versions]))
            #expect(Set(versions.compactMap(\.versionID)) == [v1, v2])
        }
    }

    @Test func softDeleteAndUndelete() async throws {
        try await withEmulator { service, _ in
            #expect(try await service.deleteRetentionPolicy() == .disabled)
            try await service.setDeleteRetentionPolicy(.days(7))
            #expect(try await service.deleteRetentionPolicy() == .days(7))
            let invalid = try await #require(throws: AzureError.self) { try await service.setDeleteRetentionPolicy(.days(0)) }
            #expect(invalid.code == .invalidArgument)

            let container = service.containerClient(uniqueName())
            try await container.create()
            let blob = container.blobClient("precious")
            try await blob.upload(Array("keep me".utf8))
            try await blob.delete()
            #expect(try await blob.exists() == false)
            let listed = try await collect(container.listBlobs(include: [.deleted]))
            #expect(listed.map(\.name) == ["precious"])
            #expect(listed.first?.properties.isDeleted == true)
            try await blob.undelete()
            #expect(try await blob.download() == Array("keep me".utf8))
        }
    }
}
