import Foundation
import KumoKV

/// Uncommitted blocks (Put Block) and committing a block list (Put Block List).
extension BlobStorage {
    /// Azure keeps at most this many uncommitted blocks per blob.
    static let maxUncommittedBlocks = 100_000

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
        // Azure requires the uncommitted block ids of a blob to share one length; once a list is committed (and
        // the uncommitted blocks are gone) a new length may start.
        if let other = staged.first, other.id.count != block.id.count {
            throw EmulatorError.invalidBlobOrBlock()
        }
        if staged.count >= Self.maxUncommittedBlocks, !staged.contains(where: { $0.id == block.id }) {
            throw EmulatorError.blockCountExceedsLimit()
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
            guard var block else { throw EmulatorError.invalidBlockList() }
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
}
