import ArgumentParser
import KumoKV

struct KVStats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show key counts, sizes and SST layout per column family.")

    @OptionGroup var store: StoreOptionsGroup
    @OptionGroup var cf: ColumnFamilyOption
    @Option(help: "Also print this RocksDB property (e.g. rocksdb.stats, rocksdb.levelstats).")
    var property: String?

    func run() async throws {
        let db = try await store.open(create: false)
        defer { try? db.close() }
        let stats = try db.statistics()
        if store.json {
            try printJSON(stats)
        } else {
            print("store \(stats.path)  latest sequence \(stats.latestSequenceNumber)")
            print(pad("column family", 20) + pad("~keys", 12) + pad("sst bytes", 14) + pad("memtable", 12) + "files/level")
            for family in stats.columnFamilies {
                print(
                    pad(family.name, 20) + pad(String(family.estimatedKeys), 12) + pad(String(family.liveSSTBytes), 14)
                        + pad(String(family.memtableBytes), 12) + family.filesPerLevel.map(String.init).joined(separator: " "))
            }
        }
        if let property {
            guard let value = try db.property(property, in: cf.family) else {
                throw ValidationError("RocksDB has no property named '\(property)'")
            }
            print(value)
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
