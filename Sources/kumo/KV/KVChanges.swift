import ArgumentParser
import KumoKV

struct KVChanges: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changes",
        abstract: "Print the changes recorded in the write-ahead log, from a sequence number on.",
        discussion: "To resume after the last change you processed, pass --since <its sequence number + 1>.")

    @OptionGroup var store: StoreOptionsGroup
    @OptionGroup var keys: KeyFormatOptions
    @Option(help: "The first sequence number to print.") var since: UInt64 = 0
    @Option(help: "Stop after this many changes.") var limit: Int?

    func run() async throws {
        let db = try await store.open(create: false)
        defer { try? db.close() }
        var count = 0
        for try await change in db.changes(since: since) {
            if store.json {
                // One JSON object per line, so a script can stream them.
                try printJSONLine(ChangeJSON(change))
            } else {
                var line = "\(change.sequenceNumber)\t\(change.columnFamily ?? "#\(change.columnFamilyID)")\t"
                line += "\(change.operation.rawValue)\t\(keys.text(change.key))"
                if let end = change.endKey { line += " .. \(keys.text(end))" }
                if let value = change.value { line += "\t\(keys.text(value))" }
                print(line)
            }
            count += 1
            if let limit, count >= limit { break }
        }
    }

    struct ChangeJSON: Encodable {
        var sequenceNumber: UInt64
        var columnFamily: String?
        var columnFamilyID: UInt32
        var operation: String
        var key: [String: String]
        var value: [String: String]?
        var endKey: [String: String]?

        init(_ change: ChangeRecord) {
            sequenceNumber = change.sequenceNumber
            columnFamily = change.columnFamily
            columnFamilyID = change.columnFamilyID
            operation = change.operation.rawValue
            key = ByteText.json(change.key)
            value = change.value.map(ByteText.json)
            endKey = change.endKey.map(ByteText.json)
        }
    }
}
