import ArgumentParser
import AzureEmulator
import Foundation

/// `kumo emulator`: the local Azure-compatible emulator.
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run the local Azure-compatible emulator (Blob service, Entra ID, managed identity, Key Vault).",
        discussion: """
            Serves the Blob REST API at http://HOST:PORT/<account> for the well-known development account \
            devstoreaccount1 (the account `UseDevelopmentStorage=true` names) and any --account NAME:KEY given. \
            Containers, blobs, blocks, leases, versions and soft-deleted blobs are kept in --data and survive \
            restarts. Requests are authorised with Shared Key, a SAS (service or account) or --bearer-token. \
            Stop it with Ctrl-C.

            HTTPS (--https-port, default 10443) serves Entra ID (tenant --tenant, authority \
            https://127.0.0.1:PORT/TENANT), the Key Vault at https://127.0.0.1:PORT, and the Blob service again. Its \
            certificate is signed by a CA the emulator makes on first start: trust DATA/tls/ca.pem. The development \
            application kumo-dev (secret kumo-dev-secret) gets tokens with the client credentials flow; \
            --client, --client-certificate and --federated-subject register more. Managed identity answers at \
            http://HOST:PORT/metadata/identity/oauth2/token (IMDS, header Metadata: true) and /msi/token \
            (App Service, header X-IDENTITY-HEADER). Blob requests may carry these bearer tokens.

            Reliability testing: --fault-rate answers that share of requests with 503 ServerBusy or \
            500 InternalError, --fault-drop-rate closes that share of connections without an answer, and \
            --fault-latency-ms delays requests; --fault-operations limits all three to the named operations \
            (e.g. put-blob,put-block,get-blob); a lease operation may name one action, e.g. lease-blob:renew \
            (also :acquire, :change, :release, :break). Faults happen before anything changes, so retries are safe.
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
    @Option(help: "Comma-separated operations the faults apply to (default: all), e.g. put-blob,get-blob,lease-blob:renew.")
    var faultOperations: String?
    @Option(help: "Seconds between sweeps of expired uncommitted blocks and soft-deleted blobs.")
    var maintenanceInterval = 3600
    @Option(help: "The HTTPS port for Entra ID, Key Vault and Blob (default 10443, or a free one with --port 0; 0 picks a free one).")
    var httpsPort: Int?
    @Option(help: "The Entra ID tenant id tokens are issued for.") var tenant = "kumo-emulator"
    @Option(help: "Seconds an issued access token stays valid.") var tokenLifetime = 3600
    @Option(help: "An extra application as CLIENT_ID:SECRET (repeatable).") var client: [String] = []
    @Option(help: "A certificate for client assertions as CLIENT_ID:PEM_FILE (repeatable; registers the client if new).")
    var clientCertificate: [String] = []
    @Option(help: "A federated subject as CLIENT_ID:SUBJECT (repeatable; registers the client if new).")
    var federatedSubject: [String] = []
    @Option(help: "The X-IDENTITY-HEADER value the App Service managed identity endpoint requires.")
    var identityHeader = "kumo-identity-header"
    @Option(help: "The Event Hubs AMQP port (default 5672, or a free one with --port 0; 0 picks a free one; -1 serves no Event Hubs).")
    var amqpPort: Int?
    @Option(help: "An Event Hubs AMQPS port on the emulator's TLS certificate (off by default; 0 picks a free one).")
    var amqpsPort: Int?
    @Option(help: "An event hub as NAME or NAME:PARTITIONS (repeatable; default: kumo with 4 partitions).")
    var eventHub: [String] = []
    @Option(help: "A consumer group as HUB:GROUP (repeatable; $Default always exists).")
    var consumerGroup: [String] = []
    @Option(help: "Hours events are kept.") var eventRetentionHours = 24
    @Flag(help: "Print the endpoints as JSON.") var json = false

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
        if let httpsPort, !(0...65535).contains(httpsPort) {
            throw ValidationError("--https-port must be 0-65535, not \(httpsPort)")
        }
        guard tokenLifetime > 0 else { throw ValidationError("--token-lifetime must be positive") }
        guard !tenant.isEmpty, !tenant.contains("/") else { throw ValidationError("--tenant must be a non-empty name without '/'") }
        for (flag, entries) in [("--client", client), ("--client-certificate", clientCertificate), ("--federated-subject", federatedSubject)] {
            for entry in entries where entry.split(separator: ":", maxSplits: 1).count != 2 {
                throw ValidationError("\(flag) must be CLIENT_ID:VALUE, not '\(entry.split(separator: ":").first ?? "")'")
            }
        }
        for entry in clientCertificate {
            let path = String(entry.split(separator: ":", maxSplits: 1)[1])
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ValidationError("--client-certificate: cannot read '\(path)'")
            }
        }
        guard maintenanceInterval > 0 else { throw ValidationError("--maintenance-interval must be positive") }
        if let amqpPort, !(-1...65535).contains(amqpPort) { throw ValidationError("--amqp-port must be 0-65535 (or -1 for none), not \(amqpPort)") }
        if let amqpsPort, !(0...65535).contains(amqpsPort) { throw ValidationError("--amqps-port must be 0-65535, not \(amqpsPort)") }
        guard eventRetentionHours > 0 else { throw ValidationError("--event-retention-hours must be positive") }
        _ = try eventHubs()
        let unknown = operations.subtracting(FaultInjection.operationNames)
        guard unknown.isEmpty else {
            throw ValidationError(
                "--fault-operations: unknown \(unknown.sorted().joined(separator: ", ")); known: \(FaultInjection.operationNames.joined(separator: ", "))")
        }
    }

    /// The development application plus every --client, --client-certificate and --federated-subject.
    private func principals() throws -> [ServicePrincipal] {
        var principals = [ServicePrincipal.development]
        func index(of clientID: String) -> Int {
            if let found = principals.firstIndex(where: { $0.clientID == clientID }) { return found }
            principals.append(ServicePrincipal(clientID: clientID))
            return principals.count - 1
        }
        func split(_ entry: String) -> (String, String) {
            let parts = entry.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), String(parts[1]))
        }
        for entry in client {
            let (id, secret) = split(entry)
            principals[index(of: id)].clientSecret = secret
        }
        for entry in clientCertificate {
            let (id, path) = split(entry)
            let pem = try String(contentsOfFile: path, encoding: .utf8)
            let position = index(of: id)
            principals[position].certificatePEM = (principals[position].certificatePEM ?? "") + pem
        }
        for entry in federatedSubject {
            let (id, subject) = split(entry)
            principals[index(of: id)].federatedSubject = subject
        }
        return principals
    }

    /// The Event Hubs namespace from --amqp-port, --amqps-port, --event-hub and --consumer-group.
    private func eventHubs() throws -> EventHubsConfiguration {
        var hubs: [EventHubDefinition] = []
        for entry in eventHub {
            do { hubs.append(try EventHubDefinition(parsing: entry)) } catch { throw ValidationError("--event-hub: \(error)") }
            if hubs.dropLast().contains(where: { $0.name.lowercased() == hubs.last!.name.lowercased() }) {
                throw ValidationError("--event-hub: \(hubs.last!.name) is given twice")
            }
        }
        if hubs.isEmpty { hubs = [EventHubDefinition(name: "kumo")] }
        for entry in consumerGroup {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty, let index = hubs.firstIndex(where: { $0.name.lowercased() == parts[0].lowercased() }) else {
                throw ValidationError("--consumer-group must be HUB:GROUP naming a hub given with --event-hub, not '\(entry)'")
            }
            hubs[index].consumerGroups.append(parts[1])
        }
        let plain = amqpPort ?? (port == 0 ? 0 : 5672)
        return EventHubsConfiguration(
            amqpPort: plain < 0 ? nil : plain, amqpsPort: amqpsPort, hubs: hubs,
            retention: .seconds(eventRetentionHours * 3600))
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
        var configuration = EmulatorConfiguration(
            host: host, blobPort: port, dataDirectory: data, accounts: accounts, staticBearerToken: bearerToken,
            faults: faults, maintenanceInterval: .seconds(maintenanceInterval), httpsPort: httpsPort, tenantID: tenant,
            tokenLifetime: .seconds(tokenLifetime), servicePrincipals: try principals(), identityHeader: identityHeader,
            eventHubs: try eventHubs())
        configuration.logLevel = KumoLogging.level(ProcessInfo.processInfo.environment)
        let names = accounts.map(\.name)
        let json = self.json
        let servesDevelopmentAccount = !noDevelopmentAccount
        let hubNames = configuration.eventHubs.hubs.map { "\($0.name) (\($0.partitionCount) partitions)" }
        try await AzureEmulatorServer(configuration: configuration).run { (endpoints: EmulatorEndpoints) in
            let start = EmulatorStart(endpoints: endpoints, servesDevelopmentAccount: servesDevelopmentAccount)
            if json {
                print(start.json(firstAccount: names[0]))
            } else {
                for name in names {
                    print("Blob service:        \(endpoints.blobEndpoint(account: name))")
                    print("Blob service (TLS):  \(endpoints.blobHTTPSEndpoint(account: name))")
                }
                print("Key Vault:           \(endpoints.keyVaultURL)")
                print("Authority host:      \(endpoints.authorityHost)")
                print("Tenant:              \(endpoints.tenantID)")
                print("Token endpoint:      \(endpoints.tokenEndpoint)")
                print("Development client:  \(ServicePrincipal.development.clientID) (secret \(ServicePrincipal.development.clientSecret ?? ""))")
                print("IMDS:                \(endpoints.imdsEndpoint)/metadata/identity/oauth2/token (AZURE_POD_IDENTITY_AUTHORITY_HOST=\(endpoints.imdsEndpoint))")
                print("App Service MSI:     IDENTITY_ENDPOINT=\(endpoints.appServiceIdentityEndpoint) IDENTITY_HEADER=\(endpoints.identityHeader)")
                print("Managed identity:    \(endpoints.managedIdentityClientID)")
                if let amqpPort = endpoints.amqpPort {
                    print("Event Hubs (AMQP):   amqp://\(endpoints.host):\(amqpPort) (hubs \(hubNames.joined(separator: ", ")))")
                }
                if let amqpsPort = endpoints.amqpsPort {
                    print("Event Hubs (AMQPS):  amqps://\(endpoints.host):\(amqpsPort)")
                }
                print("CA certificate:      \(start.caFile)")
                print(start.text(otherAccounts: servesDevelopmentAccount ? Array(names.dropFirst()) : names))
            }
            fflush(nil)
        }
    }
}

/// What an operator pastes to use a running emulator: the environment `kumo` and Microsoft's SDKs read, for
/// the ports actually bound. Only the emulator's public development credentials appear (devstoreaccount1's
/// well-known key, the kumo-dev application's secret, the Event Hubs development key); keys given with --account and --client stay unprinted.
struct EmulatorStart {
    var endpoints: EmulatorEndpoints
    var servesDevelopmentAccount: Bool

    /// The CA certificate as an absolute path, so the exports work from any directory.
    var caFile: String { URL(fileURLWithPath: endpoints.caCertificatePath).standardizedFileURL.path }

    /// devstoreaccount1's connection string, or nil when --no-development-account left it out.
    var connectionString: String? {
        guard servesDevelopmentAccount else { return nil }
        let account = StorageAccount.development
        return "DefaultEndpointsProtocol=http;AccountName=\(account.name);AccountKey=\(account.key);"
            + "BlobEndpoint=\(endpoints.blobEndpoint(account: account.name));"
    }

    /// The variables to export, in the order they are printed.
    var environment: [(name: String, value: String)] {
        var variables: [(name: String, value: String)] = []
        if let connectionString { variables.append(("AZURE_STORAGE_CONNECTION_STRING", connectionString)) }
        if let eventHubs = endpoints.eventHubsConnectionString() { variables.append(("AZURE_EVENTHUBS_CONNECTION_STRING", eventHubs)) }
        variables += [
            ("AZURE_TENANT_ID", endpoints.tenantID),
            ("AZURE_CLIENT_ID", ServicePrincipal.development.clientID),
            ("AZURE_CLIENT_SECRET", ServicePrincipal.development.clientSecret ?? ""),
            ("AZURE_AUTHORITY_HOST", endpoints.authorityHost),
            ("AZURE_KEYVAULT_URL", endpoints.keyVaultURL),
            ("KUMO_CA_FILE", caFile),
        ]
        return variables
    }

    /// The paste-able block (no comment lines: zsh runs `#` as a command unless interactivecomments is set).
    func text(otherAccounts: [String]) -> String {
        var lines = ["", "To use this emulator from a shell, paste:"]
        lines += environment.map { "export \($0.name)=\(Self.shellQuoted($0.value))" }
        lines.append("")
        for name in otherAccounts {
            lines.append(
                "Account \(name): DefaultEndpointsProtocol=http;AccountName=\(name);AccountKey=<the key given to --account>;"
                    + "BlobEndpoint=\(endpoints.blobEndpoint(account: name));")
        }
        lines += [
            "Other clients trust the CA through their own variables, which replace the system's CAs for that process:",
            "  Python SDKs (requests):   REQUESTS_CA_BUNDLE=\(Self.shellQuoted(caFile))",
            "  OpenSSL, curl, Go, Rust:  SSL_CERT_FILE=\(Self.shellQuoted(caFile))",
            "  Node.js (adds to them):   NODE_EXTRA_CA_CERTS=\(Self.shellQuoted(caFile))",
            "Listening. Stop with Ctrl-C; logs go to standard error (KUMO_LOG_LEVEL=info for more).",
        ]
        return lines.joined(separator: "\n")
    }

    /// One line of JSON, so scripts can read the record with one `readline` before the logs begin.
    func json(firstAccount: String) -> String {
        var object: [String: Any] = [
            "blobEndpoint": endpoints.blobEndpoint(account: firstAccount), "port": endpoints.blobPort,
            "blobHTTPSEndpoint": endpoints.blobHTTPSEndpoint(account: firstAccount), "httpsPort": endpoints.httpsPort,
            "accountName": firstAccount,
            "authorityHost": endpoints.authorityHost, "tenantID": endpoints.tenantID,
            "authority": endpoints.authority,
            "tokenEndpoint": endpoints.tokenEndpoint, "keyVaultURL": endpoints.keyVaultURL,
            "imdsEndpoint": endpoints.imdsEndpoint, "identityEndpoint": endpoints.appServiceIdentityEndpoint,
            "identityHeader": endpoints.identityHeader, "caCertificatePath": caFile,
            "clientID": ServicePrincipal.development.clientID,
            "clientSecret": ServicePrincipal.development.clientSecret ?? "",
            "managedIdentityClientID": endpoints.managedIdentityClientID,
            "environment": Dictionary(uniqueKeysWithValues: environment.map { ($0.name, $0.value) }),
        ]
        if let connectionString { object["connectionString"] = connectionString }
        if let eventHubs = endpoints.eventHubsConnectionString() {
            object["eventHubsConnectionString"] = eventHubs
            object["amqpPort"] = endpoints.amqpPort
        }
        if let amqpsPort = endpoints.amqpsPort { object["amqpsPort"] = amqpsPort }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `value` as one shell word: bare when it has only characters no shell treats specially, else single-quoted.
    static func shellQuoted(_ value: String) -> String {
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+,")
        if !value.isEmpty, value.allSatisfy(plain.contains) { return value }
        return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
