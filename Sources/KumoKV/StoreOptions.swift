import CRocksDB

/// How a ``Store`` is opened. The defaults suit a service: create if missing, LZ4 compression where the
/// RocksDB build has it, and a write-ahead log kept for a day (or 1 GiB) so the change feed can resume.
public struct StoreOptions: Sendable, Equatable {
    /// Block compression for SST files.
    public enum Compression: String, Sendable, CaseIterable, Equatable {
        case none, snappy, zlib, bzip2, lz4, lz4hc, zstd

        var rocksValue: Int32 {
            switch self {
            case .none: Int32(rocksdb_no_compression)
            case .snappy: Int32(rocksdb_snappy_compression)
            case .zlib: Int32(rocksdb_zlib_compression)
            case .bzip2: Int32(rocksdb_bz2_compression)
            case .lz4: Int32(rocksdb_lz4_compression)
            case .lz4hc: Int32(rocksdb_lz4hc_compression)
            case .zstd: Int32(rocksdb_zstd_compression)
            }
        }
    }

    /// How long obsolete write-ahead log files stay in `archive/` after RocksDB no longer needs them.
    ///
    /// RocksDB deletes WAL files once their data is flushed. Readers of ``Store/changes(since:)`` need
    /// them longer; a file is kept until both limits allow its removal. Zero for both deletes at once.
    public struct WALRetention: Sendable, Equatable {
        public var ttlSeconds: UInt64
        public var sizeLimitMB: UInt64
        /// Archived files stay until ``Store/releaseWAL(through:)`` deletes them; RocksDB never does.
        public var keepsUntilReleased: Bool
        public init(ttlSeconds: UInt64, sizeLimitMB: UInt64) {
            self.ttlSeconds = ttlSeconds
            self.sizeLimitMB = sizeLimitMB
            keepsUntilReleased = false
        }
        /// Keep every obsolete WAL file in `archive/` until a change feed releases it (``Store/releaseWAL(through:)``).
        /// A store carrying a feed's mark (`KUMO-WAL-HOLD`, see ``Store/holdWAL(holder:)``) is opened this way
        /// whatever its options say.
        public static let untilReleased: WALRetention = {
            // RocksDB deletes archived files only past their TTL: a century is never.
            var retention = WALRetention(ttlSeconds: 100 * 365 * 86_400, sizeLimitMB: 0)
            retention.keepsUntilReleased = true
            return retention
        }()
        /// Keep archived WAL files for 24 hours, up to 1 GiB.
        public static let `default` = WALRetention(ttlSeconds: 86_400, sizeLimitMB: 1024)
        /// Delete WAL files as soon as RocksDB no longer needs them for recovery.
        public static let none = WALRetention(ttlSeconds: 0, sizeLimitMB: 0)
    }

    public var createIfMissing: Bool = true
    /// Fail to open when the database already exists.
    public var errorIfExists: Bool = false
    /// Column families to create if they do not exist yet. Existing ones are always opened.
    public var columnFamilies: [String] = []
    public var compression: Compression = .lz4
    /// Size of one memtable before it is flushed to an SST file.
    public var writeBufferSize: Int = 64 << 20
    public var maxWriteBufferNumber: Int32 = 2
    /// Upper bound on open file descriptors; -1 keeps every file open.
    public var maxOpenFiles: Int32 = -1
    /// LRU block cache capacity in bytes; `nil` keeps RocksDB's default (8 MiB).
    public var blockCacheBytes: Int? = nil
    /// Background flush and compaction threads.
    public var backgroundJobs: Int32 = 2
    public var walRetention: WALRetention = .default
    /// Check checksums of every block read from disk, not only those read by compaction.
    public var paranoidChecks: Bool = true
    /// How many RocksDB info log files (`LOG.old.*`) to keep in the database directory.
    public var keepLogFileCount: Int = 5

    public init() {}
}

/// Options for one write.
public struct WriteOptions: Sendable, Equatable {
    /// Wait for the write-ahead log to reach stable storage before returning.
    public var sync: Bool
    /// Skip the write-ahead log. Writes are lost on crash and do not appear in ``Store/changes(since:)``.
    public var disableWAL: Bool

    public init(sync: Bool = false, disableWAL: Bool = false) {
        self.sync = sync
        self.disableWAL = disableWAL
    }

    public static let `default` = WriteOptions()
    /// Durable: returns only once the write is on disk.
    public static let durable = WriteOptions(sync: true)
}

/// Owns a `rocksdb_options_t` built from ``StoreOptions``.
final class RocksOptions {
    let pointer: OpaquePointer
    private var cache: OpaquePointer?
    private var tableOptions: OpaquePointer?

    init(_ options: StoreOptions) {
        pointer = rocksdb_options_create()
        rocksdb_options_set_create_if_missing(pointer, options.createIfMissing ? 1 : 0)
        rocksdb_options_set_error_if_exists(pointer, options.errorIfExists ? 1 : 0)
        rocksdb_options_set_create_missing_column_families(pointer, 1)
        rocksdb_options_set_compression(pointer, options.compression.rocksValue)
        rocksdb_options_set_write_buffer_size(pointer, options.writeBufferSize)
        rocksdb_options_set_max_write_buffer_number(pointer, options.maxWriteBufferNumber)
        rocksdb_options_set_max_open_files(pointer, options.maxOpenFiles)
        rocksdb_options_set_max_background_jobs(pointer, options.backgroundJobs)
        rocksdb_options_set_WAL_ttl_seconds(pointer, options.walRetention.ttlSeconds)
        rocksdb_options_set_WAL_size_limit_MB(pointer, options.walRetention.sizeLimitMB)
        rocksdb_options_set_paranoid_checks(pointer, options.paranoidChecks ? 1 : 0)
        rocksdb_options_set_keep_log_file_num(pointer, options.keepLogFileCount)
        if let bytes = options.blockCacheBytes {
            let cache = rocksdb_cache_create_lru(bytes)
            let table = rocksdb_block_based_options_create()
            rocksdb_block_based_options_set_block_cache(table, cache)
            rocksdb_options_set_block_based_table_factory(pointer, table)
            self.cache = cache
            self.tableOptions = table
        }
    }

    deinit {
        rocksdb_options_destroy(pointer)
        if let tableOptions { rocksdb_block_based_options_destroy(tableOptions) }
        if let cache { rocksdb_cache_destroy(cache) }
    }
}

/// Owns a `rocksdb_writeoptions_t`.
final class RocksWriteOptions {
    let pointer: OpaquePointer

    init(_ options: WriteOptions) {
        pointer = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(pointer, options.sync ? 1 : 0)
        rocksdb_writeoptions_disable_WAL(pointer, options.disableWAL ? 1 : 0)
    }

    deinit { rocksdb_writeoptions_destroy(pointer) }
}
