import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import Synchronization

/// The emulator: the Blob service on plain http, and on HTTPS the Blob service again plus Entra ID (token
/// issuer), managed identity and Key Vault; plus the maintenance sweep that discards week-old uncommitted blocks
/// and purges soft-deleted blobs past their retention.
public struct AzureEmulatorServer: Sendable {
    public let configuration: EmulatorConfiguration

    public init(configuration: EmulatorConfiguration) {
        self.configuration = configuration
    }

    /// Runs the Blob service until the task is cancelled or the process gets SIGINT/SIGTERM.
    /// `onListening` receives the bound Blob port (useful with port 0).
    @_disfavoredOverload
    public func run(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        try await run(onListening: { (endpoints: EmulatorEndpoints) in await onListening(endpoints.blobPort) })
    }

    /// Runs every listener until the task is cancelled or the process gets SIGINT/SIGTERM.
    /// `onListening` receives the bound ports, the CA certificate path and the tenant once both listeners are up.
    /// Throws when the data directory, the TLS material or a port cannot be used.
    public func run(onListening: @escaping @Sendable (EmulatorEndpoints) async -> Void = { _ in }) async throws {
        let storage = try await BlobStorage(
            dataDirectory: configuration.dataDirectory,
            versionedAccounts: Set(configuration.accounts.filter(\.versioningEnabled).map(\.name)))
        var logger = Logger(label: "kumo.emulator.blob")
        logger.logLevel = configuration.logLevel
        // Expired state is removed before the first request is served.
        try await Self.sweep(storage, logger: logger)

        let tls = try TLSMaterial.loadOrCreate(in: configuration.dataDirectory) { reason in logger.warning("\(reason)") }
        let issuer = try TokenIssuer(
            dataDirectory: configuration.dataDirectory, tenantID: configuration.tenantID, lifetime: configuration.tokenLifetime)
        let entra = try EntraResponder(configuration: configuration, issuer: issuer)
        let keyVault = try KeyVaultResponder(
            configuration: configuration, issuer: issuer, store: KeyVaultStore(dataDirectory: configuration.dataDirectory))

        let eventHubs = try await EventHubsListeners.start(
            configuration: configuration, dataDirectory: configuration.dataDirectory, issuer: issuer, tls: tls,
            logLevel: configuration.logLevel)

        let ports = Mutex<(blob: Int?, https: Int?, reported: Bool)>((nil, nil, false))
        let host = configuration.host
        let configuration = self.configuration
        @Sendable func report() async {
            let ready = ports.withLock { state -> EmulatorEndpoints? in
                guard let blob = state.blob, let https = state.https, !state.reported else { return nil }
                state.reported = true
                return EmulatorEndpoints(
                    host: host, blobPort: blob, httpsPort: https, caCertificatePath: tls.caCertificatePath,
                    tenantID: configuration.tenantID, managedIdentityClientID: configuration.managedIdentityClientID,
                    identityHeader: configuration.identityHeader, amqpPort: eventHubs.amqpPort, amqpsPort: eventHubs.amqpsPort)
            }
            if let ready { await onListening(ready) }
        }

        let httpBlob = BlobResponder(
            configuration: configuration, storage: storage,
            baseURL: { "http://\(host):\(ports.withLock { $0.blob ?? configuration.blobPort })" },
            tokenIssuer: issuer)
        let httpsBlob = BlobResponder(
            configuration: configuration, storage: storage, baseURL: { issuer.authorityHost }, tokenIssuer: issuer,
            isHTTPS: true)
        let httpsApplication = Application(
            responder: EmulatorResponder(blob: httpsBlob, entra: entra, keyVault: keyVault),
            server: try .tls(.http1(), tlsConfiguration: tls.serverConfiguration()),
            // Each service names itself in `Server`; the Blob responder does so for Blob requests.
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.httpsPort)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                issuer.setHTTPSPort(port)
                ports.withLock { $0.https = port }
                await report()
            },
            logger: logger)
        let application = Application(
            responder: EmulatorResponder(blob: httpBlob, entra: entra, keyVault: nil),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.blobPort),
                serverName: "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"),
            services: [httpsApplication],
            onServerRunning: { channel in
                ports.withLock { $0.blob = channel.localAddress?.port ?? 0 }
                await report()
            },
            logger: logger)
        let interval = configuration.maintenanceInterval
        let sweepLogger = logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    do {
                        try await Self.sweep(storage, logger: sweepLogger)
                        try await eventHubs.sweep(logger: sweepLogger)
                    } catch {
                        sweepLogger.error("maintenance sweep failed: \(error)")
                    }
                }
            }
            // The servers end on a signal or cancellation; the sweep loop ends with them.
            defer { group.cancelAll() }
            try await application.runService()
        }
        await eventHubs.stop(logger: logger)
        do {
            try await storage.close()
        } catch {
            // Something still reads (a listing cut short); the store then closes when the last reader lets go.
            logger.warning("closing the store at shutdown: \(error)")
        }
    }

    private static func sweep(_ storage: BlobStorage, logger: Logger) async throws {
        let report = try await storage.sweep()
        if report != BlobStorage.SweepReport() {
            logger.notice(
                "maintenance: discarded \(report.discardedBlocks) uncommitted blocks of \(report.discardedBlockLists) blobs, purged \(report.purgedBlobs) soft-deleted blobs")
        }
    }
}
