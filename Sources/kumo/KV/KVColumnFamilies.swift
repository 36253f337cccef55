import ArgumentParser
import KumoKV

struct KVColumnFamilies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cf", abstract: "List, create or drop column families.")

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case list, create, drop
    }

    @OptionGroup var store: StoreOptionsGroup
    @Argument(help: "list, create or drop.") var action: Action = .list
    @Argument(help: "The column family to create or drop.") var name: String?

    func validate() throws {
        if action != .list && (name ?? "").isEmpty {
            throw ValidationError("'\(action.rawValue)' needs a column family name")
        }
    }

    func run() async throws {
        let db = try await store.open(create: action == .create)
        defer { try? db.close() }
        switch action {
        case .list: break
        case .create: try db.createColumnFamily(name ?? "")
        case .drop: try db.dropColumnFamily(ColumnFamily(name ?? ""))
        }
        let names = db.columnFamilies.map(\.name)
        if store.json { try printJSON(names) } else { names.forEach { print($0) } }
    }
}
