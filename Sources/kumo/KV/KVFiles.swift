import ArgumentParser
import KumoKV

struct KVFiles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files", abstract: "List the live SST files with level, size and key range.")

    @OptionGroup var store: StoreOptionsGroup
    @OptionGroup var keys: KeyFormatOptions

    func run() async throws {
        let db = try await store.open(create: false)
        defer { try? db.close() }
        let files = try db.liveFiles().sorted { ($0.columnFamily, $0.level, $0.name) < ($1.columnFamily, $1.level, $1.name) }
        if store.json {
            try printJSON(files.map { LiveFileJSON($0) })
            return
        }
        print(pad("file", 14) + pad("column family", 16) + pad("level", 7) + pad("bytes", 10) + pad("entries", 9) + "keys")
        for file in files {
            print(
                pad(file.name, 14) + pad(file.columnFamily, 16) + pad(String(file.level), 7) + pad(String(file.size), 10)
                    + pad(String(file.entries), 9) + "\(keys.text(file.smallestKey)) .. \(keys.text(file.largestKey))")
        }
        print("\(files.count) files, \(files.reduce(0) { $0 + $1.size }) bytes")
    }

    struct LiveFileJSON: Encodable {
        var name: String
        var columnFamily: String
        var level: Int
        var size: UInt64
        var entries: UInt64
        var deletions: UInt64
        var smallestKey: [String: String]
        var largestKey: [String: String]

        init(_ file: LiveFile) {
            name = file.name
            columnFamily = file.columnFamily
            level = file.level
            size = file.size
            entries = file.entries
            deletions = file.deletions
            smallestKey = ByteText.json(file.smallestKey)
            largestKey = ByteText.json(file.largestKey)
        }
    }
}
