import CRocksDB
import Foundation

/// One live SST file, as RocksDB's metadata describes it.
///
/// RocksDB's C API does not expose an SST file's sequence number range, so it is not reported here.
public struct LiveFile: Sendable, Hashable, Codable {
    /// The file name relative to the database directory, e.g. `000012.sst`.
    public var name: String
    public var columnFamily: String
    /// The LSM level (0 is the newest data).
    public var level: Int
    public var size: UInt64
    public var smallestKey: [UInt8]
    public var largestKey: [UInt8]
    /// Number of entries, including deletions.
    public var entries: UInt64
    public var deletions: UInt64
}

/// A file of the database directory and the length that belongs to a consistent copy of it.
public struct DatabaseFile: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        case sst, manifest, current, options, wal
    }
    /// The file name relative to the database directory.
    public var name: String
    public var kind: Kind
    /// Copy exactly this many bytes: MANIFEST and WAL files keep growing while the store runs.
    public var size: UInt64
}

/// Every file that makes up a consistent copy of the database, as captured by
/// ``Store/withFileDeletionsDisabled(flush:_:)``.
public struct LiveFileSet: Sendable, Hashable {
    public var sstFiles: [LiveFile]
    public var files: [DatabaseFile]
    /// The latest sequence number when the set was captured.
    public var sequenceNumber: UInt64
}

extension Store {
    /// Every live SST file of every column family.
    public func liveFiles() throws -> [LiveFile] {
        try withDatabase { db in
            guard let files = rocksdb_livefiles(db) else { return [] }
            defer { rocksdb_livefiles_destroy(files) }
            return (0..<rocksdb_livefiles_count(files)).map { index in
                var smallestLength = 0
                var largestLength = 0
                let smallest = rocksdb_livefiles_smallestkey(files, index, &smallestLength)
                let largest = rocksdb_livefiles_largestkey(files, index, &largestLength)
                let name = String(cString: rocksdb_livefiles_name(files, index))
                return LiveFile(
                    name: name.hasPrefix("/") ? String(name.dropFirst()) : name,
                    columnFamily: String(cString: rocksdb_livefiles_column_family_name(files, index)),
                    level: Int(rocksdb_livefiles_level(files, index)),
                    size: UInt64(rocksdb_livefiles_size(files, index)),
                    smallestKey: [UInt8](copying: smallest, length: smallestLength),
                    largestKey: [UInt8](copying: largest, length: largestLength),
                    entries: rocksdb_livefiles_entries(files, index),
                    deletions: rocksdb_livefiles_deletions(files, index))
            }
        }
    }

    /// Stops RocksDB from deleting obsolete files while `body` runs, and hands it the set of files that
    /// form a consistent copy of the database: SSTs, CURRENT, the MANIFEST and OPTIONS files, and WAL files,
    /// each with the length to copy.
    ///
    /// Files in the set are not deleted until `body` returns, even if compaction replaces them, so `body`
    /// can copy them at leisure. With `flush`, memtables are written out first so the WAL part is small.
    public func withFileDeletionsDisabled<T: Sendable>(
        flush: Bool = false, _ body: (LiveFileSet) async throws -> T
    ) async throws -> T {
        if flush { try await self.flush() }
        try withDatabase { db in
            try rocksCall("cannot pause file deletions in \(path)") { rocksdb_disable_file_deletions(db, $0) }
        }
        defer {
            // force = 0 undoes only this call's pause; other pauses stay in force.
            try? withDatabase { db in try rocksCall { rocksdb_enable_file_deletions(db, 0, $0) } }
        }
        let set = try captureLiveFileSet()
        return try await body(set)
    }

    private func captureLiveFileSet() throws -> LiveFileSet {
        try flushWAL(sync: true)
        let sequence = try latestSequenceNumber
        let ssts = try liveFiles()
        let directory = URL(fileURLWithPath: path)
        func size(_ name: String) throws -> UInt64 {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
            return (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        }
        let current = try String(contentsOf: directory.appendingPathComponent("CURRENT"), encoding: .utf8)
        let manifest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        guard manifest.hasPrefix("MANIFEST-") else {
            throw KVError(.corruption, "CURRENT in \(path) does not name a MANIFEST file: \(current.prefix(64))")
        }
        var files = ssts.map { DatabaseFile(name: $0.name, kind: .sst, size: $0.size) }
        files.append(DatabaseFile(name: "CURRENT", kind: .current, size: try size("CURRENT")))
        files.append(DatabaseFile(name: manifest, kind: .manifest, size: try size(manifest)))
        let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        if let options = names.filter({ $0.hasPrefix("OPTIONS-") }).max(by: { fileNumber($0) < fileNumber($1) }) {
            files.append(DatabaseFile(name: options, kind: .options, size: try size(options)))
        }
        for name in names where name.hasSuffix(".log") {
            files.append(DatabaseFile(name: name, kind: .wal, size: try size(name)))
        }
        return LiveFileSet(sstFiles: ssts, files: files, sequenceNumber: sequence)
    }

    private func fileNumber(_ name: String) -> UInt64 {
        UInt64(name.split(separator: "-").last.map(String.init) ?? "") ?? 0
    }
}
