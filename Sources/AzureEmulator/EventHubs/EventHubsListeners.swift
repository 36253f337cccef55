import AMQP
import Logging
import NIOSSL

/// The Event Hubs listeners of a running emulator: plain AMQP and, if asked for, AMQPS on the emulator's
/// certificate, both serving one namespace whose events live in the data directory.
struct EventHubsListeners: Sendable {
    let service: EventHubsService?
    let servers: [AMQPServer]
    let amqpPort: Int?
    let amqpsPort: Int?

    static func start(
        configuration: EmulatorConfiguration, dataDirectory: String, issuer: TokenIssuer, tls: TLSMaterial, logLevel: Logger.Level
    ) async throws -> EventHubsListeners {
        let eventHubs = configuration.eventHubs
        guard eventHubs.amqpPort != nil || eventHubs.amqpsPort != nil else {
            return EventHubsListeners(service: nil, servers: [], amqpPort: nil, amqpsPort: nil)
        }
        var logger = Logger(label: "kumo.emulator.eventhubs")
        logger.logLevel = logLevel
        let log = try await EventLog(dataDirectory: dataDirectory, hubs: eventHubs.hubs)
        let service = EventHubsService(configuration: eventHubs, log: log, issuer: issuer, faults: configuration.faults, logger: logger)
        _ = try await log.sweep(retention: eventHubs.retention)
        var servers: [AMQPServer] = []
        var amqpPort: Int?
        var amqpsPort: Int?
        do {
            if let port = eventHubs.amqpPort {
                let server = try await AMQPServer.bind(
                    host: configuration.host, port: port, configuration: service.serverConfiguration, logger: logger
                ) { connection in await service.serve(connection) }
                servers.append(server)
                amqpPort = server.port
            }
            if let port = eventHubs.amqpsPort {
                let server = try await AMQPServer.bind(
                    host: configuration.host, port: port, tls: try tls.serverConfiguration(), configuration: service.serverConfiguration,
                    logger: logger
                ) { connection in await service.serve(connection) }
                servers.append(server)
                amqpsPort = server.port
            }
        } catch {
            for server in servers { await server.close() }
            try? await log.close()
            throw error
        }
        return EventHubsListeners(service: service, servers: servers, amqpPort: amqpPort, amqpsPort: amqpsPort)
    }

    func sweep(logger: Logger) async throws {
        guard let service else { return }
        let removed = try await service.log.sweep(retention: service.configuration.retention)
        if removed > 0 { logger.notice("maintenance: removed \(removed) events past the Event Hubs retention") }
    }

    func stop(logger: Logger) async {
        for server in servers { await server.close() }
        do { try await service?.log.close() } catch { logger.warning("closing the Event Hubs store at shutdown: \(error)") }
    }
}
