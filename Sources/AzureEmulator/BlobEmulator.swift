import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The emulator's Blob service: a Hummingbird application over ``BlobStorage``.
public struct BlobEmulator: Sendable {
    public let configuration: EmulatorConfiguration

    public init(configuration: EmulatorConfiguration) {
        self.configuration = configuration
    }

    /// Runs the Blob service until the task is cancelled or the process gets SIGINT/SIGTERM.
    /// `onListening` receives the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let storage = try await BlobStorage(dataDirectory: configuration.dataDirectory)
        let boundPort = Mutex(configuration.blobPort)
        let host = configuration.host
        let responder = BlobResponder(
            configuration: configuration, storage: storage,
            baseURL: { "http://\(host):\(boundPort.withLock { $0 })" })
        var logger = Logger(label: "kumo.emulator.blob")
        logger.logLevel = .warning
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
        try await application.runService()
    }
}
