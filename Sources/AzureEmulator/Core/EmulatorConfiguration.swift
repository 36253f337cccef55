import Logging
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

/// An application the emulator's Entra ID token issuer knows (a client in the client credentials flow).
public struct ServicePrincipal: Sendable, Hashable {
    /// The application (client) id, sent as `client_id`.
    public var clientID: String
    /// The client secret accepted for this application, if any.
    public var clientSecret: String?
    /// PEM certificates (one or more) whose private keys may sign client assertions (certificate credentials).
    public var certificatePEM: String?
    /// The `sub` of federated tokens (issued by the emulator with audience `api://AzureADTokenExchange`) that
    /// this application accepts as a client assertion (workload identity federation).
    public var federatedSubject: String?

    public init(clientID: String, clientSecret: String? = nil, certificatePEM: String? = nil, federatedSubject: String? = nil) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.certificatePEM = certificatePEM
        self.federatedSubject = federatedSubject
    }

    /// The emulator's well-known development application: client id `kumo-dev`, secret `kumo-dev-secret`.
    /// Like the devstoreaccount1 key, the secret is public and means nothing outside the emulator.
    public static let development = ServicePrincipal(clientID: "kumo-dev", clientSecret: "kumo-dev-secret")
}

/// How the emulator runs.
public struct EmulatorConfiguration: Sendable {
    public var host: String
    /// The Blob service port; 0 picks a free one (see ``AzureEmulatorServer/run(onListening:)``).
    public var blobPort: Int
    /// Where containers, blobs and blocks are kept; they survive restarts.
    public var dataDirectory: String
    public var accounts: [StorageAccount]
    /// A fixed bearer token accepted in place of a signed Entra ID token (for clients that cannot reach the token issuer).
    public var staticBearerToken: String?
    /// The service version answered when a request names none.
    public var defaultServiceVersion: String
    /// Failures and latency injected for reliability tests; none by default.
    public var faults: FaultInjection
    /// How often expired uncommitted blocks and soft-deleted blobs are swept (also once at startup).
    public var maintenanceInterval: Duration
    /// The HTTPS port serving Entra ID, Key Vault and Blob; 0 picks a free one. Left out of `init`, it is 10443,
    /// or 0 when `blobPort` is 0.
    public var httpsPort: Int
    /// The Entra ID tenant the emulator issues tokens for; the authority is `https://127.0.0.1:<httpsPort>/<tenantID>`.
    public var tenantID: String
    /// How long issued access tokens stay valid (short values let tests see expiry).
    public var tokenLifetime: Duration
    /// Applications that may get tokens with the client credentials flow.
    public var servicePrincipals: [ServicePrincipal]
    /// The client id of the managed identity served at the IMDS and App Service token endpoints.
    public var managedIdentityClientID: String
    /// The secret the App Service managed identity endpoint requires in `X-IDENTITY-HEADER`.
    public var identityHeader: String
    /// The level of the emulator's own log (requests, maintenance); secrets are never logged at any level.
    public var logLevel: Logger.Level = .warning
    /// The Event Hubs namespace served over AMQP. Left out of `init`, it serves hub `kumo` (4 partitions) on
    /// 5672, or on a free port when `blobPort` is 0.
    public var eventHubs: EventHubsConfiguration

    public init(
        host: String = "127.0.0.1",
        blobPort: Int = 10000,
        dataDirectory: String,
        accounts: [StorageAccount] = [.development],
        staticBearerToken: String? = nil,
        defaultServiceVersion: String = "2026-10-06",
        faults: FaultInjection = .none,
        maintenanceInterval: Duration = .seconds(3600),
        httpsPort: Int? = nil,
        tenantID: String = "kumo-emulator",
        tokenLifetime: Duration = .seconds(3600),
        servicePrincipals: [ServicePrincipal] = [.development],
        managedIdentityClientID: String = "kumo-managed-identity",
        identityHeader: String = "kumo-identity-header",
        eventHubs: EventHubsConfiguration? = nil
    ) {
        self.host = host
        self.blobPort = blobPort
        self.dataDirectory = dataDirectory
        self.accounts = accounts
        self.staticBearerToken = staticBearerToken
        self.defaultServiceVersion = defaultServiceVersion
        self.faults = faults
        self.maintenanceInterval = maintenanceInterval
        // Without an explicit HTTPS port, an emulator on a free Blob port takes a free HTTPS port too, so
        // in-process emulators started side by side in tests never fight over 10443.
        self.httpsPort = httpsPort ?? (blobPort == 0 ? 0 : 10443)
        self.tenantID = tenantID
        self.tokenLifetime = tokenLifetime
        self.servicePrincipals = servicePrincipals
        self.managedIdentityClientID = managedIdentityClientID
        self.identityHeader = identityHeader
        self.eventHubs = eventHubs ?? EventHubsConfiguration(amqpPort: blobPort == 0 ? 0 : 5672)
    }
}
