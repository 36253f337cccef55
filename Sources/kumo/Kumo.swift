import ArgumentParser

@main
struct Kumo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kumo",
        abstract: "A key-value store on RocksDB, with backups, encryption and change streams on Azure.",
        version: KumoVersion.string,
        subcommands: [KVCommand.self, BackupCommand.self, BlobCommand.self, EmulatorCommand.self, DemoCommand.self]
    )
}

enum KumoVersion {
    static let string = "0.1.0"
}
