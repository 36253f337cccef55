// kumo-kv-bench: KumoKV's point reads and writes, measured the way RocksDB's db_bench measures them.
//
// The benchmarks mirror db_bench's of the same names (tools/db_bench_tool.cc, RocksDB 7.8):
//   fillseq     fresh database, `num` puts with keys 0, 1, 2, ... in order
//   fillrandom  fresh database, `num` puts with keys drawn uniformly from [0, num)
//   fillbatch   fresh database, keys 0, 1, 2, ... written in WriteBatches of `batch-size` entries
//               (db_bench fixes 1000 for fillbatch); ops counts entries, not batches, as db_bench does
//   readrandom  `reads` gets of keys drawn uniformly from [0, num) on the database the previous fill left
//               open (as db_bench does: it keeps its DB open between benchmarks); reports how many were found
//
// Keys are db_bench's default keys: the number as big-endian bytes (up to 8) padded with ASCII '0' to
// `key-size` (`--key-format decimal` gives a zero-padded decimal string instead). Values are half-compressible
// printable bytes like db_bench's RandomGenerator makes, taken in turn from a small pool built before timing.
// Nothing is allocated in a timed loop by this harness: keys are rewritten in place in buffers that the store
// only borrows. Opening, destroying and closing the database are outside the timed sections.
//
// RocksDB's per-thread perf counters stay at RocksDB's default level (kEnableCount), as KumoKV leaves them;
// db_bench switches them off unless given --perf_level=2, so scripts/bench-kv passes that for the like-for-like
// table.

import Foundation
import KumoKV

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Configuration

enum KeyFormat: String {
    /// db_bench's GenerateKeyFromInt: big-endian integer bytes, then '0' padding.
    case dbBench = "dbbench"
    /// The number in decimal, zero-padded to the key size.
    case decimal
}

struct BenchConfig {
    var db = "/tmp/kumo-kv-bench"
    var num = 1_000_000
    /// Gets done by readrandom; `nil` means `num`, like db_bench's `--reads=-1`.
    var reads: Int? = nil
    var keySize = 16
    var valueSize = 100
    var batchSize = 1000
    var compression: StoreOptions.Compression = .none
    var benchmarks = ["fillseq", "fillrandom", "fillbatch", "readrandom"]
    var json = false
    var seed: UInt64 = 0
    var keyFormat = KeyFormat.dbBench
    var compressionRatio = 0.5
    /// How many distinct value arrays the writes cycle through.
    var valuePool = 256
    var writeBufferSize = 64 << 20
    var maxWriteBufferNumber: Int32 = 2
    var maxOpenFiles: Int32 = -1
    var cacheSize = 8 << 20
    var backgroundJobs: Int32 = 2

    static let usage = """
        usage: kumo-kv-bench [options]
          --db DIR                       database directory (destroyed and recreated by fills) [/tmp/kumo-kv-bench]
          --num N                        keys per fill, and key range [1000000]
          --reads N                      gets done by readrandom [num]
          --key-size N                   bytes per key [16]
          --value-size N                 bytes per value [100]
          --batch-size N                 entries per WriteBatch in fillbatch [1000]
          --compression NAME             none|snappy|zlib|bzip2|lz4|lz4hc|zstd [none]
          --compression-ratio R          values compress to this fraction [0.5]
          --value-pool N                 distinct pre-built values the writes cycle through [256]
          --benchmarks LIST              comma-separated, run in order [fillseq,fillrandom,fillbatch,readrandom]
          --key-format dbbench|decimal   key layout [dbbench]
          --seed N                       PRNG seed; 0 picks one from the clock [0]
          --write-buffer-size BYTES      [67108864]
          --max-write-buffer-number N    [2]
          --open-files N                 max_open_files [-1]
          --cache-size BYTES             LRU block cache [8388608]
          --background-jobs N            [2]
          --json                         one JSON object per line instead of a table
        """

    static func parse(_ arguments: [String]) throws -> BenchConfig {
        var config = BenchConfig()
        var index = 0
        func fail(_ message: String) -> any Error { UsageError(message: message) }
        while index < arguments.count {
            var name = arguments[index]
            var inlineValue: String?
            if let equals = name.firstIndex(of: "="), name.hasPrefix("--") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            index += 1
            func value() throws -> String {
                if let inlineValue { return inlineValue }
                guard index < arguments.count else { throw fail("\(name) needs a value") }
                defer { index += 1 }
                return arguments[index]
            }
            func int(min: Int = 1) throws -> Int {
                let text = try value()
                guard let number = Int(text.replacingOccurrences(of: "_", with: "")), number >= min else {
                    throw fail("\(name) wants an integer >= \(min), got '\(text)'")
                }
                return number
            }
            switch name {
            case "--db": config.db = try value()
            case "--num": config.num = try int()
            case "--reads": config.reads = try int(min: 0)
            case "--key-size": config.keySize = try int()
            case "--value-size": config.valueSize = try int()
            case "--batch-size": config.batchSize = try int()
            case "--compression":
                let text = try value()
                guard let compression = StoreOptions.Compression(rawValue: text) else {
                    throw fail("unknown compression '\(text)'")
                }
                config.compression = compression
            case "--compression-ratio":
                let text = try value()
                guard let ratio = Double(text), ratio > 0, ratio <= 1 else {
                    throw fail("--compression-ratio wants a number in (0, 1], got '\(text)'")
                }
                config.compressionRatio = ratio
            case "--value-pool": config.valuePool = try int()
            case "--benchmarks":
                config.benchmarks = try value().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
            case "--key-format":
                let text = try value()
                guard let format = KeyFormat(rawValue: text) else { throw fail("unknown key format '\(text)'") }
                config.keyFormat = format
            case "--seed": config.seed = UInt64(try int(min: 0))
            case "--write-buffer-size": config.writeBufferSize = try int()
            case "--max-write-buffer-number": config.maxWriteBufferNumber = Int32(try int())
            case "--open-files": config.maxOpenFiles = Int32(try int(min: -1))
            case "--cache-size": config.cacheSize = try int()
            case "--background-jobs": config.backgroundJobs = Int32(try int())
            case "--json": config.json = true
            case "-h", "--help":
                print(usage)
                exit(0)
            default: throw fail("unknown argument '\(name)'")
            }
        }
        for benchmark in config.benchmarks where !["fillseq", "fillrandom", "fillbatch", "readrandom"].contains(benchmark) {
            throw fail("unknown benchmark '\(benchmark)' (known: fillseq, fillrandom, fillbatch, readrandom)")
        }
        if config.seed == 0 { config.seed = UInt64(truncatingIfNeeded: monotonicNanoseconds()) | 1 }
        return config
    }

    /// The store options, every one spelled out so they can be matched flag by flag with db_bench.
    var storeOptions: StoreOptions {
        var options = StoreOptions()
        options.createIfMissing = true
        options.errorIfExists = false
        options.compression = compression
        options.writeBufferSize = writeBufferSize
        options.maxWriteBufferNumber = maxWriteBufferNumber
        options.maxOpenFiles = maxOpenFiles
        options.blockCacheBytes = cacheSize
        options.backgroundJobs = backgroundJobs
        options.walRetention = .none
        options.paranoidChecks = true  // RocksDB's default, and db_bench's
        options.keepLogFileCount = 1000  // RocksDB's default keep_log_file_num, and db_bench's
        return options
    }

    /// WAL on, no fsync per write: db_bench's `--disable_wal=false --sync=false`.
    var writeOptions: WriteOptions { WriteOptions(sync: false, disableWAL: false) }
}

struct UsageError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

// MARK: Clock, PRNG, keys, values

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// SplitMix64: a few arithmetic instructions per number, and good enough for picking keys.
struct SplitMix64 {
    var state: UInt64

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_CE4E_5CE9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform number in `[0, bound)` (Lemire's multiply-high; no division in the loop).
    @inline(__always)
    mutating func next(below bound: UInt64) -> UInt64 {
        next().multipliedFullWidth(by: bound).high
    }
}

struct KeyEncoder {
    let size: Int
    let format: KeyFormat

    /// A key buffer with the constant part (db_bench's '0' padding) already written.
    func makeBuffer() -> [UInt8] {
        [UInt8](repeating: UInt8(ascii: "0"), count: size)
    }

    /// Rewrites `key` in place to hold the key for `number`. `key` must come from ``makeBuffer()``.
    @inline(__always)
    func encode(_ number: UInt64, into key: inout [UInt8]) {
        key.withUnsafeMutableBufferPointer { bytes in
            switch format {
            case .dbBench:
                let count = min(size, 8)
                var shift = UInt64(count - 1) * 8
                for index in 0..<count {
                    bytes[index] = UInt8(truncatingIfNeeded: number >> shift)
                    shift &-= 8
                }
            case .decimal:
                var rest = number
                var index = size - 1
                while index >= 0 {
                    bytes[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                    rest /= 10
                    index -= 1
                }
            }
        }
    }
}

/// Values to write, built before any timing: `count` consecutive `size`-byte slices of data made of 100-byte
/// pieces, each a random printable string of `ratio * 100` bytes repeated, so a compressor gets the piece down to
/// about `ratio` of its size (db_bench's RandomGenerator does the same).
///
/// The pool is small on purpose: every write retains and releases its value array, and cycling through
/// thousands of separately allocated arrays would add cache misses on their headers that a program writing
/// freshly built values does not have (db_bench copies its values out of one buffer).
func makeValuePool(count: Int, size: Int, ratio: Double, rng: inout SplitMix64) -> [[UInt8]] {
    let pieceLength = 100
    let rawLength = max(1, Int(Double(pieceLength) * ratio))
    let total = count * size
    var data: [UInt8] = []
    data.reserveCapacity(total + pieceLength)
    while data.count < total {
        let raw = (0..<rawLength).map { _ in UInt8(ascii: " ") + UInt8(rng.next(below: 95)) }
        for index in 0..<pieceLength { data.append(raw[index % rawLength]) }
    }
    return (0..<count).map { Array(data[($0 * size)..<(($0 + 1) * size)]) }
}

// MARK: Benchmarks

struct BenchResult {
    var benchmark: String
    var operations: Int
    var nanoseconds: UInt64
    var bytes: Int
    var found: Int?

    var seconds: Double { Double(nanoseconds) / 1e9 }
    var microsPerOp: Double { Double(nanoseconds) / 1e3 / Double(max(operations, 1)) }
    var opsPerSecond: Double { Double(operations) / max(seconds, 1e-9) }
    var megabytesPerSecond: Double { Double(bytes) / 1_048_576 / max(seconds, 1e-9) }
}

final class BenchRunner {
    let config: BenchConfig
    let keys: KeyEncoder
    let values: [[UInt8]]
    var rng: SplitMix64
    var store: Store?

    init(config: BenchConfig) {
        self.config = config
        keys = KeyEncoder(size: config.keySize, format: config.keyFormat)
        var rng = SplitMix64(state: config.seed)
        values = makeValuePool(
            count: config.valuePool, size: config.valueSize, ratio: config.compressionRatio, rng: &rng)
        self.rng = rng
    }

    /// Closes the open store, deletes the database and opens an empty one (untimed), like db_bench's
    /// `fresh_db` benchmarks.
    func freshStore() throws -> Store {
        try closeStore()
        if FileManager.default.fileExists(atPath: config.db) {
            try Store.destroy(at: config.db)
        }
        // DestroyDB removes the directory only when nothing else is left in it.
        if FileManager.default.fileExists(atPath: config.db) {
            try FileManager.default.removeItem(atPath: config.db)
        }
        let store = try Store(path: config.db, options: config.storeOptions)
        self.store = store
        return store
    }

    /// The store the previous fill left open, or the existing database at `--db` when nothing was filled.
    func existingStore() throws -> Store {
        if let store { return store }
        var options = config.storeOptions
        options.createIfMissing = false
        let store = try Store(path: config.db, options: options)
        self.store = store
        return store
    }

    func closeStore() throws {
        try store?.close()
        store = nil
    }

    func run(_ benchmark: String) throws -> BenchResult {
        switch benchmark {
        case "fillseq": return try fill(benchmark, random: false)
        case "fillrandom": return try fill(benchmark, random: true)
        case "fillbatch": return try fillBatch(benchmark)
        case "readrandom": return try readRandom(benchmark)
        default: throw UsageError(message: "unknown benchmark '\(benchmark)'")
        }
    }

    private func fill(_ name: String, random: Bool) throws -> BenchResult {
        let store = try freshStore()
        let num = config.num
        let bound = UInt64(num)
        let writeOptions = config.writeOptions
        var key = keys.makeBuffer()
        var valueIndex = 0
        var rng = self.rng
        let start = monotonicNanoseconds()
        for index in 0..<num {
            keys.encode(random ? rng.next(below: bound) : UInt64(index), into: &key)
            try store.put(key, values[valueIndex], options: writeOptions)
            valueIndex += 1
            if valueIndex == values.count { valueIndex = 0 }
        }
        let elapsed = monotonicNanoseconds() - start
        self.rng = rng
        return BenchResult(
            benchmark: name, operations: num, nanoseconds: elapsed,
            bytes: num * (config.keySize + config.valueSize), found: nil)
    }

    private func fillBatch(_ name: String) throws -> BenchResult {
        let store = try freshStore()
        let num = config.num
        let batchSize = config.batchSize
        let writeOptions = config.writeOptions
        // WriteBatch copies each key and value into its own encoding as it is added, so one key buffer is
        // rewritten in place for every entry, with no copy and no allocation (a batch that kept references
        // instead would make each rewrite copy the buffer first: still correct, only slower).
        var key = keys.makeBuffer()
        var batch = WriteBatch()
        var valueIndex = 0
        var first = 0
        // Grow the batch's storage to a full batch before timing.
        for _ in 0..<batchSize { batch.put(key, values[0]) }
        batch.removeAll(keepingCapacity: true)
        let start = monotonicNanoseconds()
        while first < num {
            let count = min(batchSize, num - first)
            batch.removeAll(keepingCapacity: true)
            for slot in 0..<count {
                keys.encode(UInt64(first + slot), into: &key)
                batch.put(key, values[valueIndex])
                valueIndex += 1
                if valueIndex == values.count { valueIndex = 0 }
            }
            try store.write(batch, options: writeOptions)
            first += count
        }
        let elapsed = monotonicNanoseconds() - start
        batch.removeAll()
        return BenchResult(
            benchmark: name, operations: num, nanoseconds: elapsed,
            bytes: num * (config.keySize + config.valueSize), found: nil)
    }

    private func readRandom(_ name: String) throws -> BenchResult {
        let store = try existingStore()
        let reads = config.reads ?? config.num
        let bound = UInt64(config.num)
        var key = keys.makeBuffer()
        var found = 0
        var bytes = 0
        var rng = self.rng
        let start = monotonicNanoseconds()
        for _ in 0..<reads {
            keys.encode(rng.next(below: bound), into: &key)
            if let value = try store.get(key) {
                found += 1
                bytes += config.keySize + value.count
            }
        }
        let elapsed = monotonicNanoseconds() - start
        self.rng = rng
        return BenchResult(benchmark: name, operations: reads, nanoseconds: elapsed, bytes: bytes, found: found)
    }
}

// MARK: Output

func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if scalar.value < 0x20 {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

func configJSON(_ config: BenchConfig) -> String {
    let options = config.storeOptions
    let fields: [(String, String)] = [
        ("db", jsonString(config.db)),
        ("num", "\(config.num)"),
        ("reads", "\(config.reads ?? config.num)"),
        ("key_size", "\(config.keySize)"),
        ("value_size", "\(config.valueSize)"),
        ("batch_size", "\(config.batchSize)"),
        ("key_format", jsonString(config.keyFormat.rawValue)),
        ("value_pool", "\(config.valuePool)"),
        ("compression", jsonString(options.compression.rawValue)),
        ("write_buffer_size", "\(options.writeBufferSize)"),
        ("max_write_buffer_number", "\(options.maxWriteBufferNumber)"),
        ("max_open_files", "\(options.maxOpenFiles)"),
        ("block_cache_bytes", "\(options.blockCacheBytes ?? -1)"),
        ("background_jobs", "\(options.backgroundJobs)"),
        ("wal", "true"),
        ("sync", "false"),
        ("wal_ttl_seconds", "\(options.walRetention.ttlSeconds)"),
        ("wal_size_limit_mb", "\(options.walRetention.sizeLimitMB)"),
        ("seed", "\(config.seed)"),
    ]
    return "{\"config\": {" + fields.map { "\(jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}}"
}

func resultJSON(_ result: BenchResult) -> String {
    var line = "{\"tool\": \"kumo-kv-bench\", \"benchmark\": \(jsonString(result.benchmark))"
    line += ", \"ops\": \(result.operations)"
    line += String(format: ", \"seconds\": %.6f", result.seconds)
    line += String(format: ", \"micros_per_op\": %.4f", result.microsPerOp)
    line += String(format: ", \"ops_per_sec\": %.1f", result.opsPerSecond)
    line += String(format: ", \"mb_per_sec\": %.2f", result.megabytesPerSecond)
    if let found = result.found { line += ", \"found\": \(found)" }
    return line + "}"
}

func padded(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + padding : padding + text
}

func tableRow(_ result: BenchResult) -> String {
    var row = padded(result.benchmark, 12, left: true)
    row += padded(String(format: "%.3f", result.microsPerOp), 14)
    row += padded(String(format: "%.0f", result.opsPerSecond), 14)
    row += padded(String(format: "%.3f", result.seconds), 10)
    row += padded("\(result.operations)", 12)
    row += padded(String(format: "%.1f", result.megabytesPerSecond), 9)
    if let found = result.found { row += "   (\(found) of \(result.operations) found)" }
    return row
}

// MARK: Main

func runBenchmarks() -> Int32 {
    let config: BenchConfig
    do {
        config = try BenchConfig.parse(Array(CommandLine.arguments.dropFirst()))
    } catch {
        FileHandle.standardError.write(Data("kumo-kv-bench: \(error)\n\n\(BenchConfig.usage)\n".utf8))
        return 2
    }
    let runner = BenchRunner(config: config)
    if config.json {
        print(configJSON(config))
    } else {
        print(
            "KumoKV: keys \(config.keySize) bytes (\(config.keyFormat.rawValue)), values \(config.valueSize) bytes, "
                + "num \(config.num), compression \(config.compression.rawValue), "
                + "write_buffer_size \(config.writeBufferSize), max_write_buffer_number \(config.maxWriteBufferNumber), "
                + "block cache \(config.cacheSize), max_open_files \(config.maxOpenFiles), "
                + "background jobs \(config.backgroundJobs), WAL on, sync off, db \(config.db)")
        print(
            padded("benchmark", 12, left: true) + padded("micros/op", 14) + padded("ops/sec", 14)
                + padded("seconds", 10) + padded("ops", 12) + padded("MB/s", 9))
    }
    do {
        for benchmark in config.benchmarks {
            let result = try runner.run(benchmark)
            print(config.json ? resultJSON(result) : tableRow(result))
            fflush(nil)  // every stream: results appear as they finish when piped
        }
        try runner.closeStore()
    } catch {
        FileHandle.standardError.write(Data("kumo-kv-bench: \(error)\n".utf8))
        return 1
    }
    return 0
}

exit(runBenchmarks())
