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
            Containers, blobs, blocks, leases, versions and soft-deleted blobs are kept in --data and survive \
            restarts. Requests are authorised with Shared Key, a SAS (service or account) or --bearer-token. \
            Stop it with Ctrl-C.

            Reliability testing: --fault-rate answers that share of requests with 503 ServerBusy or \
            500 InternalError, --fault-drop-rate closes that share of connections without an answer, and \
            --fault-latency-ms delays requests; --fault-operations limits all three to the named operations \
            (e.g. put-blob,put-block,get-blob). Faults happen before anything changes, so retries are safe.
            """)

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The Blob service port (0 picks a free one and prints it).") var port = 10000
    @Option(help: "The data directory (created if missing).") var data = "./kumo-emulator-data"
    @Option(help: "An extra storage account as NAME:BASE64KEY (repeatable).") var account: [String] = []
    @Option(help: "A bearer token to accept in place of Shared Key signatures.") var bearerToken: String?
    @Flag(help: "Do not serve the development account devstoreaccount1.") var noDevelopmentAccount = false
    @Flag(help: "Keep a version of every blob write in all accounts (Azure's blob versioning).") var versioning = false
    @Option(help: "Share of requests (0-1) answered 503 ServerBusy or 500 InternalError.") var faultRate = 0.0
    @Option(help: "Share of requests (0-1) whose connection is closed without a response.") var faultDropRate = 0.0
    @Option(help: "Milliseconds to delay each affected request.") var faultLatencyMs = 0
    @Option(help: "Comma-separated operations the faults apply to (default: all), e.g. put-blob,get-blob.")
    var faultOperations: String?
    @Option(help: "Seconds between sweeps of expired uncommitted blocks and soft-deleted blobs.")
    var maintenanceInterval = 3600
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
        guard (0...1).contains(faultRate) else { throw ValidationError("--fault-rate must be 0-1, not \(faultRate)") }
        guard (0...1).contains(faultDropRate) else { throw ValidationError("--fault-drop-rate must be 0-1, not \(faultDropRate)") }
        guard faultLatencyMs >= 0 else { throw ValidationError("--fault-latency-ms must not be negative") }
        guard maintenanceInterval > 0 else { throw ValidationError("--maintenance-interval must be positive") }
        let unknown = operations.subtracting(FaultInjection.operationNames)
        guard unknown.isEmpty else {
            throw ValidationError(
                "--fault-operations: unknown \(unknown.sorted().joined(separator: ", ")); known: \(FaultInjection.operationNames.joined(separator: ", "))")
        }
    }

    private var operations: Set<String> {
        Set((faultOperations ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    func run() async throws {
        var accounts = account.map { entry -> StorageAccount in
            let parts = entry.split(separator: ":", maxSplits: 1)
            return StorageAccount(name: String(parts[0]), key: String(parts[1]))
        }
        if !noDevelopmentAccount { accounts.insert(.development, at: 0) }
        if versioning {
            for index in accounts.indices { accounts[index].versioningEnabled = true }
        }
        let faults = FaultInjection(
            errorRate: faultRate, dropRate: faultDropRate, latencyMilliseconds: faultLatencyMs, operations: operations)
        let configuration = EmulatorConfiguration(
            host: host, blobPort: port, dataDirectory: data, accounts: accounts, staticBearerToken: bearerToken,
            faults: faults, maintenanceInterval: .seconds(maintenanceInterval))
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
