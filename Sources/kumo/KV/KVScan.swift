import ArgumentParser
import KumoKV

struct KVScan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan", abstract: "List keys and values in order, by range or prefix.")

    @OptionGroup var store: StoreOptionsGroup
    @OptionGroup var keys: KeyFormatOptions
    @OptionGroup var cf: ColumnFamilyOption
    @Option(help: "Only keys starting with this prefix.") var prefix: String?
    @Option(help: "The first key (inclusive).") var from: String?
    @Option(help: "The end key (exclusive).") var to: String?
    @Flag(help: "Newest key first (descending order).") var reverse = false
    @Option(help: "Stop after this many entries.") var limit: Int?
    @Flag(help: "Print keys only.") var keysOnly = false

    func validate() throws {
        if prefix != nil && (from != nil || to != nil) {
            throw ValidationError("--prefix cannot be combined with --from/--to")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, not \(limit)") }
    }

    func run() async throws {
        let db = try await store.open(create: false)
        defer { try? db.close() }
        let range: KeyRange
        if let prefix {
            range = .prefix(try keys.bytes(prefix, name: "--prefix"))
        } else {
            range = KeyRange(
                lower: try from.map { try keys.bytes($0, name: "--from") },
                upper: try to.map { try keys.bytes($0, name: "--to") })
        }
        var count = 0
        var entries: [[String: [String: String]]] = []
        for try await entry in db.scan(range, in: cf.family, reverse: reverse) {
            if store.json {
                var item = ["key": ByteText.json(entry.key)]
                if !keysOnly { item["value"] = ByteText.json(entry.value) }
                entries.append(item)
            } else if keysOnly {
                print(keys.text(entry.key))
            } else {
                print("\(keys.text(entry.key))\t\(keys.text(entry.value))")
            }
            count += 1
            if let limit, count >= limit { break }
        }
        if store.json { try printJSON(entries) }
    }
}
