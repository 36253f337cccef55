import ArgumentParser
import KumoKV

struct KVCheckpoint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Write a consistent, openable copy of the store into a new directory (hard links where possible).")

    @OptionGroup var store: StoreOptionsGroup
    @Argument(help: "The directory to create; it must not exist.") var directory: String

    func run() async throws {
        let db = try await store.open(create: false)
        defer { try? db.close() }
        let info = try await db.checkpoint(to: directory)
        if store.json {
            try printJSON(["path": info.path, "sequenceNumber": String(info.sequenceNumber)])
        } else {
            print("checkpoint at \(info.path) (sequence \(info.sequenceNumber))")
        }
    }
}
