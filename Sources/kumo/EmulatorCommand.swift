import ArgumentParser
import AzureEmulator
import Foundation

/// `kumo emulator`: the local Azure-compatible emulator.
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run the local Azure-compatible emulator (Blob service).",
        discussion: """
            Serves the Blob REST API at http://HOST:PORT/<account> for the well-known development account \
            devstoreaccount1 (the account `UseDevelopmentStorage=true` names) and any --account NAME:KEY given. \
            Containers, blobs and blocks are kept in --data and survive restarts. Stop it with Ctrl-C.
            """)

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The Blob service port (0 picks a free one and prints it).") var port = 10000
    @Option(help: "The data directory (created if missing).") var data = "./kumo-emulator-data"
    @Option(help: "An extra storage account as NAME:BASE64KEY (repeatable).") var account: [String] = []
    @Option(help: "A bearer token to accept in place of Shared Key signatures.") var bearerToken: String?
    @Flag(help: "Do not serve the development account devstoreaccount1.") var noDevelopmentAccount = false
    @Flag(help: "Print the listening address as JSON.") var json = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, not \(port)") }
        for entry in account {
            let parts = entry.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, Data(base64Encoded: String(parts[1])) != nil else {
                throw ValidationError("--account must be NAME:BASE64KEY; '\(entry.split(separator: ":").first ?? "")' has no valid base64 key")
            }
        }
        if noDevelopmentAccount && account.isEmpty {
            throw ValidationError("--no-development-account needs at least one --account")
        }
    }

    func run() async throws {
        var accounts = account.map { entry -> StorageAccount in
            let parts = entry.split(separator: ":", maxSplits: 1)
            return StorageAccount(name: String(parts[0]), key: String(parts[1]))
        }
        if !noDevelopmentAccount { accounts.insert(.development, at: 0) }
        let configuration = EmulatorConfiguration(
            host: host, blobPort: port, dataDirectory: data, accounts: accounts, staticBearerToken: bearerToken)
        let names = accounts.map(\.name)
        let host = self.host
        let json = self.json
        try await BlobEmulator(configuration: configuration).run { port in
            if json {
                print("{\"blobEndpoint\":\"http://\(host):\(port)/\(names[0])\",\"port\":\(port)}")
            } else {
                for name in names { print("Blob service: http://\(host):\(port)/\(name)") }
            }
            fflush(nil)
        }
    }
}
