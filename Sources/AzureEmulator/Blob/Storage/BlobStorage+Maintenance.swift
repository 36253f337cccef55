import Foundation
import KumoKV

/// The maintenance sweep: expired uncommitted blocks and soft-deleted blobs past their retention.
extension BlobStorage {
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
}
