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
    let store: Store
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

    struct Stamp {
        var etag: String
        var date: Date
        var versionID: String
    }

    func nextStamp() -> Stamp {
        let tick = nextTick()
        return Stamp(
            etag: "\"0x\(String(tick, radix: 16, uppercase: true))\"",
            date: Date(timeIntervalSince1970: TimeInterval(tick) / 10_000_000),
            versionID: HTTPDate.iso8601(ticks: tick))
    }

    /// A fresh, strictly increasing ETag in Azure's `"0x…"` form.
    func nextETag() -> String { nextStamp().etag }

    // MARK: Keys

    static func key(_ parts: String...) -> [UInt8] { key(parts) }

    static func key(_ parts: [String]) -> [UInt8] { MetadataKey.encode(parts) }

    /// The tuple of a stored key; an entry whose key is not well-formed has none and is skipped.
    static func parts(of key: [UInt8]) -> [String] { MetadataKey.decode(key) ?? [] }

    static func versionKey(_ account: String, _ container: String, _ name: String, _ version: String) -> [UInt8] {
        key(account, container, name, "v", version)
    }

    static func deletedKey(_ account: String, _ container: String, _ name: String) -> [UInt8] {
        key(account, container, name, "d")
    }

    func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]?) throws -> T? {
        guard let bytes else { return nil }
        return try JSONDecoder().decode(type, from: Data(bytes))
    }

    func encode(_ value: some Encodable) throws -> [UInt8] {
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
        if try container(account, name) != nil { throw EmulatorError.containerAlreadyExists() }
        let stamp = nextStamp()
        let record = ContainerRecord(name: name, etag: stamp.etag, lastModified: stamp.date, metadata: metadata)
        try store.put(Self.key(account, name), encode(record), in: Self.containers)
        return record
    }

    func setContainerMetadata(
        _ account: String, _ name: String, metadata: [String: String], leaseID: String?
    ) throws -> ContainerRecord {
        guard var record = try container(account, name) else { throw EmulatorError.containerNotFound() }
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
        guard var record = try container(account, name) else { throw EmulatorError.containerNotFound() }
        try check(record)
        let outcome = try LeaseRules.apply(action, to: record.lease, now: clock(), resource: .container)
        record.lease = outcome.lease
        try store.put(Self.key(account, name), encode(record), in: Self.containers)
        return (record, outcome)
    }

    func deleteContainer(
        _ account: String, _ name: String, leaseID: String?, check: @Sendable (ContainerRecord) throws -> Void = { _ in }
    ) async throws {
        guard let record = try container(account, name) else { throw EmulatorError.containerNotFound() }
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

    // MARK: Files

    /// A new, unique data file path (relative to the files directory).
    nonisolated func newDataFile() -> String {
        UUID().uuidString.lowercased()
    }

    nonisolated func path(of file: String) -> String { filesDirectory + "/" + file }

    func removeFiles(_ files: Set<String>) {
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
