import AMQP
import Foundation
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The emulator's Event Hubs namespace over AMQP 1.0, built to what the real service does (see the recorded
/// frames in the project's fixtures): SASL accepting any mechanism, authorization through CBS put-token on
/// `$cbs`, `$management` READ of hubs and partitions, senders to a hub or a partition, readers of a partition
/// in a consumer group with the selector filter and owner levels, events persisted in KumoKV.
final class EventHubsService: Sendable {
    let configuration: EventHubsConfiguration
    let log: EventLog
    let authorizer: EventHubsAuthorizer
    let faults: FaultInjection
    let logger: Logger
    let owners = ReaderOwnership()
    private let roundRobin = Mutex<Int>(0)
    /// When the hubs were "created", as `$management` reports it.
    let createdAt = Int64((Date().timeIntervalSince1970 * 1000).rounded())

    init(configuration: EventHubsConfiguration, log: EventLog, issuer: TokenIssuer, faults: FaultInjection, logger: Logger) {
        self.configuration = configuration
        self.log = log
        self.authorizer = EventHubsAuthorizer(keys: configuration.keys, issuer: issuer)
        self.faults = faults
        self.logger = logger
    }

    func nextRoundRobin() -> Int {
        roundRobin.withLock { value in
            defer { value &+= 1 }
            return value
        }
    }

    /// The server's Open and SASL offer, as the real hub sends them.
    var serverConfiguration: AMQPServerConfiguration {
        AMQPServerConfiguration(
            containerID: "kumo-emulator-eventhubs", maxFrameSize: 65536, channelMax: 4999, idleTimeout: .seconds(120),
            saslMechanisms: ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"], saslWelcome: Array("Welcome!".utf8))
    }

    // MARK: - Connections

    func serve(_ connection: AMQPServerConnection) async {
        let state = ConnectionAuthorization()
        await withTaskGroup(of: Void.self) { group in
            for await request in connection.linkRequests {
                route(request, connection: connection.connection, state: state, group: &group)
            }
            // The connection closed: readers waiting for events stop.
            group.cancelAll()
        }
    }

    private func route(_ request: AMQPLinkRequest, connection: AMQPConnection, state: ConnectionAuthorization, group: inout TaskGroup<Void>) {
        let attach = request.attach
        let clientSends = attach.role == .sender
        let address = (clientSends ? attach.target?.address : attach.source?.address) ?? ""
        guard let entity = EventHubsEntity(address: address) else {
            request.reject(notFound("The messaging entity '\(address)' could not be found."))
            return
        }
        switch (entity, clientSends) {
        case (.cbs, true), (.management, true):
            let receiver = request.acceptAsReceiver(connection: connection, reply: echo(attach, maxMessageSize: UInt64.max), prefetch: 100)
            let node = entity
            group.addTask { await self.serveRequests(on: receiver, node: node, state: state) }
        case (.cbs, false), (.management, false):
            let sender = request.acceptAsSender(connection: connection, reply: echo(attach, maxMessageSize: UInt64.max))
            state.addReplyLink(node: entity == .cbs ? "$cbs" : "$management", address: attach.target?.address ?? "", sender: sender)
        case (.hub(let hub), true), (.partition(let hub, _), true):
            guard let definition = configuration.hub(named: hub) else {
                request.reject(notFound("The messaging entity '\(address)' could not be found."))
                return
            }
            var partition: String?
            if case .partition(_, let id) = entity {
                guard definition.partitionIDs.contains(id) else {
                    request.reject(notFound("The messaging entity '\(address)' could not be found: hub \(definition.name) has partitions 0 to \(definition.partitionCount - 1)."))
                    return
                }
                partition = id
            }
            guard state.isAuthorized(path: EventHubsAuthorizer.entityPath(address) ?? definition.name) else {
                request.reject(unauthorized("Unauthorized access. 'Send' claim(s) are required to perform this operation. Resource: '\(address)'."))
                return
            }
            let receiver = request.acceptAsReceiver(
                connection: connection, reply: echo(attach, maxMessageSize: UInt64(configuration.maxMessageSize)),
                prefetch: partition == nil ? 300 : 1000)
            group.addTask { await self.servePublisher(receiver, connection: connection, hub: definition, partition: partition) }
        case (.consumer(let hub, let consumerGroup, let partition), false):
            guard let definition = configuration.hub(named: hub),
                definition.allConsumerGroups.contains(where: { $0.lowercased() == consumerGroup.lowercased() }),
                definition.partitionIDs.contains(partition)
            else {
                request.reject(notFound("The messaging entity '\(address)' could not be found."))
                return
            }
            guard state.isAuthorized(path: EventHubsAuthorizer.entityPath(address) ?? definition.name) else {
                request.reject(unauthorized("Unauthorized access. 'Listen' claim(s) are required to perform this operation. Resource: '\(address)'."))
                return
            }
            startReader(request, connection: connection, hub: definition, consumerGroup: consumerGroup, partition: partition, group: &group)
        default:
            request.reject(AMQPErrorCondition(condition: "amqp:not-allowed", description: "A link of this role cannot attach to '\(address)'.", info: nil))
        }
    }

    private func echo(_ attach: AMQPAttach, maxMessageSize: UInt64) -> AMQPLinkOptions {
        AMQPLinkOptions(
            name: attach.name, source: attach.source, target: attach.target, senderSettleMode: attach.sndSettleMode,
            receiverSettleMode: attach.rcvSettleMode, maxMessageSize: maxMessageSize)
    }

    func notFound(_ description: String) -> AMQPErrorCondition {
        AMQPErrorCondition(condition: "amqp:not-found", description: description, info: nil)
    }

    func unauthorized(_ description: String) -> AMQPErrorCondition {
        AMQPErrorCondition(condition: "amqp:unauthorized-access", description: description, info: nil)
    }
}

/// What one connection has been authorized for through CBS, and where its request/reply nodes answer.
final class ConnectionAuthorization: Sendable {
    private struct State {
        /// Authorized entity paths (`hub`, `hub/consumergroups/g`, ...) and when their tokens expire.
        var scopes: [String: Date] = [:]
        var replyLinks: [String: [(address: String, sender: AMQPSender)]] = [:]
    }
    private let state = Mutex(State())

    func authorize(scope: String, until expiry: Date) {
        state.withLock { $0.scopes[scope.lowercased()] = expiry }
    }

    /// Whether a token put on this connection covers the entity at `path` (a hub-wide token covers its
    /// partitions and consumer groups; a consumer group's token covers only that group's readers).
    func isAuthorized(path: String, now: Date = Date()) -> Bool {
        let parts = path.lowercased().split(separator: "/")
        return state.withLock { state in
            state.scopes.contains { scope, expiry in expiry > now && parts.starts(with: scope.split(separator: "/")) }
        }
    }

    func addReplyLink(node: String, address: String, sender: AMQPSender) {
        state.withLock { $0.replyLinks[node, default: []].append((address, sender)) }
    }

    /// The link a reply goes out on: the node's receiver whose target is the request's reply-to, else the
    /// node's newest receiver.
    func replyLink(node: String, replyTo: String?) -> AMQPSender? {
        state.withLock { state in
            let links = state.replyLinks[node] ?? []
            if let replyTo, let match = links.last(where: { $0.address == replyTo }) { return match.sender }
            return links.last?.sender
        }
    }
}

/// The readers of each partition and consumer group, by owner level: a reader with an equal or higher level takes the
/// partition, and the others are detached with `amqp:link:stolen`.
actor ReaderOwnership {
    private struct Reader {
        var id: UInt64
        var level: Int64?
        var sender: AMQPSender
    }
    private var readers: [String: [Reader]] = [:]
    private var nextID: UInt64 = 0

    enum Admission {
        case admitted(UInt64, displaced: [AMQPSender])
        case refused(String)
    }

    func admit(key: String, level: Int64?, sender: AMQPSender) -> Admission {
        let current = readers[key] ?? []
        let highest = current.compactMap(\.level).max()
        if let highest {
            guard let level, level >= highest else {
                let mine = level.map(String.init) ?? "none"
                return .refused("Receiver with owner level '\(mine)' cannot be created because a receiver with owner level '\(highest)' already exists.")
            }
        }
        var displaced: [AMQPSender] = []
        var kept: [Reader] = []
        for reader in current {
            if let level, (reader.level ?? Int64.min) <= level { displaced.append(reader.sender) } else { kept.append(reader) }
        }
        let id = nextID
        nextID += 1
        kept.append(Reader(id: id, level: level, sender: sender))
        readers[key] = kept
        return .admitted(id, displaced: displaced)
    }

    func remove(key: String, id: UInt64) {
        readers[key]?.removeAll { $0.id == id }
    }
}
