import Foundation

/// A change feed's mark on a store (`<db>/KUMO-WAL-HOLD`): while it is there, every process that opens the store
/// keeps obsolete write-ahead log files until the feed releases them.
public struct WALHold: Sendable, Equatable, Codable {
    /// Who holds the log (a feed's `<host>:<store path>`).
    public var holder: String
    /// The highest sequence number released so far.
    public var releasedThrough: UInt64

    public init(holder: String, releasedThrough: UInt64) {
        self.holder = holder
        self.releasedThrough = releasedThrough
    }

    static let fileName = "KUMO-WAL-HOLD"
}

/// One write-ahead log file of a store.
public struct WALFileInfo: Sendable, Equatable {
    public var path: String
    /// RocksDB's log number (the file name's digits); files are written in this order.
    public var logNumber: UInt64
    /// The sequence number of the file's first record; `nil` when it has none yet or it cannot be read.
    public var firstSequence: UInt64?
    public var size: Int
    /// In `archive/`: no longer needed by RocksDB, kept for readers of the log.
    public var archived: Bool
}

/// What ``Store/releaseWAL(through:)`` deleted.
public struct WALReleaseResult: Sendable, Equatable {
    public var filesDeleted: Int
    public var bytesDeleted: Int
}

extension Store {
    /// Marks the store so its write-ahead log is kept until released (see ``WALHold``); keeps an existing mark's
    /// release point. Takes effect for processes that open the store from now on; this store keeps its own options.
    public func holdWAL(holder: String) throws {
        let released = (try Store.walHold(at: path))?.releasedThrough ?? 0
        try Store.writeHold(WALHold(holder: holder, releasedThrough: released), at: path)
    }

    /// The store's mark, if a change feed has set one.
    public static func walHold(at path: String) throws -> WALHold? {
        let file = (path as NSString).appendingPathComponent(WALHold.fileName)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        do {
            return try JSONDecoder().decode(WALHold.self, from: data)
        } catch {
            throw KVError(.corruption, "\(file) is damaged (\(data.count) bytes); remove it to let RocksDB manage the write-ahead log again")
        }
    }

    /// Removes the mark (a feed retired for good): the write-ahead log follows ``StoreOptions/walRetention`` again.
    public static func removeWALHold(at path: String) throws {
        let file = (path as NSString).appendingPathComponent(WALHold.fileName)
        guard FileManager.default.fileExists(atPath: file) else { return }
        try FileManager.default.removeItem(atPath: file)
    }

    private static func writeHold(_ hold: WALHold, at path: String) throws {
        let file = (path as NSString).appendingPathComponent(WALHold.fileName)
        let temporary = file + ".tmp"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            try encoder.encode(hold).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, file) == 0 else { throw KVError(.ioError, String(cString: strerror(errno))) }
        } catch {
            throw KVError(.ioError, "cannot write \(file): \(error)")
        }
    }

    /// The store's write-ahead log files, live and archived, in log-number order.
    public static func walFiles(at path: String) throws -> [WALFileInfo] {
        var files: [WALFileInfo] = []
        for (directory, archived) in [(path, false), ((path as NSString).appendingPathComponent("archive"), true)] {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for name in names where name.hasSuffix(".log") {
                guard let number = UInt64(name.dropLast(4)) else { continue }
                let file = (directory as NSString).appendingPathComponent(name)
                let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
                files.append(
                    WALFileInfo(path: file, logNumber: number, firstSequence: WALLogFormat.firstSequence(ofFileAt: file), size: size ?? 0, archived: archived))
            }
        }
        return files.sorted { $0.logNumber < $1.logNumber }
    }

    /// Deletes archived write-ahead log files whose every record has a sequence number at or below `sequence`, and
    /// records the release in the store's mark.
    ///
    /// Plain file work, so it also runs for a store another process holds: RocksDB reads archived files only for
    /// log iterators and deletes them itself only by TTL, so removing one it no longer needs is safe. A file goes
    /// only when a later file is known to start at or below `sequence + 1`; live files are never touched.
    @discardableResult
    public static func releaseWAL(at path: String, through sequence: UInt64) throws -> WALReleaseResult {
        let files = try walFiles(at: path)
        var result = WALReleaseResult(filesDeleted: 0, bytesDeleted: 0)
        for (index, file) in files.enumerated() where file.archived {
            guard let nextStart = files[(index + 1)...].lazy.compactMap(\.firstSequence).first, nextStart <= sequence + 1 else { continue }
            do {
                try FileManager.default.removeItem(atPath: file.path)
                result.filesDeleted += 1
                result.bytesDeleted += file.size
            } catch where !FileManager.default.fileExists(atPath: file.path) {
                // RocksDB removed it first.
            }
        }
        if var hold = try walHold(at: path), hold.releasedThrough < sequence {
            hold.releasedThrough = sequence
            try writeHold(hold, at: path)
        }
        return result
    }

    /// ``releaseWAL(at:through:)`` for this store.
    @discardableResult
    public func releaseWAL(through sequence: UInt64) throws -> WALReleaseResult {
        try Store.releaseWAL(at: path, through: sequence)
    }

    /// RocksDB's identity of the store (`<db>/IDENTITY`, a UUID written when the store was created).
    public var identity: String {
        get throws { try Store.identity(at: path) }
    }

    public static func identity(at path: String) throws -> String {
        let file = (path as NSString).appendingPathComponent("IDENTITY")
        guard let data = FileManager.default.contents(atPath: file),
              let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty
        else { throw KVError(.notFound, "\(file) is missing or empty: not a RocksDB store?") }
        return text
    }
}
