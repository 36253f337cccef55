import AMQP
import AzureEmulator
import Crypto
import Foundation
import NIOCore
import NIOSSL
import Testing

/// The emulator's Event Hubs service at the AMQP level, as the real hub answers (see the recorded frames in
/// ../shared/fixtures/amqp): what CBS, `$management` and link attaches return, byte by byte where it matters.
@Suite("Event Hubs service on the wire", .timeLimit(.minutes(3)))
struct EventHubsWireTests {
    /// A connection to an in-process emulator serving hub `wire` (2 partitions), with one session.
    static func withSession(_ body: @Sendable (AMQPSession, Int) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-eh-wire-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = EmulatorConfiguration(
            blobPort: 0, dataDirectory: directory,
            eventHubs: EventHubsConfiguration(amqpPort: 0, hubs: [EventHubDefinition(name: "wire", partitionCount: 2)]))
        let (stream, continuation) = AsyncStream<EmulatorEndpoints>.makeStream()
        let server = Task {
            defer { continuation.finish() }
            try await AzureEmulatorServer(configuration: configuration).run { endpoints in continuation.yield(endpoints) }
        }
        var iterator = stream.makeAsyncIterator()
        let endpoints = try #require(await iterator.next())
        let port = try #require(endpoints.amqpPort)
        let outcome: Result<Void, any Error>
        do {
            let connection = try await AMQPConnection.connect(AMQPConnectionConfiguration(host: "127.0.0.1", port: port, hostname: "localhost"))
            #expect(connection.remoteOpen.maxFrameSize == 65536)
            #expect(connection.remoteOpen.channelMax == 4999)
            #expect(connection.remoteOpen.idleTimeOut == 120_000)
            let session = try await connection.openSession()
            do { try await body(session, port); outcome = .success(()) } catch { outcome = .failure(error) }
            await connection.close()
        } catch {
            outcome = .failure(error)
        }
        server.cancel()
        _ = await server.result
        try outcome.get()
    }

    /// A request/reply pair on a node, as Microsoft's client attaches it.
    struct Node {
        let sender: AMQPSender
        let receiver: AMQPReceiver

        static func attach(_ address: String, on session: AMQPSession) async throws -> Node {
            let sender = try await session.attachSender(AMQPLinkOptions(name: "\(address)-s", source: AMQPSource(address: address), target: AMQPTarget(address: address)))
            let receiver = try await session.attachReceiver(AMQPLinkOptions(name: "\(address)-r", source: AMQPSource(address: address), target: AMQPTarget(address: address)))
            return Node(sender: sender, receiver: receiver)
        }

        func request(_ properties: [AMQPMapEntry], body: AMQPMessage.Body) async throws -> AMQPMessage {
            var message = AMQPMessage(body: body)
            message.properties = AMQPMessage.Properties(messageID: .uuid(UUID()))
            message.applicationProperties = properties
            // The hub settles the request before it answers.
            #expect(try await sender.send(message) == .accepted)
            var iterator = receiver.makeAsyncIterator()
            let delivery = try #require(try await iterator.next())
            let reply = try delivery.message()
            #expect(reply.properties?.correlationID == message.properties?.messageID)
            return reply
        }
    }

    static func sasToken(resource: String, key: String = EventHubsConfiguration.developmentKey, expiresIn: TimeInterval = 3600) -> String {
        let encoded = resource.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let expiry = String(Int(Date().timeIntervalSince1970 + expiresIn))
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(encoded)\n\(expiry)".utf8), using: SymmetricKey(data: Data(key.utf8)))
        let signature = Data(mac).base64EncodedString().addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        return "SharedAccessSignature sr=\(encoded)&sig=\(signature)&se=\(expiry)&skn=\(EventHubsConfiguration.developmentKeyName)"
    }

    static func putToken(_ token: String, audience: String) -> [AMQPMapEntry] {
        [
            AMQPMapEntry(.string("operation"), .string("put-token")),
            AMQPMapEntry(.string("type"), .string("servicebus.windows.net:sastoken")),
            AMQPMapEntry(.string("name"), .string(audience)),
            AMQPMapEntry(.string("expiration"), .timestamp(Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000)),
        ]
    }

    @Test func cbsAnswersAcceptedUnauthorizedAndNotFoundAsReplies() async throws {
        try await Self.withSession { session, port in
            let cbs = try await Node.attach("$cbs", on: session)
            let audience = "sb://localhost:\(port)/wire"
            let good = try await cbs.request(Self.putToken(Self.sasToken(resource: audience), audience: audience), body: .value(.string(Self.sasToken(resource: audience))))
            #expect(good.applicationProperties?[string: "status-code"] == .int(202))
            #expect(good.applicationProperties?[string: "status-description"] == .string("Accepted"))

            let forged = Self.sasToken(resource: audience, key: "wrong")
            let bad = try await cbs.request(Self.putToken(forged, audience: audience), body: .value(.string(forged)))
            #expect(bad.applicationProperties?[string: "status-code"] == .int(401))
            #expect(bad.applicationProperties?[string: "error-condition"] == .symbol("com.microsoft:auth-failed"))
            #expect(bad.applicationProperties?[string: "status-description"]?.stringValue?.contains("InvalidSignature") == true)

            let expired = Self.sasToken(resource: audience, expiresIn: -10)
            let late = try await cbs.request(Self.putToken(expired, audience: audience), body: .value(.string(expired)))
            #expect(late.applicationProperties?[string: "status-code"] == .int(401))

            let unknown = "sb://localhost:\(port)/nope"
            let missing = try await cbs.request(Self.putToken(Self.sasToken(resource: unknown), audience: unknown), body: .value(.string(Self.sasToken(resource: unknown))))
            #expect(missing.applicationProperties?[string: "status-code"] == .int(404))
            #expect(missing.applicationProperties?[string: "error-condition"] == .symbol("amqp:not-found"))

            // A token for another hub's resource does not cover this one.
            let other = Self.sasToken(resource: "sb://localhost:\(port)/other")
            let narrow = try await cbs.request(Self.putToken(other, audience: audience), body: .value(.string(other)))
            #expect(narrow.applicationProperties?[string: "status-code"] == .int(401))
        }
    }

    @Test func linksNeedAuthorizationAndNameTheMissingEntity() async throws {
        try await Self.withSession { session, port in
            await #expect {
                _ = try await session.attachSender(AMQPLinkOptions(name: "early", target: AMQPTarget(address: "wire/Partitions/0")))
            } throws: { error in
                (error as? AMQPError)?.condition == "amqp:unauthorized-access"
            }
            let cbs = try await Node.attach("$cbs", on: session)
            let audience = "sb://localhost:\(port)/wire"
            _ = try await cbs.request(Self.putToken(Self.sasToken(resource: audience), audience: audience), body: .value(.string(Self.sasToken(resource: audience))))
            let sender = try await session.attachSender(AMQPLinkOptions(name: "ok", target: AMQPTarget(address: "amqps://localhost/wire/Partitions/1")))
            #expect(sender.remoteAttach.maxMessageSize == 1_048_576)
            await #expect {
                _ = try await session.attachSender(AMQPLinkOptions(name: "bad", target: AMQPTarget(address: "wire/Partitions/7")))
            } throws: { error in
                (error as? AMQPError)?.condition == "amqp:not-found" && ((error as? AMQPError)?.remoteDescription?.contains("Partitions/7") ?? false)
            }
            await #expect {
                _ = try await session.attachReceiver(AMQPLinkOptions(name: "group", source: AMQPSource(address: "wire/ConsumerGroups/nope/Partitions/0")))
            } throws: { error in
                (error as? AMQPError)?.condition == "amqp:not-found"
            }
        }
    }

    @Test func aConsumerGroupsTokenDoesNotAuthorizeSending() async throws {
        try await Self.withSession { session, port in
            let cbs = try await Node.attach("$cbs", on: session)
            let audience = "sb://localhost:\(port)/wire/consumergroups/$default"
            let token = Self.sasToken(resource: audience)
            let reply = try await cbs.request(Self.putToken(token, audience: audience), body: .value(.string(token)))
            #expect(reply.applicationProperties?[string: "status-code"] == .int(202))
            let receiver = try await session.attachReceiver(AMQPLinkOptions(name: "reader", source: AMQPSource(address: "wire/ConsumerGroups/$Default/Partitions/0")))
            #expect(receiver.remoteAttach.source?.address == "wire/ConsumerGroups/$Default/Partitions/0")
            await #expect {
                _ = try await session.attachSender(AMQPLinkOptions(name: "writer", target: AMQPTarget(address: "wire/Partitions/0")))
            } throws: { error in
                (error as? AMQPError)?.condition == "amqp:unauthorized-access"
            }
        }
    }

    @Test func managementAnswersWithTheRealHubsFieldsAndTypes() async throws {
        try await Self.withSession { session, port in
            let management = try await Node.attach("$management", on: session)
            let audience = "sb://localhost:\(port)/wire"
            let token = Self.sasToken(resource: audience)
            func read(_ type: String, partition: String? = nil) async throws -> [AMQPMapEntry] {
                var properties = [
                    AMQPMapEntry(.string("operation"), .string("READ")), AMQPMapEntry(.string("name"), .string("wire")),
                    AMQPMapEntry(.string("type"), .string(type)), AMQPMapEntry(.string("security_token"), .string(token)),
                ]
                if let partition { properties.append(AMQPMapEntry(.string("partition"), .string(partition))) }
                let reply = try await management.request(properties, body: .value(.map([])))
                #expect(reply.applicationProperties?[string: "status-code"] == .int(200))
                guard case .value(.map(let map)) = reply.body else { Issue.record("no map in \(reply.body)"); return [] }
                return map
            }
            let hub = try await read("com.microsoft:eventhub")
            #expect(hub.map { $0.key } == ["name", "type", "created_at", "partition_count", "partition_ids", "georeplication_factor"].map { AMQPValue.string($0) })
            #expect(hub[string: "partition_ids"] == .array([.string("0"), .string("1")]))
            #expect(hub[string: "partition_count"] == .int(2))
            guard case .timestamp? = hub[string: "created_at"] else { Issue.record("created_at is a timestamp"); return }

            let empty = try await read("com.microsoft:partition", partition: "1")
            #expect(empty[string: "begin_sequence_number"] == .long(-1))
            #expect(empty[string: "last_enqueued_sequence_number"] == .long(-1))
            #expect(empty[string: "last_enqueued_offset"] == .string("-1"))
            #expect(empty[string: "last_enqueued_time_utc"] == .timestamp(-62_135_596_800_000))
            #expect(empty[string: "is_partition_empty"] == .bool(true))
        }
    }

    @Test func readersGetTheFilterEchoedAndPresettledEventsWithAnnotations() async throws {
        try await Self.withSession { session, port in
            let cbs = try await Node.attach("$cbs", on: session)
            let audience = "sb://localhost:\(port)/wire"
            _ = try await cbs.request(Self.putToken(Self.sasToken(resource: audience), audience: audience), body: .value(.string(Self.sasToken(resource: audience))))
            let sender = try await session.attachSender(AMQPLinkOptions(name: "s", target: AMQPTarget(address: "wire/Partitions/0")))
            // A batch: one data section per event, each a complete message.
            var batchBody: [[UInt8]] = []
            for text in ["one", "two"] { batchBody.append(AMQPMessage(body: .data([Array(text.utf8)])).encoded()) }
            var batch = AMQPMessage(body: .data(batchBody))
            batch.messageAnnotations = [AMQPMapEntry(.symbol("x-opt-partition-key"), .string("pk"))]
            #expect(try await sender.send(batch, messageFormat: 0x8001_3700) == .accepted)

            // Python's client names the filter's descriptor with the symbol.
            let filter = [AMQPMapEntry(.symbol("apache.org:selector-filter:string"), .described(descriptor: .symbol("apache.org:selector-filter:string"), value: .string("amqp.annotation.x-opt-sequence-number >= '0'")))]
            let receiver = try await session.attachReceiver(
                AMQPLinkOptions(name: "r", source: AMQPSource(address: "wire/ConsumerGroups/$Default/Partitions/0", filter: filter), desiredCapabilities: ["com.microsoft:enable-receiver-runtime-metric"]))
            #expect(receiver.remoteAttach.sndSettleMode == .settled)
            guard case .described(let descriptor, _)? = receiver.remoteAttach.source?.filter?.first?.value else { Issue.record("no echoed filter"); return }
            #expect(descriptor == .ulong(0x0000_0013_7000_000A))
            var iterator = receiver.makeAsyncIterator()
            for (index, text) in ["one", "two"].enumerated() {
                let delivery = try #require(try await iterator.next())
                #expect(delivery.settled)
                let message = try delivery.message()
                #expect(message.body == .data([Array(text.utf8)]))
                #expect(message.messageAnnotations?[symbol: "x-opt-sequence-number"] == .long(Int64(index)))
                #expect(message.messageAnnotations?[symbol: "x-opt-partition-key"] == .string("pk"))
                #expect(message.messageAnnotations?[symbol: "x-opt-offset"]?.stringValue != nil)
                guard case .timestamp? = message.messageAnnotations?[symbol: "x-opt-enqueued-time"] else { Issue.record("no enqueued time"); return }
                #expect(message.deliveryAnnotations?[symbol: "last_enqueued_sequence_number"] == .long(1))
            }
            await #expect {
                _ = try await session.attachReceiver(AMQPLinkOptions(name: "odd", source: AMQPSource(
                    address: "wire/ConsumerGroups/$Default/Partitions/1",
                    filter: [AMQPMapEntry(.symbol("apache.org:selector-filter:string"), .described(descriptor: .ulong(0x0000_468C_0000_0004), value: .string("amqp.annotation.x-opt-body > 'x'")))])))
            } throws: { error in
                (error as? AMQPError)?.condition == "amqp:not-implemented"
            }
        }
    }
}

/// AMQPS: the same namespace over TLS with the emulator's certificate, which a client trusts through the CA.
@Suite("Event Hubs over AMQPS", .timeLimit(.minutes(3)))
struct EventHubsTLSTests {
    @Test func amqpsServesTheNamespaceOverTLS() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-eh-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = EmulatorConfiguration(
            blobPort: 0, dataDirectory: directory,
            eventHubs: EventHubsConfiguration(amqpPort: nil, amqpsPort: 0, hubs: [EventHubDefinition(name: "secure", partitionCount: 1)]))
        let (stream, continuation) = AsyncStream<EmulatorEndpoints>.makeStream()
        let server = Task {
            defer { continuation.finish() }
            try await AzureEmulatorServer(configuration: configuration).run { endpoints in continuation.yield(endpoints) }
        }
        defer { server.cancel() }
        var iterator = stream.makeAsyncIterator()
        let endpoints = try #require(await iterator.next())
        #expect(endpoints.amqpPort == nil)
        let port = try #require(endpoints.amqpsPort)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(endpoints.caCertificatePath)
        let connection = try await AMQPConnection.connect(AMQPConnectionConfiguration(host: "127.0.0.1", port: port, transport: .tls(tls), hostname: "localhost"))
        #expect(connection.remoteOpen.containerID == "kumo-emulator-eventhubs")
        let session = try await connection.openSession()
        let cbs = try await EventHubsWireTests.Node.attach("$cbs", on: session)
        let audience = "sb://localhost:\(port)/secure"
        let token = EventHubsWireTests.sasToken(resource: audience)
        let reply = try await cbs.request(EventHubsWireTests.putToken(token, audience: audience), body: .value(.string(token)))
        #expect(reply.applicationProperties?[string: "status-code"] == .int(202))
        // A client that does not trust the emulator's CA is refused by TLS, not by AMQP.
        await #expect(throws: (any Error).self) {
            _ = try await AMQPConnection.connect(AMQPConnectionConfiguration(
                host: "127.0.0.1", port: port, transport: .tls(.makeClientConfiguration()), connectTimeout: .seconds(5)))
        }
        await connection.close()
        server.cancel()
        _ = await server.result
    }
}
