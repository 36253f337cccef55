import Foundation
import KumoKV

/// The emulator's persistent state: metadata in a KumoKV store (`<data>/metadata`), blob and block content
/// in files (`<data>/files`). One actor serialises every metadata change, so each operation is atomic.
actor BlobStorage {
    let dataDirectory: String
    let filesDirectory: String
    private let store: Store
    private var lastETagTick: UInt64 = 0

    static let containers: ColumnFamily = "containers"
    static let blobs: ColumnFamily = "blobs"
    static let blocks: ColumnFamily = "uncommitted-blocks"

    init(dataDirectory: String) async throws {
        self.dataDirectory = dataDirectory
        filesDirectory = dataDirectory + "/files"
        try FileManager.default.createDirectory(atPath: filesDirectory, withIntermediateDirectories: true)
        var options = StoreOptions()
        options.columnFamilies = [Self.containers.name, Self.blobs.name, Self.blocks.name]
        options.walRetention = .none
        store = try await Store.open(at: dataDirectory + "/metadata", options: options)
    }

    /// A fresh, strictly increasing ETag in Azure's `"0x…"` form.
    func nextETag() -> String {
        let tick = UInt64(Date().timeIntervalSince1970 * 10_000_000)
        lastETagTick = max(tick, lastETagTick + 1)
        return "\"0x\(String(lastETagTick, radix: 16, uppercase: true))\""
    }

    // MARK: Keys

    private static func key(_ parts: String...) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, part) in parts.enumerated() {
            if index > 0 { bytes.append(0) }
            bytes.append(contentsOf: part.utf8)
        }
        return bytes
    }

    private func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]?) throws -> T? {
        guard let bytes else { return nil }
        return try JSONDecoder().decode(type, from: Data(bytes))
    }

    private func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    // MARK: Containers

    func container(_ account: String, _ name: String) throws -> ContainerRecord? {
        try decode(ContainerRecord.self, store.get(Self.key(account, name), in: Self.containers))
    }

    func createContainer(_ account: String, _ name: String, metadata: [String: String]) throws -> ContainerRecord {
        if try container(account, name) != nil { throw BlobServiceError.containerAlreadyExists() }
        let record = ContainerRecord(name: name, etag: nextETag(), lastModified: Date(), metadata: metadata)
        try store.put(Self.key(account, name), encode(record), in: Self.containers)
        return record
    }

    func setContainerMetadata(_ account: String, _ name: String, metadata: [String: String]) throws -> ContainerRecord {
        guard var record = try container(account, name) else { throw BlobServiceError.containerNotFound() }
        record.metadata = metadata
        record.etag = nextETag()
        record.lastModified = Date()
        try store.put(Self.key(account, name), encode(record), in: Self.containers)
        return record
    }

    func deleteContainer(_ account: String, _ name: String) async throws {
        guard try container(account, name) != nil else { throw BlobServiceError.containerNotFound() }
        var files: [String] = []
        let prefix = KeyRange.prefix(Self.key(account, name, ""))
        for try await entry in store.scan(prefix, in: Self.blobs) {
            if let blob = try decode(BlobRecord.self, entry.value) { files += blob.parts.map(\.file) }
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
        removeFiles(files)
    }

    /// Containers of `account` whose names start with `prefix`, from `marker` on, at most `limit` of them.
    func listContainers(_ account: String, prefix: String, marker: String?, limit: Int) async throws -> (
        [ContainerRecord], next: String?
    ) {
        var lower = Self.key(account, prefix)
        if let marker, marker > prefix { lower = Self.key(account, marker) }
        let range = KeyRange(lower: lower, upper: KeyRange.prefix(Self.key(account, prefix)).upper)
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

    private func requireContainer(_ account: String, _ container: String) throws {
        guard try self.container(account, container) != nil else { throw BlobServiceError.containerNotFound() }
    }

    /// Stores a blob written in one request (Put Blob). `check` sees the current blob first and may throw
    /// (conditional headers), so the check and the write happen atomically.
    func putBlob(
        _ account: String, _ container: String, _ name: String, part: DataPart, properties: BlobHTTPProperties,
        metadata: [String: String], check: @Sendable (BlobRecord?) throws -> Void
    ) throws -> BlobRecord {
        try requireContainer(account, container)
        let existing = try blob(account, container, name)
        try check(existing)
        let now = Date()
        let record = BlobRecord(
            name: name, created: existing?.created ?? now, lastModified: now, etag: nextETag(), properties: properties,
            metadata: metadata, parts: [part], committedBlocks: [])
        try replaceBlob(account, container, existing: existing, with: record, keepFiles: [part.file])
        return record
    }

    /// Writes `record`, drops the blob's uncommitted blocks, and deletes data files nothing references anymore.
    private func replaceBlob(
        _ account: String, _ container: String, existing: BlobRecord?, with record: BlobRecord, keepFiles: Set<String>
    ) throws {
        var obsolete = Set(existing?.parts.map(\.file) ?? [])
        obsolete.formUnion(existing?.committedBlocks.map(\.part.file) ?? [])
        let staged = try uncommittedBlocks(account, container, record.name)
        obsolete.formUnion(staged.map(\.part.file))
        obsolete.subtract(keepFiles)
        var batch = WriteBatch()
        batch.put(Self.key(account, container, record.name), try encode(record), in: Self.blobs)
        let blockPrefix = KeyRange.prefix(Self.key(account, container, record.name, ""))
        if let lower = blockPrefix.lower, let upper = blockPrefix.upper {
            batch.deleteRange(from: lower, to: upper, in: Self.blocks)
        }
        try store.write(batch)
        removeFiles(Array(obsolete))
    }

    func setBlobMetadata(
        _ account: String, _ container: String, _ name: String, metadata: [String: String],
        check: @Sendable (BlobRecord) throws -> Void
    ) throws -> BlobRecord {
        try requireContainer(account, container)
        guard var record = try blob(account, container, name) else { throw BlobServiceError.blobNotFound() }
        try check(record)
        record.metadata = metadata
        record.etag = nextETag()
        record.lastModified = Date()
        try store.put(Self.key(account, container, name), encode(record), in: Self.blobs)
        return record
    }

    func setBlobProperties(
        _ account: String, _ container: String, _ name: String, properties: BlobHTTPProperties,
        check: @Sendable (BlobRecord) throws -> Void
    ) throws -> BlobRecord {
        try requireContainer(account, container)
        guard var record = try blob(account, container, name) else { throw BlobServiceError.blobNotFound() }
        try check(record)
        record.properties = properties
        record.etag = nextETag()
        record.lastModified = Date()
        try store.put(Self.key(account, container, name), encode(record), in: Self.blobs)
        return record
    }

    func deleteBlob(_ account: String, _ container: String, _ name: String, check: @Sendable (BlobRecord) throws -> Void) throws {
        try requireContainer(account, container)
        guard let record = try blob(account, container, name) else { throw BlobServiceError.blobNotFound() }
        try check(record)
        let staged = try uncommittedBlocks(account, container, name)
        var files = Set(record.parts.map(\.file))
        files.formUnion(record.committedBlocks.map(\.part.file))
        files.formUnion(staged.map(\.part.file))
        var batch = WriteBatch()
        batch.delete(Self.key(account, container, name), in: Self.blobs)
        let blockPrefix = KeyRange.prefix(Self.key(account, container, name, ""))
        if let lower = blockPrefix.lower, let upper = blockPrefix.upper {
            batch.deleteRange(from: lower, to: upper, in: Self.blocks)
        }
        try store.write(batch)
        removeFiles(Array(files))
    }

    /// One entry of a blob listing: a blob, or a virtual directory when a delimiter is given.
    enum ListingEntry {
        case blob(BlobRecord)
        case prefix(String)
    }

    func listBlobs(
        _ account: String, _ container: String, prefix: String, delimiter: String?, marker: String?, limit: Int
    ) async throws -> ([ListingEntry], next: String?) {
        try requireContainer(account, container)
        var lower = Self.key(account, container, prefix)
        if let marker, marker > prefix { lower = Self.key(account, container, marker) }
        let range = KeyRange(lower: lower, upper: KeyRange.prefix(Self.key(account, container, prefix)).upper)
        var entries: [ListingEntry] = []
        var lastPrefix: String?
        for try await entry in store.scan(range, in: Self.blobs) {
            guard let record = try decode(BlobRecord.self, entry.value) else { continue }
            if let lastPrefix, record.name.hasPrefix(lastPrefix) { continue }
            if entries.count == limit { return (entries, record.name) }
            if let delimiter, !delimiter.isEmpty,
                let range = record.name.dropFirst(prefix.count).range(of: delimiter)
            {
                let directory = String(record.name[..<range.upperBound])
                entries.append(.prefix(directory))
                lastPrefix = directory
            } else {
                entries.append(.blob(record))
            }
        }
        return (entries, nil)
    }

    // MARK: Blocks

    func uncommittedBlocks(_ account: String, _ container: String, _ blob: String) throws -> [BlockRecord] {
        try store.withCursor(.prefix(Self.key(account, container, blob, "")), in: Self.blocks) { cursor in
            var blocks: [BlockRecord] = []
            while let entry = try cursor.next() {
                if let block = try decode(BlockRecord.self, entry.value) { blocks.append(block) }
            }
            return blocks
        }
    }

    func stageBlock(_ account: String, _ container: String, _ blob: String, block: BlockRecord) throws {
        try requireContainer(account, container)
        let staged = try uncommittedBlocks(account, container, blob)
        let committed = try self.blob(account, container, blob)?.committedBlocks ?? []
        // Azure requires every block id of a blob to have the same length.
        if let other = (staged.first ?? committed.first), other.id.count != block.id.count {
            throw BlobServiceError.invalidBlobOrBlock()
        }
        let key = Self.key(account, container, blob, block.id)
        let replaced = try decode(BlockRecord.self, store.get(key, in: Self.blocks))
        try store.put(key, encode(block), in: Self.blocks)
        if let replaced, !committed.contains(where: { $0.part.file == replaced.part.file }) {
            removeFiles([replaced.part.file])
        }
    }

    func commitBlockList(
        _ account: String, _ container: String, _ name: String, list: RequestedBlockList,
        properties: BlobHTTPProperties, metadata: [String: String], check: @Sendable (BlobRecord?) throws -> Void
    ) throws -> BlobRecord {
        try requireContainer(account, container)
        let existing = try blob(account, container, name)
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
            guard let block else { throw BlobServiceError.invalidBlockList() }
            blocks.append(block)
        }
        let now = Date()
        let record = BlobRecord(
            name: name, created: existing?.created ?? now, lastModified: now, etag: nextETag(), properties: properties,
            metadata: metadata, parts: blocks.map(\.part), committedBlocks: blocks)
        try replaceBlob(account, container, existing: existing, with: record, keepFiles: Set(blocks.map(\.part.file)))
        return record
    }

    // MARK: Files

    /// A new, unique data file path (relative to the files directory).
    nonisolated func newDataFile() -> String {
        UUID().uuidString.lowercased()
    }

    nonisolated func path(of file: String) -> String { filesDirectory + "/" + file }

    private func removeFiles(_ files: [String]) {
        for file in files { try? FileManager.default.removeItem(atPath: path(of: file)) }
    }
}
