import ArgumentParser

struct KVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Read, write and inspect a Kumo store (a RocksDB database directory).",
        discussion: """
            Every subcommand takes --db PATH. Keys and values are UTF-8 text unless --hex is given, in which \
            case they are hexadecimal bytes (e.g. 00ff10). Output is for people unless --json is given.
            """,
        subcommands: [
            KVPut.self, KVGet.self, KVDelete.self, KVScan.self, KVStats.self, KVFiles.self, KVCheckpoint.self,
            KVChanges.self, KVColumnFamilies.self,
        ]
    )
}
