import ArgumentParser
import KumoKV

struct KVDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Remove a key, or with --to every key in [KEY, END).")

    @OptionGroup var store: StoreOptionsGroup
    @OptionGroup var keys: KeyFormatOptions
    @OptionGroup var cf: ColumnFamilyOption
    @Argument(help: "The key (the start of the range with --to).") var key: String
    @Option(help: "Delete the range [KEY, END) instead of one key.") var to: String?
    @Flag(help: "Wait until the write is on stable storage.") var sync = false

    func run() async throws {
        let db = try await store.open(create: false)
        defer { try? db.close() }
        let start = try keys.bytes(key, name: "key")
        if let to {
            let end = try keys.bytes(to, name: "--to")
            guard start.lexicographicallyPrecedes(end) else {
                throw ValidationError("the range start '\(key)' must sort before --to '\(to)'")
            }
            try db.deleteRange(from: start, to: end, in: cf.family, options: WriteOptions(sync: sync))
        } else {
            try db.delete(start, in: cf.family, options: WriteOptions(sync: sync))
        }
        let sequence = try db.latestSequenceNumber
        if store.json {
            try printJSON(["ok": "true", "sequenceNumber": String(sequence)])
        } else {
            print("ok (sequence \(sequence))")
        }
    }
}
