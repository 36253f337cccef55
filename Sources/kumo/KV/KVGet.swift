import ArgumentParser
import KumoKV

struct KVGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print the value stored under a key (exit code 1 when there is none).")

    @OptionGroup var store: StoreOptionsGroup
    @OptionGroup var keys: KeyFormatOptions
    @OptionGroup var cf: ColumnFamilyOption
    @Argument(help: "The key.") var key: String

    func run() async throws {
        let db = try await store.open(create: false)
        defer { try? db.close() }
        let keyBytes = try keys.bytes(key, name: "key")
        let value = try db.get(keyBytes, in: cf.family)
        if store.json {
            try printJSON(GetResult(key: ByteText.json(keyBytes), value: value.map(ByteText.json), found: value != nil))
        } else if let value {
            print(keys.text(value))
        } else {
            printError("not found: \(key)")
        }
        if value == nil { throw ExitCode(1) }
    }

    struct GetResult: Encodable {
        var key: [String: String]
        var value: [String: String]?
        var found: Bool
    }
}

func printError(_ message: String) {
    var standardError = StandardError()
    print(message, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleOutput.writeToStandardError(string)
    }
}
