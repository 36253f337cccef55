/// A storage account the emulator serves.
public struct StorageAccount: Sendable, Hashable {
    /// The account name; requests address it as the first path segment (`/devstoreaccount1/...`).
    public var name: String
    /// The base64 account key Shared Key signatures are checked against.
    public var key: String
    /// Whether every write keeps the blob's previous state as a version (Azure's blob versioning, which is
    /// switched on per account through the management plane rather than the Blob REST API).
    public var versioningEnabled: Bool

    public init(name: String, key: String, versioningEnabled: Bool = false) {
        self.name = name
        self.key = key
        self.versioningEnabled = versioningEnabled
    }

    /// The well-known development account that Microsoft's tools use for `UseDevelopmentStorage=true`.
    public static let development = StorageAccount(
        name: "devstoreaccount1",
        key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
}

/// How the emulator runs.
public struct EmulatorConfiguration: Sendable {
    public var host: String
    /// The Blob service port; 0 picks a free one (see ``BlobEmulator/run(onListening:)``).
    public var blobPort: Int
    /// Where containers, blobs and blocks are kept; they survive restarts.
    public var dataDirectory: String
    public var accounts: [StorageAccount]
    /// A bearer token accepted in place of a Shared Key signature (until the emulator issues its own tokens).
    public var staticBearerToken: String?
    /// The service version answered when a request names none.
    public var defaultServiceVersion: String
    /// Failures and latency injected for reliability tests; none by default.
    public var faults: FaultInjection
    /// How often expired uncommitted blocks and soft-deleted blobs are swept (also once at startup).
    public var maintenanceInterval: Duration

    public init(
        host: String = "127.0.0.1",
        blobPort: Int = 10000,
        dataDirectory: String,
        accounts: [StorageAccount] = [.development],
        staticBearerToken: String? = nil,
        defaultServiceVersion: String = "2026-10-06",
        faults: FaultInjection = .none,
        maintenanceInterval: Duration = .seconds(3600)
    ) {
        self.host = host
        self.blobPort = blobPort
        self.dataDirectory = dataDirectory
        self.accounts = accounts
        self.staticBearerToken = staticBearerToken
        self.defaultServiceVersion = defaultServiceVersion
        self.faults = faults
        self.maintenanceInterval = maintenanceInterval
    }
}
