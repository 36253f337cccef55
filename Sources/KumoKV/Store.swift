import CRocksDB
import Foundation
import Synchronization

/// An open RocksDB database.
///
/// `Store` is safe to share between tasks and threads: RocksDB serialises writes internally and reads run
/// concurrently. Point reads and writes are synchronous, because they complete in microseconds from the
/// memtable or block cache; operations that can take seconds (open, flush, compaction, checkpoint,
/// ingestion) are `async` and run on threads outside Swift's cooperative pool.
///
/// The database stays open until ``close()`` (or until the last reference goes away). Cursors, snapshots
/// and change streams keep the store alive, and `close()` refuses to run while any are open, so no RocksDB
/// object ever outlives the database it belongs to.
public final class Store: @unchecked Sendable {
    /// The database directory.
    public let path: String
    /// The options the store was opened with.
    public let options: StoreOptions
    /// Where a follower keeps its own files; `nil` for the store's owner.
    let followerDirectory: String?

    // `lock` guards `database`, `families` and `familyNames`. Reads and writes take the shared side;
    // close and column family changes take the exclusive side.
    private let lock = ReadWriteLock()
    private var database: OpaquePointer?
    private var families: [String: OpaquePointer] = [:]
    /// The default family's handle, kept apart so the common case skips the dictionary lookup.
    private var defaultFamily: OpaquePointer?
    private var familyNames: [UInt32: String] = [:]

    private let rocksOptions: RocksOptions
    /// Indexed by `sync * 2 + disableWAL`; RocksDB only reads these, so threads can share them.
    private let writeOptionsTable: [RocksWriteOptions]
    private let defaultReadOptions: OpaquePointer
    /// Cursors, snapshots and change streams that hold RocksDB objects tied to this database. Only
    /// ``openResource(_:)`` adds to it, under the read lock; `close()` reads it under the write lock.
    private let openResources = Atomic<Int>(0)

    /// Uncounts a cursor, snapshot or change stream once its RocksDB object is destroyed.
    func resourceClosed() { openResources.subtract(1, ordering: .releasing) }

    /// Opens (or creates) the database at `path` on a thread outside the cooperative pool.
    ///
    /// - Throws: ``KVError`` with code `.notADirectory` when `path` is a file, `.notFound` when it does not
    ///   exist and `createIfMissing` is off, `.locked` when another process has it open, `.corruption` when
    ///   its files fail checks.
    public static func open(at path: String, options: StoreOptions = StoreOptions()) async throws -> Store {
        try await BlockingIO.run { try Store(path: path, options: options) }
    }

    /// `path` made absolute against the working directory and standardized (no `.` or `..` segments).
    public static func absolutePath(_ path: String) -> String {
        let joined = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    /// Opens (or creates) the database at `path`, blocking the calling thread. Prefer ``open(at:options:)``
    /// from async code.
    public convenience init(path: String, options: StoreOptions = StoreOptions()) throws {
        try self.init(path: path, options: options, followerDirectory: nil)
    }

    /// Opens the database as its owner, or with `followerDirectory` as a read-only follower (a RocksDB secondary
    /// instance keeping its own files there) of the process that owns it.
    init(path: String, options: StoreOptions, followerDirectory: String?) throws {
        // Absolute, so that checkpoints beside the store, backup manifests and messages name the same place
        // wherever the process's working directory is.
        self.path = Store.absolutePath(path)
        var options = options
        // A change feed's mark keeps the write-ahead log it has not published, whoever opens the store.
        if (try? Store.walHold(at: self.path)) != nil { options.walRetention = .untilReleased }
        self.options = options
        self.followerDirectory = followerDirectory
        rocksOptions = RocksOptions(options)
        writeOptionsTable = [
            RocksWriteOptions(WriteOptions(sync: false, disableWAL: false)),
            RocksWriteOptions(WriteOptions(sync: false, disableWAL: true)),
            RocksWriteOptions(WriteOptions(sync: true, disableWAL: false)),
            RocksWriteOptions(WriteOptions(sync: true, disableWAL: true)),
        ]
        defaultReadOptions = rocksdb_readoptions_create()

        try Store.checkDirectory(path, createIfMissing: options.createIfMissing)
        var names = try Store.existingColumnFamilies(at: path, options: rocksOptions)
        for name in ["default"] + options.columnFamilies where !names.contains(name) {
            names.append(name)
        }

        let (db, handles) = try Store.openColumnFamilies(
            at: path, names: names, options: rocksOptions, readOnly: false, secondaryPath: followerDirectory)
        database = db
        for (name, handle) in zip(names, handles) {
            guard let handle else { continue }
            families[name] = handle
            familyNames[rocksdb_column_family_handle_get_id(handle)] = name
        }
        defaultFamily = families[ColumnFamily.default.name]
    }

    deinit {
        try? close()
        rocksdb_readoptions_destroy(defaultReadOptions)
    }

    /// Opens the database at `path` with the column families `names`; the caller owns the returned handles.
    static func openColumnFamilies(
        at path: String, names: [String], options: RocksOptions, readOnly: Bool, secondaryPath: String? = nil
    ) throws -> (OpaquePointer, [OpaquePointer?]) {
        var handles = [OpaquePointer?](repeating: nil, count: names.count)
        let familyOptions = [OpaquePointer?](repeating: options.pointer, count: names.count)
        let cNames = names.map { strdup($0) }
        defer { cNames.forEach { free($0) } }
        let db = try cNames.map { UnsafePointer($0) }.withUnsafeBufferPointer { namePointers in
            try rocksCall("cannot open database at \(path)") { error in
                if let secondaryPath {
                    rocksdb_open_as_secondary_column_families(
                        options.pointer, path, secondaryPath, Int32(names.count), namePointers.baseAddress, familyOptions,
                        &handles, error)
                } else if readOnly {
                    rocksdb_open_for_read_only_column_families(
                        options.pointer, path, Int32(names.count), namePointers.baseAddress, familyOptions,
                        &handles, 0, error)
                } else {
                    rocksdb_open_column_families(
                        options.pointer, path, Int32(names.count), namePointers.baseAddress, familyOptions,
                        &handles, error)
                }
            }
        }
        guard let db else { throw KVError(.other, "cannot open database at \(path): RocksDB returned no handle") }
        return (db, handles)
    }

    private static func checkDirectory(_ path: String, createIfMissing: Bool) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if !isDirectory.boolValue {
                throw KVError(.notADirectory, "cannot open database at \(path): it is a file, not a directory")
            }
        } else if !createIfMissing {
            throw KVError(.notFound, "no database at \(path)")
        }
    }

    private static func existingColumnFamilies(at path: String, options: RocksOptions) throws -> [String] {
        // A directory without CURRENT holds no database yet: it has only the default column family.
        guard FileManager.default.fileExists(atPath: path + "/CURRENT") else { return [] }
        var count = 0
        var list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        // RocksDB returns an (empty) allocation even when it reports an error, so free it on that path too.
        defer { if let list { rocksdb_list_column_families_destroy(list, count) } }
        try rocksCall("cannot read the column families of \(path) (is CURRENT or MANIFEST damaged?)") {
            list = rocksdb_list_column_families(options.pointer, path, &count, $0)
        }
        guard let list else { return [] }
        return (0..<count).compactMap { list[$0].map { String(cString: $0) } }
    }

    /// The column families of the database at `path`, without opening it.
    public static func columnFamilies(at path: String) throws -> [String] {
        try existingColumnFamilies(at: path, options: RocksOptions(StoreOptions()))
    }

    /// Closes the database: releases every column family handle and RocksDB's lock on the directory.
    ///
    /// Calling `close()` twice is harmless. Every other call on a closed store throws `.closed`.
    /// - Throws: ``KVError`` `.busy` while cursors, snapshots or change streams are still open.
    public func close() throws {
        try lock.withWriteLock {
            guard let db = database else { return }
            let open = openResources.load(ordering: .acquiring)
            guard open == 0 else {
                throw KVError(.busy, "cannot close \(path): \(open) cursors, snapshots or change streams are still open")
            }
            for handle in families.values {
                rocksdb_column_family_handle_destroy(handle)
            }
            families.removeAll()
            defaultFamily = nil
            rocksdb_close(db)
            database = nil
        }
    }

    /// Whether ``close()`` has run.
    public var isClosed: Bool { lock.withReadLock { database == nil } }

    // MARK: Access to the C handles

    @inline(__always)
    func withDatabase<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        try lock.withReadLock {
            guard let db = database else { throw closedError() }
            return try body(db)
        }
    }

    /// Creates a RocksDB object tied to the database (an iterator, snapshot or WAL iterator) and counts it
    /// open in the same read-locked section that checks the store is open. `close()` takes the write lock,
    /// so it either runs first (and `create` is never called: `.closed`) or sees the object counted (and
    /// refuses with `.busy`); it can never free the database between the check and the count.
    ///
    /// A `nil` from `create` means no object was made, and nothing is counted. The caller must call
    /// ``resourceClosed()`` exactly once after destroying a non-`nil` result.
    func openResource<T>(_ create: (OpaquePointer) throws -> T?) throws -> T? {
        try lock.withReadLock {
            guard let db = database else { throw closedError() }
            let resource = try create(db)
            if resource != nil { openResources.add(1, ordering: .relaxed) }
            return resource
        }
    }

    /// ``openResource(_:)`` for an object of one column family.
    func openResource<T>(
        in family: ColumnFamily, _ create: (OpaquePointer, OpaquePointer) throws -> T?
    ) throws -> T? {
        try withFamily(family) { db, cf in
            let resource = try create(db, cf)
            // Still inside the read lock `withFamily` holds, so `close()` cannot slip in before the count.
            if resource != nil { openResources.add(1, ordering: .relaxed) }
            return resource
        }
    }

    @inline(__always)
    func withFamily<T>(_ family: ColumnFamily, _ body: (OpaquePointer, OpaquePointer) throws -> T) throws -> T {
        try lock.withReadLock {
            guard let db = database else { throw closedError() }
            if family.name == ColumnFamily.default.name, let defaultFamily { return try body(db, defaultFamily) }
            guard let handle = families[family.name] else { throw unknownFamilyError(family.name) }
            return try body(db, handle)
        }
    }

    /// Checks that `snapshot` was taken of this store. Whether it is still live is checked by
    /// ``Snapshot/whileLive(_:)`` around each use, which also keeps it from being released mid-read.
    func checkSnapshot(_ snapshot: Snapshot?) throws {
        guard let snapshot else { return }
        guard snapshot.store === self else {
            throw KVError(.invalidArgument, "the snapshot belongs to the store at \(snapshot.store.path), not \(path)")
        }
    }

    func closedError() -> KVError {
        KVError(.closed, "the store at \(path) is closed")
    }

    private func unknownFamilyError(_ name: String) -> KVError {
        let known = families.keys.sorted().joined(separator: ", ")
        return KVError(.unknownColumnFamily, "no column family named '\(name)' in \(path) (it has: \(known))")
    }

    /// The name of a column family id, including families dropped while this store was open.
    func familyName(forID id: UInt32) -> String? {
        lock.withReadLock { familyNames[id] }
    }

    @inline(__always)
    func writeOptions(_ options: WriteOptions) -> OpaquePointer {
        writeOptionsTable[(options.sync ? 2 : 0) + (options.disableWAL ? 1 : 0)].pointer
    }

    // MARK: Column families

    /// The open column families, `default` first.
    public var columnFamilies: [ColumnFamily] {
        lock.withReadLock {
            families.map { (name: $0.key, id: rocksdb_column_family_handle_get_id($0.value)) }
                .sorted { $0.id < $1.id }
                .map { ColumnFamily($0.name) }
        }
    }

    /// Creates a column family.
    /// - Throws: `.columnFamilyExists` if one of that name is open.
    @discardableResult
    public func createColumnFamily(_ name: String) throws -> ColumnFamily {
        guard !name.isEmpty else { throw KVError(.invalidArgument, "a column family name cannot be empty") }
        return try lock.withWriteLock {
            guard let db = database else { throw closedError() }
            guard families[name] == nil else {
                throw KVError(.columnFamilyExists, "column family '\(name)' already exists in \(path)")
            }
            let handle = try rocksCall("cannot create column family '\(name)'") {
                rocksdb_create_column_family(db, rocksOptions.pointer, name, $0)
            }
            guard let handle else { throw KVError(.other, "RocksDB returned no handle for column family '\(name)'") }
            families[name] = handle
            familyNames[rocksdb_column_family_handle_get_id(handle)] = name
            return ColumnFamily(name)
        }
    }

    /// Drops a column family and all its data.
    /// - Throws: `.invalidArgument` for `default`, which RocksDB cannot drop; `.unknownColumnFamily`.
    public func dropColumnFamily(_ family: ColumnFamily) throws {
        guard family != .default else {
            throw KVError(.invalidArgument, "the default column family cannot be dropped")
        }
        try lock.withWriteLock {
            guard let db = database else { throw closedError() }
            guard let handle = families[family.name] else { throw unknownFamilyError(family.name) }
            try rocksCall("cannot drop column family '\(family.name)'") { rocksdb_drop_column_family(db, handle, $0) }
            rocksdb_column_family_handle_destroy(handle)
            families[family.name] = nil
        }
    }

    // MARK: Point reads and writes

    /// The value stored under `key`, or `nil` when there is none.
    public func get(_ key: [UInt8], in family: ColumnFamily = .default, at snapshot: Snapshot? = nil) throws -> [UInt8]? {
        guard let snapshot else { return try get(key, in: family, readOptions: defaultReadOptions) }
        try checkSnapshot(snapshot)
        return try snapshot.whileLive { try get(key, in: family, readOptions: snapshot.readOptions) }
    }

    private func get(_ key: [UInt8], in family: ColumnFamily, readOptions: OpaquePointer) throws -> [UInt8]? {
        try withFamily(family) { db, cf in
            let slice = try key.withCChars { keyPointer, keyLength in
                try rocksCall("get failed") { rocksdb_get_pinned_cf(db, readOptions, cf, keyPointer, keyLength, $0) }
            }
            guard let slice else { return nil }
            defer { rocksdb_pinnableslice_destroy(slice) }
            var length = 0
            let value = rocksdb_pinnableslice_value(slice, &length)
            return [UInt8](copying: value, length: length)
        }
    }

    /// Stores `value` under `key`.
    public func put(_ key: [UInt8], _ value: [UInt8], in family: ColumnFamily = .default, options: WriteOptions = .default) throws {
        try withFamily(family) { db, cf in
            let writeOptions = writeOptions(options)
            try key.withCChars { keyPointer, keyLength in
                try value.withCChars { valuePointer, valueLength in
                    try rocksCall("put failed") {
                        rocksdb_put_cf(db, writeOptions, cf, keyPointer, keyLength, valuePointer, valueLength, $0)
                    }
                }
            }
        }
    }

    /// Removes `key`. Removing a key that does not exist is not an error.
    public func delete(_ key: [UInt8], in family: ColumnFamily = .default, options: WriteOptions = .default) throws {
        try withFamily(family) { db, cf in
            let writeOptions = writeOptions(options)
            try key.withCChars { keyPointer, keyLength in
                try rocksCall("delete failed") { rocksdb_delete_cf(db, writeOptions, cf, keyPointer, keyLength, $0) }
            }
        }
    }

    /// Removes every key in `[start, end)`.
    public func deleteRange(
        from start: [UInt8], to end: [UInt8], in family: ColumnFamily = .default, options: WriteOptions = .default
    ) throws {
        guard start.lexicographicallyPrecedes(end) else {
            throw KVError(.invalidArgument, "deleteRange needs start < end")
        }
        try withFamily(family) { db, cf in
            let writeOptions = writeOptions(options)
            try start.withCChars { startPointer, startLength in
                try end.withCChars { endPointer, endLength in
                    try rocksCall("deleteRange failed") {
                        rocksdb_delete_range_cf(
                            db, writeOptions, cf, startPointer, startLength, endPointer, endLength, $0)
                    }
                }
            }
        }
    }

    /// Applies every operation of `batch` atomically: all of them or none, across column families.
    public func write(_ batch: WriteBatch, options: WriteOptions = .default) throws {
        guard !batch.isEmpty else { return }
        try lock.withReadLock {
            guard let db = database else { throw closedError() }
            let ids = try batch.families.map { family in
                guard let handle = families[family.name] else { throw unknownFamilyError(family.name) }
                return rocksdb_column_family_handle_get_id(handle)
            }
            let rep = batch.encoded(familyIDs: ids)
            let writeBatch = rep.withCChars { rocksdb_writebatch_create_from($0, $1) }
            defer { rocksdb_writebatch_destroy(writeBatch) }
            try rocksCall("write of a \(batch.count)-operation batch failed") {
                rocksdb_write(db, writeOptions(options), writeBatch, $0)
            }
        }
    }

    /// The sequence number of the most recent write.
    public var latestSequenceNumber: UInt64 {
        get throws { try withDatabase { rocksdb_get_latest_sequence_number($0) } }
    }

    /// Deletes the database at `path` and all its files. The database must not be open.
    public static func destroy(at path: String) throws {
        let options = RocksOptions(StoreOptions())
        try rocksCall("cannot destroy database at \(path)") { rocksdb_destroy_db(options.pointer, path, $0) }
    }
}
