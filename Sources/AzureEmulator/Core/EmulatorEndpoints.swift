/// Where a running emulator answers, reported once every listener is bound.
public struct EmulatorEndpoints: Sendable, Hashable {
    /// The address both listeners are bound to.
    public var host: String
    /// The plain-http port: the Blob service and the managed identity endpoints.
    public var blobPort: Int
    /// The HTTPS port: Entra ID, Key Vault, the Blob service and the managed identity endpoints.
    public var httpsPort: Int
    /// The emulator's CA certificate (PEM); trust it to reach the HTTPS listener.
    public var caCertificatePath: String
    /// The Entra ID tenant tokens are issued for.
    public var tenantID: String
    /// The client id of the managed identity.
    public var managedIdentityClientID: String
    /// The value the App Service managed identity endpoint expects in `X-IDENTITY-HEADER` (`IDENTITY_HEADER`).
    public var identityHeader: String
    /// The plain AMQP port of the Event Hubs namespace, if it is served.
    public var amqpPort: Int? = nil
    /// The AMQPS port of the Event Hubs namespace (the emulator's TLS certificate), if it is served.
    public var amqpsPort: Int? = nil

    /// The Event Hubs connection string for the emulator's namespace (development key), or nil without AMQP.
    public func eventHubsConnectionString(eventHubName: String? = nil) -> String? {
        amqpPort.map { EventHubsConfiguration.connectionString(host: host, port: $0, eventHubName: eventHubName) }
    }

    /// `https://127.0.0.1:<httpsPort>`: the authority host for azure-identity and MSAL.
    public var authorityHost: String { "https://127.0.0.1:\(httpsPort)" }
    /// `https://127.0.0.1:<httpsPort>/<tenant>`: the authority.
    public var authority: String { "\(authorityHost)/\(tenantID)" }
    /// `https://127.0.0.1:<httpsPort>/<tenant>/oauth2/v2.0/token`.
    public var tokenEndpoint: String { "\(authority)/oauth2/v2.0/token" }
    /// `POST` here with form field `sub` for a federated token (audience `api://AzureADTokenExchange`) that a
    /// client registered with that federated subject may present as its client assertion (workload identity).
    public var federatedTokenEndpoint: String { "\(authority)/federated-token" }
    /// The vault URL of the emulator's one Key Vault.
    public var keyVaultURL: String { "https://127.0.0.1:\(httpsPort)" }
    /// `http://<host>:<blobPort>/<account>`.
    public func blobEndpoint(account: String = StorageAccount.development.name) -> String {
        "http://\(host):\(blobPort)/\(account)"
    }
    /// `https://127.0.0.1:<httpsPort>/<account>`, the endpoint for bearer-token clients.
    public func blobHTTPSEndpoint(account: String = StorageAccount.development.name) -> String {
        "https://127.0.0.1:\(httpsPort)/\(account)"
    }
    /// `IDENTITY_ENDPOINT` for App Service managed identity: `http://<host>:<blobPort>/msi/token`.
    public var appServiceIdentityEndpoint: String { "http://\(host):\(blobPort)/msi/token" }
    /// The IMDS base (what `AZURE_POD_IDENTITY_AUTHORITY_HOST` names): `http://<host>:<blobPort>`.
    public var imdsEndpoint: String { "http://\(host):\(blobPort)" }
}
