import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The emulator's Blob service: a Hummingbird application over ``BlobStorage``, plus the maintenance sweep
/// that discards week-old uncommitted blocks and purges soft-deleted blobs past their retention.
public struct BlobEmulator: Sendable {
    public let configuration: EmulatorConfiguration

    public init(configuration: EmulatorConfiguration) {
        self.configuration = configuration
    }

    /// Runs the Blob service until the task is cancelled or the process gets SIGINT/SIGTERM.
    /// `onListening` receives the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let storage = try await BlobStorage(
            dataDirectory: configuration.dataDirectory,
            versionedAccounts: Set(configuration.accounts.filter(\.versioningEnabled).map(\.name)))
        var logger = Logger(label: "kumo.emulator.blob")
        logger.logLevel = .warning
        // Expired state is removed before the first request is served.
        try await Self.sweep(storage, logger: logger)

        let boundPort = Mutex(configuration.blobPort)
        let host = configuration.host
        let responder = BlobResponder(
            configuration: configuration, storage: storage,
            baseURL: { "http://\(host):\(boundPort.withLock { $0 })" })
        let application = Application(
            responder: responder,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.blobPort),
                serverName: "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                boundPort.withLock { $0 = port }
                await onListening(port)
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
                    } catch {
                        sweepLogger.error("maintenance sweep failed: \(error)")
                    }
                }
            }
            // The server ends on a signal or cancellation; the sweep loop ends with it.
            defer { group.cancelAll() }
            try await application.runService()
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
