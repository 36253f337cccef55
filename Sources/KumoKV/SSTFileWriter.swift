import CRocksDB
import Foundation

/// Writes an external SST file that ``Store/ingest(_:into:moveFiles:)`` can add to a store, for bulk loads
/// and restores. Keys must be added in strictly ascending byte-wise order.
public final class SSTFileWriter {
    /// The file being written.
    public let path: String
    private let options: RocksOptions
    private let environmentOptions: OpaquePointer
    private var writer: OpaquePointer?
    private var lastKey: [UInt8]?
    private var entries: UInt64 = 0

    /// Creates (or truncates) the SST file at `path`, using `options` for compression and block settings.
    public init(path: String, options: StoreOptions = StoreOptions()) throws {
        self.path = path
        self.options = RocksOptions(options)
        environmentOptions = rocksdb_envoptions_create()
        let writer = rocksdb_sstfilewriter_create(environmentOptions, self.options.pointer)
        do {
            try rocksCall("cannot open SST file \(path) for writing") { rocksdb_sstfilewriter_open(writer, path, $0) }
        } catch {
            rocksdb_sstfilewriter_destroy(writer)
            rocksdb_envoptions_destroy(environmentOptions)
            throw error
        }
        self.writer = writer
    }

    deinit {
        if let writer { rocksdb_sstfilewriter_destroy(writer) }
        rocksdb_envoptions_destroy(environmentOptions)
    }

    private func checkOrder(_ key: [UInt8]) throws -> OpaquePointer {
        guard let writer else { throw KVError(.closed, "SST file \(path) is already finished") }
        if let lastKey, !lastKey.lexicographicallyPrecedes(key) {
            throw KVError(
                .keyOrder,
                "key \(hex(key)) added to \(path) after \(hex(lastKey)): SST keys must be strictly ascending")
        }
        return writer
    }

    private func hex(_ bytes: [UInt8]) -> String {
        let shown = bytes.prefix(32).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        return "0x" + shown + (bytes.count > 32 ? "…" : "")
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        let writer = try checkOrder(key)
        try key.withCChars { keyPointer, keyLength in
            try value.withCChars { valuePointer, valueLength in
                try rocksCall("cannot add to SST file \(path)") {
                    rocksdb_sstfilewriter_put(writer, keyPointer, keyLength, valuePointer, valueLength, $0)
                }
            }
        }
        lastKey = key
        entries += 1
    }

    /// Records a deletion of `key`, which hides that key in lower levels once ingested.
    public func delete(_ key: [UInt8]) throws {
        let writer = try checkOrder(key)
        try key.withCChars { keyPointer, keyLength in
            try rocksCall("cannot add to SST file \(path)") {
                rocksdb_sstfilewriter_delete(writer, keyPointer, keyLength, $0)
            }
        }
        lastKey = key
        entries += 1
    }

    /// Finishes the file. The writer cannot be used afterwards.
    /// - Returns: the file's size in bytes and number of entries.
    @discardableResult
    public func finish() throws -> (size: UInt64, entries: UInt64) {
        guard let writer else { throw KVError(.closed, "SST file \(path) is already finished") }
        guard entries > 0 else { throw KVError(.invalidArgument, "cannot finish SST file \(path): it has no entries") }
        try rocksCall("cannot finish SST file \(path)") { rocksdb_sstfilewriter_finish(writer, $0) }
        var size: UInt64 = 0
        rocksdb_sstfilewriter_file_size(writer, &size)
        rocksdb_sstfilewriter_destroy(writer)
        self.writer = nil
        return (size, entries)
    }
}

extension Store {
    /// Adds external SST files (from ``SSTFileWriter``) to `family` atomically.
    ///
    /// With `moveFiles`, files are hard-linked (moved) into the database instead of copied.
    public func ingest(_ files: [String], into family: ColumnFamily = .default, moveFiles: Bool = false) async throws {
        guard !files.isEmpty else { return }
        try await BlockingIO.run {
            let options = rocksdb_ingestexternalfileoptions_create()
            defer { rocksdb_ingestexternalfileoptions_destroy(options) }
            rocksdb_ingestexternalfileoptions_set_move_files(options, moveFiles ? 1 : 0)
            let cFiles = files.map { strdup($0) }
            defer { cFiles.forEach { free($0) } }
            try self.withFamily(family) { db, cf in
                try cFiles.map { UnsafePointer($0) }.withUnsafeBufferPointer { pointers in
                    try rocksCall("cannot ingest \(files.joined(separator: ", ")) into '\(family.name)'") {
                        rocksdb_ingest_external_file_cf(db, cf, pointers.baseAddress, files.count, options, $0)
                    }
                }
            }
        }
    }
}
