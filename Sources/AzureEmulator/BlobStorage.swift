import Foundation
import KumoKV

/// The emulator's persistent state: metadata in a KumoKV store (`<data>/metadata`), blob and block content
/// in files (`<data>/files`). One actor serialises every metadata change, so each operation is atomic.
///
/// Keys are ``MetadataKey`` tuples. In the `blobs` family `account container name` is the current blob,
/// `account container name v <version-id>` a previous version, and `account container name d` the
/// soft-deleted blob. All entries of one name are therefore adjacent, which is what listings with
/// `include=versions,deleted` walk.
actor BlobStorage {
    let dataDirectory: String
    let filesDirectory: String
    /// Accounts whose blobs keep a version per write (a management-plane setting in Azure).
    let versionedAccounts: Set<String>
    /// The time the emulator runs on; tests move it to expire leases, blocks and soft-deleted blobs.
    nonisolated let clock: @Sendable () -> Date
    private let store: Store
    private var lastTick: UInt64 = 0
    private var serviceSettingsCache: [String: ServiceSettings] = [:]

    /// Closes the store once the servers have stopped, so RocksDB is shut down before the process exits rather
    /// than whenever the last server task lets go of this actor. Later calls fail with KumoKV's `.closed`.
    func close() throws {
        try store.close()
    }

    static let containers: ColumnFamily = "containers"
    static let blobs: ColumnFamily = "blobs"
    static let blocks: ColumnFamily = "uncommitted-blocks"
    static let accounts: ColumnFamily = "accounts"

    /// Azure discards a blob's uncommitted blocks when no Put Block or Put Block List succeeded for a week.
    static let uncommittedBlockLifetime: TimeInterval = 7 * 86_400

    init(
        dataDirectory: String, versionedAccounts: Set<String> = [], clock: @escaping @Sendable () -> Date = { Date() }
    ) async throws {
        self.dataDirectory = dataDirectory
        self.versionedAccounts = versionedAccounts
        self.clock = clock
        filesDirectory = dataDirectory + "/files"
        try FileManager.default.createDirectory(atPath: filesDirectory, withIntermediateDirectories: true)
        var options = StoreOptions()
        options.columnFamilies = [Self.containers.name, Self.blobs.name, Self.blocks.name, Self.accounts.name]
        options.walRetention = .none
        store = try await Store.open(at: dataDirectory + "/metadata", options: options)
        _ = try await MetadataKey.migrate(
            store, families: [Self.containers, Self.blobs, Self.blocks, Self.accounts], accounts: Self.accounts)
    }

    nonisolated func now() -> Date { clock() }

    /// A fresh, strictly increasing time in 100 ns ticks since 1970, the unit of ETags and version ids.
    private func nextTick() -> UInt64 {
        let tick = UInt64(clock().timeIntervalSince1970 * 10_000_000)
        lastTick = max(tick, lastTick + 1)
        return lastTick
    }

    private struct Stamp {
        var etag: String
        var date: Date
        var versionID: String
    }

    private func nextStamp() -> Stamp {
        let tick = nextTick()
        return Stamp(
            etag: "\"0x\(String(tick, radix: 16, uppercase: true))\"",
            date: Date(timeIntervalSince1970: TimeInterval(tick) / 10_000_000),
            versionID: HTTPDate.iso8601(ticks: tick))
    }

    /// A fresh, strictly increasing ETag in Azure's `"0x…"` form.
    func nextETag() -> String { nextStamp().etag }

    // MARK: Keys

    private static func key(_ parts: String...) -> [UInt8] { key(parts) }

    private static func key(_ parts: [String]) -> [UInt8] { MetadataKey.encode(parts) }

    /// The tuple of a stored key; an entry whose key is not well-formed has none and is skipped.
    private static func parts(of key: [UInt8]) -> [String] { MetadataKey.decode(key) ?? [] }

    private static func versionKey(_ account: String, _ container: String, _ name: String, _ version: String) -> [UInt8] {
        key(account, container, name, "v", version)
    }

    private static func deletedKey(_ account: String, _ container: String, _ name: String) -> [UInt8] {
        key(account, container, name, "d")
    }

    private func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]?) throws -> T? {
        guard let bytes else { return nil }
        return try JSONDecoder().decode(type, from: Data(bytes))
    }

    private func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    // MARK: Service properties

    func serviceSettings(_ account: String) throws -> ServiceSettings {
        if let cached = serviceSettingsCache[account] { return cached }
        let settings = try decode(ServiceSettings.self, store.get(Self.key(account), in: Self.accounts)) ?? ServiceSettings()
        serviceSettingsCache[account] = settings
        return settings
    }

    func setServiceSettings(_ account: String, _ settings: ServiceSettings) throws {
        try store.put(Self.key(account), encode(settings), in: Self.accounts)
        serviceSettingsCache[account] = settings
    }

    // MARK: Containers

    func container(_ account: String, _ name: String) throws -> ContainerRecord? {
        try decode(ContainerRecord.self, store.get(Self.key(account, name), in: Self.containers))
    }

    func createContainer(_ account: String, _ name: String, metadata: [String: String]) throws -> ContainerRecord {
        if try container(account, name) != nil { throw BlobServiceError.containerAlreadyExists() }
        let stamp = nextStamp()
        let record = ContainerRecord(name: name, etag: stamp.etag, lastModified: stamp.date, metadata: metadata)
        try store.put(Self.key(account, name), encode(record), in: Self.containers)
        return record
    }

    func setContainerMetadata(
        _ account: String, _ name: String, metadata: [String: String], leaseID: String?
    ) throws -> ContainerRecord {
        guard var record = try container(account, name) else { throw BlobServiceError.containerNotFound() }
        try LeaseRules.checkAccess(record.lease, requestLeaseID: leaseID, now: clock(), resource: .container, requireLeaseID: false)
        let stamp = nextStamp()
        record.metadata = metadata
        record.etag = stamp.etag
        record.lastModified = stamp.date
        try store.put(Self.key(account, name), encode(record), in: Self.containers)
        return record
    }

    func leaseContainer(
        _ account: String, _ name: String, action: LeaseAction, check: @Sendable (ContainerRecord) throws -> Void
    ) throws -> (ContainerRecord, LeaseOutcome) {
        guard var record = try container(account, name) else { throw BlobServiceError.containerNotFound() }
        try check(record)
        let outcome = try LeaseRules.apply(action, to: record.lease, now: clock(), resource: .container)
        record.lease = outcome.lease
        try store.put(Self.key(account, name), encode(record), in: Self.containers)
        return (record, outcome)
    }

    func deleteContainer(
        _ account: String, _ name: String, leaseID: String?, check: @Sendable (ContainerRecord) throws -> Void = { _ in }
    ) async throws {
        guard let record = try container(account, name) else { throw BlobServiceError.containerNotFound() }
        try LeaseRules.checkAccess(record.lease, requestLeaseID: leaseID, now: clock(), resource: .container, requireLeaseID: true)
        try check(record)
        var files: [String] = []
        let prefix = KeyRange.prefix(Self.key(account, name))
        for try await entry in store.scan(prefix, in: Self.blobs) {
            if let blob = try decode(BlobRecord.self, entry.value) {
                files += blob.parts.map(\.file) + blob.committedBlocks.map(\.part.file)
            }
        }
        for try await entry in store.scan(prefix, in: Self.blocks) {
            if let block = try decode(BlockRecord.self, entry.value) { files.append(block.part.file) }
        }
        var batch = WriteBatch()
        batch.delete(Self.key(account, name), in: Self.containers)
        if let upper = prefix.upper, let lower = prefix.lower {
            batch.deleteRange(from: lower, to: upper, in: Self.blobs)
            batch.deleteRange(from: lower, to: upper, in: Self.blocks)
        }
        try store.write(batch)
        removeFiles(Set(files))
    }

    /// Containers of `account` whose names start with `prefix`, from `marker` on, at most `limit` of them.
    func listContainers(_ account: String, prefix: String, marker: String?, limit: Int) async throws -> (
        [ContainerRecord], next: String?
    ) {
        let namePrefix = MetadataKey.prefix([account], partial: prefix)
        var lower = namePrefix
        if let marker, marker > prefix { lower = Self.key(account, marker) }
        let range = KeyRange(lower: lower, upper: KeyRange.prefix(namePrefix).upper)
        var records: [ContainerRecord] = []
        for try await entry in store.scan(range, in: Self.containers) {
            guard let record = try decode(ContainerRecord.self, entry.value) else { continue }
            if records.count == limit { return (records, record.name) }
            records.append(record)
        }
        return (records, nil)
    }

    // MARK: Blobs

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

    private func requireContainer(_ account: String, _ container: String) throws {
        guard try self.container(account, container) != nil else { throw BlobServiceError.containerNotFound() }
    }

    private func checkLease(_ record: BlobRecord?, _ leaseID: String?, requireLeaseID: Bool = true) throws {
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
    private func write(
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

    private static func files(of record: BlobRecord) -> Set<String> {
        Set(record.parts.map(\.file)).union(record.committedBlocks.map(\.part.file))
    }

    private func deleteStagedBlocks(_ account: String, _ container: String, _ name: String, in batch: inout WriteBatch) {
        let blockPrefix = KeyRange.prefix(Self.key(account, container, name))
        if let lower = blockPrefix.lower, let upper = blockPrefix.upper {
            batch.deleteRange(from: lower, to: upper, in: Self.blocks)
        }
    }

    /// Deletes those of `candidates` that no entry of blob `name` (current, versions, soft-deleted, staged
    /// blocks) references. Versions and blocks of one name share data files; no other name does.
    private func collectGarbage(_ account: String, _ container: String, _ name: String, candidates: Set<String>) throws {
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
        guard let existing = try blob(account, container, name) else { throw BlobServiceError.blobNotFound() }
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
        guard var record = try blob(account, container, name) else { throw BlobServiceError.blobNotFound() }
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
        guard var record = try blob(account, container, name) else { throw BlobServiceError.blobNotFound() }
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
                throw BlobServiceError.blobNotFound()
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
        guard let record = current else { throw BlobServiceError.blobNotFound() }
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
            throw BlobServiceError.blobNotFound()
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

    private func isExpired(_ record: BlobRecord) -> Bool {
        guard let purge = purgeTime(of: record) else { return false }
        return clock() >= purge
    }

    /// One entry of a blob listing: a blob (current, a previous version, or soft-deleted), or a virtual
    /// directory when a delimiter is given.
    enum ListingEntry {
        case blob(BlobRecord, kind: ListingKind)
        case prefix(String)
    }

    enum ListingKind { case current, version, deleted, deletedVersion }

    /// What a listing shows besides current blobs.
    struct ListingInclude {
        var versions = false
        var deleted = false
    }

    /// List Blobs. Pages end between names, so with `include=versions` a page holds every version of its
    /// last name and may be longer than `limit`.
    func listBlobs(
        _ account: String, _ container: String, prefix: String, delimiter: String?, marker: String?, limit: Int,
        include: ListingInclude = ListingInclude()
    ) async throws -> ([ListingEntry], next: String?) {
        try requireContainer(account, container)
        let namePrefix = MetadataKey.prefix([account, container], partial: prefix)
        var lower = namePrefix
        if let marker, marker > prefix { lower = Self.key(account, container, marker) }
        let range = KeyRange(lower: lower, upper: KeyRange.prefix(namePrefix).upper)
        var entries: [ListingEntry] = []
        var lastPrefix: String?
        var groupName: String?
        var group: [(BlobRecord, ListingKind)] = []

        // Returns the next marker when the page is full before `name`.
        func flush() -> String? {
            guard let name = groupName else { return nil }
            defer { group = [] }
            var visible: [(BlobRecord, ListingKind)] = []
            for (record, kind) in group {
                switch kind {
                case .current: visible.append((record, kind))
                case .version: if include.versions { visible.append((record, kind)) }
                case .deleted, .deletedVersion: if include.deleted && !isExpired(record) { visible.append((record, kind)) }
                }
            }
            guard !visible.isEmpty else { return nil }
            if let lastPrefix, name.hasPrefix(lastPrefix) { return nil }
            if entries.count >= limit { return name }
            if let delimiter, !delimiter.isEmpty, let range = name.dropFirst(prefix.count).range(of: delimiter) {
                let directory = String(name[..<range.upperBound])
                entries.append(.prefix(directory))
                lastPrefix = directory
                return nil
            }
            // Versions oldest first with the current version in its place; the soft-deleted blob last.
            visible.sort { a, b in
                if (a.1 == .deleted) != (b.1 == .deleted) { return b.1 == .deleted }
                return (a.0.versionID ?? "") < (b.0.versionID ?? "")
            }
            for (record, kind) in visible { entries.append(.blob(record, kind: kind)) }
            return nil
        }

        for try await entry in store.scan(range, in: Self.blobs) {
            let parts = Self.parts(of: entry.key)
            guard parts.count >= 3, let record = try decode(BlobRecord.self, entry.value) else { continue }
            var kind: ListingKind = parts.count == 3 ? .current : (parts[3] == "d" ? .deleted : .version)
            if kind == .version && record.deletedTime != nil {
                // A soft-deleted version shows only when both versions and deleted blobs are asked for.
                guard include.versions else { continue }
                kind = .deletedVersion
            }
            if parts[2] != groupName {
                if let next = flush() { return (entries, next) }
                groupName = parts[2]
            }
            group.append((record, kind))
        }
        if let next = flush() { return (entries, next) }
        return (entries, nil)
    }

    // MARK: Blocks

    func uncommittedBlocks(_ account: String, _ container: String, _ blob: String) throws -> [BlockRecord] {
        try store.withCursor(.prefix(Self.key(account, container, blob)), in: Self.blocks) { cursor in
            var blocks: [BlockRecord] = []
            while let entry = try cursor.next() {
                if let block = try decode(BlockRecord.self, entry.value) { blocks.append(block) }
            }
            return blocks
        }
    }

    func stageBlock(_ account: String, _ container: String, _ blob: String, block: BlockRecord, leaseID: String?) throws {
        try requireContainer(account, container)
        let current = try self.blob(account, container, blob)
        try checkLease(current, leaseID)
        let staged = try uncommittedBlocks(account, container, blob)
        let committed = current?.committedBlocks ?? []
        // Azure requires every block id of a blob to have the same length.
        if let other = (staged.first ?? committed.first), other.id.count != block.id.count {
            throw BlobServiceError.invalidBlobOrBlock()
        }
        var block = block
        block.staged = clock()
        let key = Self.key(account, container, blob, block.id)
        let replaced = try decode(BlockRecord.self, store.get(key, in: Self.blocks))
        try store.put(key, encode(block), in: Self.blocks)
        if let replaced { try collectGarbage(account, container, blob, candidates: [replaced.part.file]) }
    }

    func commitBlockList(
        _ account: String, _ container: String, _ name: String, list: RequestedBlockList,
        properties: BlobHTTPProperties, metadata: [String: String], leaseID: String?,
        check: @Sendable (BlobRecord?) throws -> Void
    ) throws -> BlobRecord {
        try requireContainer(account, container)
        let existing = try blob(account, container, name)
        try checkLease(existing, leaseID)
        try check(existing)
        let staged = Dictionary(try uncommittedBlocks(account, container, name).map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        let committed = Dictionary((existing?.committedBlocks ?? []).map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        var blocks: [BlockRecord] = []
        for (source, id) in list.blocks {
            let block: BlockRecord?
            switch source {
            case .committed: block = committed[id]
            case .uncommitted: block = staged[id]
            case .latest: block = staged[id] ?? committed[id]
            }
            guard var block else { throw BlobServiceError.invalidBlockList() }
            block.staged = nil
            blocks.append(block)
        }
        let stamp = nextStamp()
        let record = BlobRecord(
            name: name, created: existing?.created ?? stamp.date, lastModified: stamp.date, etag: stamp.etag,
            properties: properties, metadata: metadata, parts: blocks.map(\.part), committedBlocks: blocks,
            lease: existing?.lease, versionID: versionedAccounts.contains(account) ? stamp.versionID : nil)
        try write(account, container, existing: existing, with: record, newVersion: true, dropStagedBlocks: true)
        return record
    }

    // MARK: Maintenance

    /// What one ``sweep()`` removed.
    struct SweepReport: Equatable {
        /// Blobs whose uncommitted blocks were discarded.
        var discardedBlockLists = 0
        var discardedBlocks = 0
        /// Soft-deleted blobs past their retention.
        var purgedBlobs = 0
    }

    /// Discards the uncommitted blocks of every blob with no Put Block for ``uncommittedBlockLifetime`` and
    /// purges soft-deleted blobs whose retention has passed. Run at startup and periodically.
    func sweep() async throws -> SweepReport {
        let now = clock()
        var report = SweepReport()
        // Latest Put Block per blob (account, container, name).
        var lastStaged: [[String]: Date] = [:]
        var unstamped: [([UInt8], BlockRecord)] = []
        for try await entry in store.scan(.all, in: Self.blocks) {
            let parts = Self.parts(of: entry.key)
            guard parts.count == 4, let block = try decode(BlockRecord.self, entry.value) else { continue }
            let blob = Array(parts.prefix(3))
            guard let staged = block.staged else {
                // Written before staging times were kept: the week starts now.
                var stamped = block
                stamped.staged = now
                unstamped.append((entry.key, stamped))
                lastStaged[blob] = max(lastStaged[blob] ?? now, now)
                continue
            }
            lastStaged[blob] = max(lastStaged[blob] ?? staged, staged)
        }
        for (key, block) in unstamped { try store.put(key, encode(block), in: Self.blocks) }
        for (blob, last) in lastStaged.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) })
        where now.timeIntervalSince(last) >= Self.uncommittedBlockLifetime {
            let blocks = try uncommittedBlocks(blob[0], blob[1], blob[2])
            var batch = WriteBatch()
            deleteStagedBlocks(blob[0], blob[1], blob[2], in: &batch)
            try store.write(batch)
            try collectGarbage(blob[0], blob[1], blob[2], candidates: Set(blocks.map(\.part.file)))
            report.discardedBlockLists += 1
            report.discardedBlocks += blocks.count
        }

        var expired: [(key: [UInt8], parts: [String], record: BlobRecord)] = []
        for try await entry in store.scan(.all, in: Self.blobs) {
            let parts = Self.parts(of: entry.key)
            guard (parts.count == 4 && parts[3] == "d") || (parts.count == 5 && parts[3] == "v"),
                let record = try decode(BlobRecord.self, entry.value)
            else { continue }
            if let purge = purgeTime(of: record), now >= purge { expired.append((entry.key, parts, record)) }
        }
        for item in expired {
            try store.delete(item.key, in: Self.blobs)
            try collectGarbage(item.parts[0], item.parts[1], item.parts[2], candidates: Self.files(of: item.record))
            report.purgedBlobs += 1
        }
        return report
    }

    // MARK: Files

    /// A new, unique data file path (relative to the files directory).
    nonisolated func newDataFile() -> String {
        UUID().uuidString.lowercased()
    }

    nonisolated func path(of file: String) -> String { filesDirectory + "/" + file }

    private func removeFiles(_ files: Set<String>) {
        for file in files { try? FileManager.default.removeItem(atPath: path(of: file)) }
    }
}

/// An account's Blob service properties as Set Blob Service Properties left them: each top-level section of
/// the XML as sent, and the delete retention policy the emulator acts on.
struct ServiceSettings: Codable, Sendable, Equatable {
    /// Serialised XML of each section (`Logging`, `Cors`, …) that a Set request contained.
    var sections: [String: String] = [:]
    /// Days soft-deleted blobs are kept; nil when blob soft delete is off.
    var deleteRetentionDays: Int?
}
