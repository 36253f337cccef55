import CRocksDB
import Foundation

/// What ``Store/checkpoint(to:)`` produced.
public struct CheckpointInfo: Sendable, Equatable {
    /// The checkpoint directory, a complete database that RocksDB can open.
    public var path: String
    /// The sequence number of the last write the checkpoint contains.
    public var sequenceNumber: UInt64
}

/// Figures RocksDB reports about one column family.
public struct ColumnFamilyStatistics: Sendable, Equatable, Codable {
    public var name: String
    public var estimatedKeys: UInt64
    public var liveSSTBytes: UInt64
    public var memtableBytes: UInt64
    public var sstFileCount: Int
    /// SST files per LSM level, index 0 being L0.
    public var filesPerLevel: [Int]
}

/// Figures RocksDB reports about a store.
public struct StoreStatistics: Sendable, Equatable, Codable {
    public var path: String
    public var latestSequenceNumber: UInt64
    public var columnFamilies: [ColumnFamilyStatistics]
}

extension Store {
    /// Writes the memtables of `family` (every family when `nil`) to SST files and waits for it.
    public func flush(_ family: ColumnFamily? = nil) async throws {
        let targets = family.map { [$0] } ?? columnFamilies
        try await BlockingIO.run {
            let flushOptions = rocksdb_flushoptions_create()
            defer { rocksdb_flushoptions_destroy(flushOptions) }
            rocksdb_flushoptions_set_wait(flushOptions, 1)
            for target in targets {
                try self.withFamily(target) { db, cf in
                    try rocksCall("flush of column family '\(target.name)' failed") {
                        rocksdb_flush_cf(db, flushOptions, cf, $0)
                    }
                }
            }
        }
    }

    /// Writes buffered write-ahead log data to the file, and to stable storage when `sync` is set.
    public func flushWAL(sync: Bool = true) throws {
        try withDatabase { db in
            try rocksCall("flushing the write-ahead log failed") { rocksdb_flush_wal(db, sync ? 1 : 0, $0) }
        }
    }

    /// Compacts the SST files holding `range` of `family`, dropping deleted and overwritten entries.
    public func compactRange(_ range: KeyRange = .all, in family: ColumnFamily = .default) async throws {
        try await BlockingIO.run {
            try self.withFamily(family) { db, cf in
                let lower = range.lower ?? []
                let upper = range.upper ?? []
                lower.withCChars { lowerPointer, lowerLength in
                    upper.withCChars { upperPointer, upperLength in
                        rocksdb_compact_range_cf(
                            db, cf, range.lower == nil ? nil : lowerPointer, lowerLength,
                            range.upper == nil ? nil : upperPointer, upperLength)
                    }
                }
            }
        }
    }

    /// Creates a checkpoint: a consistent, openable copy of the database in `directory`, made of hard links
    /// to the immutable SST files where the file system allows, and copies of the rest.
    ///
    /// - Throws: `.invalidArgument` when `directory` already exists.
    public func checkpoint(to directory: String) async throws -> CheckpointInfo {
        if FileManager.default.fileExists(atPath: directory) {
            throw KVError(.invalidArgument, "cannot create a checkpoint in \(directory): it already exists")
        }
        try await BlockingIO.run {
            try self.withDatabase { db in
                let checkpoint = try rocksCall("cannot create a checkpoint of \(self.path)") {
                    rocksdb_checkpoint_object_create(db, $0)
                }
                defer { rocksdb_checkpoint_object_destroy(checkpoint) }
                // A log size of 0 flushes the memtables first, so the checkpoint needs no WAL replay.
                try rocksCall("cannot create a checkpoint in \(directory)") {
                    rocksdb_checkpoint_create(checkpoint, directory, 0, $0)
                }
            }
        }
        // RocksDB's C API does not return the checkpoint's sequence number; the checkpoint knows it.
        let sequence = try await BlockingIO.run { try Store.latestSequenceNumber(ofDatabaseAt: directory) }
        return CheckpointInfo(path: directory, sequenceNumber: sequence)
    }

    /// The latest sequence number of a database that is not open, read by opening it read-only.
    public static func latestSequenceNumber(ofDatabaseAt path: String) throws -> UInt64 {
        let options = RocksOptions(StoreOptions())
        let names = try columnFamilies(at: path)
        guard !names.isEmpty else { throw KVError(.notFound, "no database at \(path)") }
        let (db, handles) = try openColumnFamilies(at: path, names: names, options: options, readOnly: true)
        defer {
            handles.compactMap { $0 }.forEach { rocksdb_column_family_handle_destroy($0) }
            rocksdb_close(db)
        }
        return rocksdb_get_latest_sequence_number(db)
    }

    /// A RocksDB property (for example `rocksdb.estimate-num-keys` or `rocksdb.stats`) of `family`, or `nil`
    /// when RocksDB does not know the name.
    public func property(_ name: String, in family: ColumnFamily = .default) throws -> String? {
        try withFamily(family) { db, cf in takeRocksString(rocksdb_property_value_cf(db, cf, name)) }
    }

    /// Key counts, sizes and file layout per column family.
    public func statistics() throws -> StoreStatistics {
        let files = try liveFiles()
        let sequence = try latestSequenceNumber
        let stats = try columnFamilies.map { family -> ColumnFamilyStatistics in
            func number(_ property: String) throws -> UInt64 {
                UInt64(try self.property(property, in: family) ?? "") ?? 0
            }
            let familyFiles = files.filter { $0.columnFamily == family.name }
            let deepest = familyFiles.map(\.level).max() ?? -1
            var perLevel = [Int](repeating: 0, count: deepest + 1)
            for file in familyFiles { perLevel[file.level] += 1 }
            return ColumnFamilyStatistics(
                name: family.name,
                estimatedKeys: try number("rocksdb.estimate-num-keys"),
                liveSSTBytes: try number("rocksdb.live-sst-files-size"),
                memtableBytes: try number("rocksdb.cur-size-all-mem-tables"),
                sstFileCount: familyFiles.count,
                filesPerLevel: perLevel)
        }
        return StoreStatistics(path: path, latestSequenceNumber: sequence, columnFamilies: stats)
    }
}
