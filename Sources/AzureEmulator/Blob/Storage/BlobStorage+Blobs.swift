import Foundation
import KumoKV

/// Blobs: reads, Put Blob, metadata and properties, leases, Delete and Undelete Blob, and the write that keeps
/// versions and collects data files nothing references anymore.
extension BlobStorage {
    func blob(_ account: String, _ container: String, _ name: String) throws -> BlobRecord? {
        try decode(BlobRecord.self, store.get(Self.key(account, container, name), in: Self.blobs))
    }

    /// The blob as a read with `versionid` sees it: the current blob when the id is its version, else that
    /// previous version. The flag tells whether it is the current version.
    func blob(_ account: String, _ container: String, _ name: String, version: String) throws -> (BlobRecord, isCurrent: Bool)? {
        if let current = try blob(account, container, name), current.versionID == version { return (current, true) }
        guard let record = try decode(BlobRecord.self, store.get(Self.versionKey(account, container, name, version), in: Self.blobs)),
            record.deletedTime == nil
        else { return nil }
        return (record, false)
    }

    func requireContainer(_ account: String, _ container: String) throws {
        guard try self.container(account, container) != nil else { throw EmulatorError.containerNotFound() }
    }

    func checkLease(_ record: BlobRecord?, _ leaseID: String?, requireLeaseID: Bool = true) throws {
        try LeaseRules.checkAccess(record?.lease, requestLeaseID: leaseID, now: clock(), resource: .blob, requireLeaseID: requireLeaseID)
    }

    /// Checks a read's lease id (reads need none, but one that is given must be the active lease).
    func checkReadLease(_ record: BlobRecord, leaseID: String?) throws {
        try checkLease(record, leaseID, requireLeaseID: false)
    }

    /// Stores a blob written in one request (Put Blob). `check` sees the current blob first and may throw
    /// (conditional headers), so the check and the write happen atomically.
    func putBlob(
        _ account: String, _ container: String, _ name: String, part: DataPart, properties: BlobHTTPProperties,
        metadata: [String: String], leaseID: String?, check: @Sendable (BlobRecord?) throws -> Void
    ) throws -> BlobRecord {
        try requireContainer(account, container)
        let existing = try blob(account, container, name)
        try checkLease(existing, leaseID)
        try check(existing)
        let stamp = nextStamp()
        let record = BlobRecord(
            name: name, created: existing?.created ?? stamp.date, lastModified: stamp.date, etag: stamp.etag,
            properties: properties, metadata: metadata, parts: [part], committedBlocks: [], lease: existing?.lease,
            versionID: versionedAccounts.contains(account) ? stamp.versionID : nil)
        try write(account, container, existing: existing, with: record, newVersion: true, dropStagedBlocks: true)
        return record
    }

    /// Writes `record` as the current blob. With `newVersion` on a versioned account the replaced blob is kept
    /// as a previous version. Afterwards deletes the data files nothing references anymore.
    func write(
        _ account: String, _ container: String, existing: BlobRecord?, with record: BlobRecord, newVersion: Bool,
        dropStagedBlocks: Bool
    ) throws {
        var candidates = Set(existing.map(Self.files(of:)) ?? [])
        var batch = WriteBatch()
        batch.put(Self.key(account, container, record.name), try encode(record), in: Self.blobs)
        if newVersion, versionedAccounts.contains(account), var previous = existing {
            previous.lease = nil
            let id = previous.versionID ?? HTTPDate.iso8601(previous.lastModified)
            previous.versionID = id
            batch.put(Self.versionKey(account, container, record.name, id), try encode(previous), in: Self.blobs)
        }
        if dropStagedBlocks {
            candidates.formUnion(try uncommittedBlocks(account, container, record.name).map(\.part.file))
            deleteStagedBlocks(account, container, record.name, in: &batch)
        }
        try store.write(batch)
        try collectGarbage(account, container, record.name, candidates: candidates)
    }

    static func files(of record: BlobRecord) -> Set<String> {
        Set(record.parts.map(\.file)).union(record.committedBlocks.map(\.part.file))
    }

    func deleteStagedBlocks(_ account: String, _ container: String, _ name: String, in batch: inout WriteBatch) {
        let blockPrefix = KeyRange.prefix(Self.key(account, container, name))
        if let lower = blockPrefix.lower, let upper = blockPrefix.upper {
            batch.deleteRange(from: lower, to: upper, in: Self.blocks)
        }
    }

    /// Deletes those of `candidates` that no entry of blob `name` (current, versions, soft-deleted, staged
    /// blocks) references. Versions and blocks of one name share data files; no other name does.
    func collectGarbage(_ account: String, _ container: String, _ name: String, candidates: Set<String>) throws {
        guard !candidates.isEmpty else { return }
        var unreferenced = candidates
        if let current = try blob(account, container, name) { unreferenced.subtract(Self.files(of: current)) }
        try store.withCursor(.prefix(Self.key(account, container, name)), in: Self.blobs) { cursor in
            while let entry = try cursor.next() {
                if let record = try decode(BlobRecord.self, entry.value) { unreferenced.subtract(Self.files(of: record)) }
            }
        }
        unreferenced.subtract(try uncommittedBlocks(account, container, name).map(\.part.file))
        removeFiles(unreferenced)
    }

    func setBlobMetadata(
        _ account: String, _ container: String, _ name: String, metadata: [String: String], leaseID: String?,
        check: @Sendable (BlobRecord) throws -> Void
    ) throws -> BlobRecord {
        try requireContainer(account, container)
        guard let existing = try blob(account, container, name) else { throw EmulatorError.blobNotFound() }
        try checkLease(existing, leaseID)
        try check(existing)
        let stamp = nextStamp()
        var record = existing
        record.metadata = metadata
        record.etag = stamp.etag
        record.lastModified = stamp.date
        // Set Blob Metadata is a write that creates a new version.
        if versionedAccounts.contains(account) { record.versionID = stamp.versionID }
        try write(account, container, existing: existing, with: record, newVersion: true, dropStagedBlocks: false)
        return record
    }

    func setBlobProperties(
        _ account: String, _ container: String, _ name: String, properties: BlobHTTPProperties, leaseID: String?,
        check: @Sendable (BlobRecord) throws -> Void
    ) throws -> BlobRecord {
        try requireContainer(account, container)
        guard var record = try blob(account, container, name) else { throw EmulatorError.blobNotFound() }
        try checkLease(record, leaseID)
        try check(record)
        let stamp = nextStamp()
        record.properties = properties
        record.etag = stamp.etag
        record.lastModified = stamp.date
        // Set Blob Properties changes the current version in place; it does not create a version.
        try store.put(Self.key(account, container, name), encode(record), in: Self.blobs)
        return record
    }

    func leaseBlob(
        _ account: String, _ container: String, _ name: String, action: LeaseAction,
        check: @Sendable (BlobRecord) throws -> Void
    ) throws -> (BlobRecord, LeaseOutcome) {
        try requireContainer(account, container)
        guard var record = try blob(account, container, name) else { throw EmulatorError.blobNotFound() }
        try check(record)
        let outcome = try LeaseRules.apply(action, to: record.lease, now: clock(), resource: .blob)
        record.lease = outcome.lease
        try store.put(Self.key(account, container, name), encode(record), in: Self.blobs)
        return (record, outcome)
    }

    /// How Delete Blob ended: `permanent` is false when the blob was kept as a version or soft-deleted.
    struct DeleteResult {
        var permanent: Bool
    }

    /// Delete Blob. Without `version`: the current blob goes (kept as a previous version on a versioned
    /// account, else soft-deleted when the account's retention policy is on). With `version`: that previous
    /// version goes (soft-deleted when the retention policy is on). `snapshotsOnly` (`x-ms-delete-snapshots: only`) deletes nothing, since blobs here have no
    /// snapshots, but still checks that the blob exists and may be written.
    func deleteBlob(
        _ account: String, _ container: String, _ name: String, version: String?, leaseID: String?,
        snapshotsOnly: Bool, check: @Sendable (BlobRecord) throws -> Void
    ) throws -> DeleteResult {
        try requireContainer(account, container)
        let current = try blob(account, container, name)
        if let version, current?.versionID != version {
            let key = Self.versionKey(account, container, name, version)
            guard var record = try decode(BlobRecord.self, store.get(key, in: Self.blobs)), record.deletedTime == nil else {
                throw EmulatorError.blobNotFound()
            }
            try check(record)
            if let days = try serviceSettings(account).deleteRetentionDays {
                record.deletedTime = clock()
                record.retentionDays = days
                try store.put(key, encode(record), in: Self.blobs)
                return DeleteResult(permanent: false)
            }
            try store.delete(key, in: Self.blobs)
            try collectGarbage(account, container, name, candidates: Self.files(of: record))
            return DeleteResult(permanent: true)
        }
        guard let record = current else { throw EmulatorError.blobNotFound() }
        try checkLease(record, leaseID)
        try check(record)
        if snapshotsOnly { return DeleteResult(permanent: false) }

        var candidates = Self.files(of: record)
        candidates.formUnion(try uncommittedBlocks(account, container, name).map(\.part.file))
        var batch = WriteBatch()
        batch.delete(Self.key(account, container, name), in: Self.blobs)
        deleteStagedBlocks(account, container, name, in: &batch)
        var kept = record
        kept.lease = nil
        var permanent = true
        if versionedAccounts.contains(account) {
            let id = record.versionID ?? HTTPDate.iso8601(record.lastModified)
            kept.versionID = id
            batch.put(Self.versionKey(account, container, name, id), try encode(kept), in: Self.blobs)
            permanent = false
        } else if let days = try serviceSettings(account).deleteRetentionDays {
            if let older = try decode(BlobRecord.self, store.get(Self.deletedKey(account, container, name), in: Self.blobs)) {
                candidates.formUnion(Self.files(of: older))
            }
            kept.deletedTime = clock()
            kept.retentionDays = days
            batch.put(Self.deletedKey(account, container, name), try encode(kept), in: Self.blobs)
            permanent = false
        }
        try store.write(batch)
        try collectGarbage(account, container, name, candidates: candidates)
        return DeleteResult(permanent: permanent)
    }

    /// Undelete Blob: restores the blob's soft-deleted versions, and the soft-deleted blob when no current blob
    /// has its name; succeeds without change when the blob exists, as Azure does.
    func undeleteBlob(_ account: String, _ container: String, _ name: String) throws {
        try requireContainer(account, container)
        var restoredVersions = 0
        var batch = WriteBatch()
        try store.withCursor(.prefix(Self.key(account, container, name, "v")), in: Self.blobs) { cursor in
            while let entry = try cursor.next() {
                guard var version = try decode(BlobRecord.self, entry.value), version.deletedTime != nil,
                    !isExpired(version)
                else { continue }
                version.deletedTime = nil
                version.retentionDays = nil
                batch.put(entry.key, try encode(version), in: Self.blobs)
                restoredVersions += 1
            }
        }
        if restoredVersions > 0 { try store.write(batch) }
        let key = Self.deletedKey(account, container, name)
        let deleted = try decode(BlobRecord.self, store.get(key, in: Self.blobs)).flatMap { isExpired($0) ? nil : $0 }
        if try blob(account, container, name) != nil { return }
        guard var record = deleted else {
            if restoredVersions > 0 { return }
            throw EmulatorError.blobNotFound()
        }
        record.deletedTime = nil
        record.retentionDays = nil
        batch = WriteBatch()
        batch.put(Self.key(account, container, name), try encode(record), in: Self.blobs)
        batch.delete(key, in: Self.blobs)
        try store.write(batch)
    }

    /// When a soft-deleted blob is purged.
    nonisolated func purgeTime(of record: BlobRecord) -> Date? {
        guard let deleted = record.deletedTime, let days = record.retentionDays else { return nil }
        return deleted.addingTimeInterval(TimeInterval(days) * 86_400)
    }

    func isExpired(_ record: BlobRecord) -> Bool {
        guard let purge = purgeTime(of: record) else { return false }
        return clock() >= purge
    }
}
