import ArgumentParser
import KumoKV

struct KVPut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put", abstract: "Store a value under a key.")

    @OptionGroup var store: StoreOptionsGroup
    @OptionGroup var keys: KeyFormatOptions
    @OptionGroup var cf: ColumnFamilyOption
    @Argument(help: "The key.") var key: String
    @Argument(help: "The value.") var value: String
    @Flag(help: "Wait until the write is on stable storage.") var sync = false

    func run() async throws {
        let db = try await store.open(create: true)
        defer { try? db.close() }
        try db.put(
            try keys.bytes(key, name: "key"), try keys.bytes(value, name: "value"), in: cf.family,
            options: WriteOptions(sync: sync))
        let sequence = try db.latestSequenceNumber
        if store.json {
            try printJSON(["ok": "true", "sequenceNumber": String(sequence)])
        } else {
            print("ok (sequence \(sequence))")
        }
    }
}
