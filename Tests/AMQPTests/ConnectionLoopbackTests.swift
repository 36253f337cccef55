import Foundation
import NIOCore
import Testing

@testable import AMQP

/// The client and server halves of the engine over a real socket: SASL, Open, sessions, links, credit,
/// multi-frame messages both ways, refusals and close.
@Suite(.timeLimit(.minutes(3))) struct ConnectionLoopbackTests {
    /// A server that queues what is sent to an address and hands it to receivers of that address.
    actor Queues {
        var messages: [String: [AMQPMessage]] = [:]
        var waiters: [String: [CheckedContinuation<AMQPMessage, Never>]] = [:]

        func put(_ message: AMQPMessage, at address: String) {
            if var queue = waiters[address], !queue.isEmpty {
                queue.removeFirst().resume(returning: message)
                waiters[address] = queue
            } else {
                messages[address, default: []].append(message)
            }
        }

        func take(from address: String) async -> AMQPMessage {
            if var queue = messages[address], !queue.isEmpty {
                let message = queue.removeFirst()
                messages[address] = queue
                return message
            }
            return await withCheckedContinuation { waiters[address, default: []].append($0) }
        }
    }

    static func withServer(maxFrameSize: UInt32 = 4096, _ body: (Int) async throws -> Void) async throws {
        let queues = Queues()
        let server = try await AMQPServer.bind(
            host: "127.0.0.1", port: 0,
            configuration: AMQPServerConfiguration(containerID: "loopback", maxFrameSize: maxFrameSize, saslMechanisms: ["ANONYMOUS", "PLAIN"])
        ) { connection in
            for await request in connection.linkRequests {
                if request.attach.role == .sender {
                    let address = request.attach.target?.address ?? ""
                    if address == "refused" {
                        request.reject(AMQPErrorCondition(condition: "amqp:not-found", description: "no node named refused", info: nil))
                        continue
                    }
                    let receiver = request.acceptAsReceiver(
                        connection: connection.connection,
                        reply: AMQPLinkOptions(name: request.attach.name, source: request.attach.source, target: request.attach.target, maxMessageSize: 1 << 20))
                    Task {
                        for try await delivery in receiver {
                            let message = try delivery.message()
                            if message.applicationProperties?[string: "reject"]?.boolValue == true {
                                receiver.settle(delivery, .rejected(AMQPErrorCondition(condition: "amqp:precondition-failed", description: "asked to", info: nil)))
                                continue
                            }
                            await queues.put(message, at: address)
                            receiver.settle(delivery, .accepted)
                        }
                    }
                } else {
                    let address = request.attach.source?.address ?? ""
                    let sender = request.acceptAsSender(
                        connection: connection.connection,
                        reply: AMQPLinkOptions(name: request.attach.name, source: request.attach.source, target: request.attach.target))
                    Task {
                        while true {
                            let message = await queues.take(from: address)
                            do { try await sender.send(message) } catch { return }
                        }
                    }
                }
            }
        }
        do {
            try await body(server.port)
        } catch {
            await server.close()
            throw error
        }
        await server.close()
    }

    static func connect(port: Int, maxFrameSize: UInt32 = 4096) async throws -> AMQPConnection {
        try await AMQPConnection.connect(AMQPConnectionConfiguration(host: "127.0.0.1", port: port, maxFrameSize: maxFrameSize))
    }

    @Test func messagesRoundTripIncludingMultiFrame() async throws {
        try await Self.withServer { port in
            let connection = try await Self.connect(port: port)
            #expect(connection.remoteOpen.containerID == "loopback")
            #expect(connection.remoteOpen.maxFrameSize == 4096)
            let session = try await connection.openSession()
            let sender = try await session.attachSender(AMQPLinkOptions(name: "s", target: AMQPTarget(address: "q")))
            #expect(sender.maxMessageSize == 1 << 20)
            let sizes = [0, 1, 4000, 4096, 50_000, 300_000]
            for (index, size) in sizes.enumerated() {
                let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
                var message = AMQPMessage(body: .data([body]))
                message.applicationProperties = [AMQPMapEntry(.string("index"), .int(Int32(index)))]
                let outcome = try await sender.send(message)
                #expect(outcome == .accepted)
            }
            let receiver = try await session.attachReceiver(AMQPLinkOptions(name: "r", source: AMQPSource(address: "q")), prefetch: 2)
            var iterator = receiver.makeAsyncIterator()
            for (index, size) in sizes.enumerated() {
                let delivery = try #require(try await iterator.next())
                let message = try delivery.message()
                #expect(message.applicationProperties?[string: "index"] == .int(Int32(index)))
                guard case .data(let sections) = message.body else { Issue.record("expected a data body"); continue }
                #expect(sections.flatMap { $0 } == (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
                receiver.settle(delivery)
            }
            await connection.close()
        }
    }

    @Test func rejectedOutcomeAndRefusedLinkCarryThePeersCondition() async throws {
        try await Self.withServer { port in
            let connection = try await Self.connect(port: port)
            let session = try await connection.openSession()
            let sender = try await session.attachSender(AMQPLinkOptions(name: "s", target: AMQPTarget(address: "q")))
            var message = AMQPMessage(body: .value(.string("no")))
            message.applicationProperties = [AMQPMapEntry(.string("reject"), .bool(true))]
            let outcome = try await sender.send(message)
            guard case .rejected(let condition)? = outcome else { Issue.record("expected rejected, got \(String(describing: outcome))"); return }
            #expect(condition?.condition == "amqp:precondition-failed")
            await #expect {
                try await session.attachSender(AMQPLinkOptions(name: "x", target: AMQPTarget(address: "refused")))
            } throws: { error in
                (error as? AMQPError)?.condition == "amqp:not-found" && (error as? AMQPError)?.remoteDescription == "no node named refused"
            }
            // The session still works after a refused link.
            #expect(try await sender.send(AMQPMessage(body: .value(.string("yes")))) == .accepted)
            await connection.close()
        }
    }

    @Test func manyLinksAndSessionsOnOneConnection() async throws {
        try await Self.withServer { port in
            let connection = try await Self.connect(port: port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sessionIndex in 0..<3 {
                    group.addTask {
                        let session = try await connection.openSession()
                        let sender = try await session.attachSender(AMQPLinkOptions(name: "s\(sessionIndex)", target: AMQPTarget(address: "q\(sessionIndex)")))
                        for number in 0..<200 {
                            try await sender.send(AMQPMessage(body: .value(.long(Int64(number)))))
                        }
                        let receiver = try await session.attachReceiver(AMQPLinkOptions(name: "r\(sessionIndex)", source: AMQPSource(address: "q\(sessionIndex)")), prefetch: 50)
                        var expected: Int64 = 0
                        for try await delivery in receiver {
                            #expect(try delivery.message().body == .value(.long(expected)))
                            receiver.settle(delivery)
                            expected += 1
                            if expected == 200 { break }
                        }
                        #expect(expected == 200)
                    }
                }
                try await group.waitForAll()
            }
            await connection.close()
        }
    }

    @Test func connectionRefusedNamesTheAddress() async {
        await #expect {
            _ = try await AMQPConnection.connect(AMQPConnectionConfiguration(host: "127.0.0.1", port: 1))
        } throws: { error in
            guard let error = error as? AMQPError else { return false }
            return error.code == .transport && error.message.contains("127.0.0.1:1")
        }
    }

    @Test func serverClosingFailsTheClientsWaiters() async throws {
        try await Self.withServer { port in
            let connection = try await Self.connect(port: port)
            let session = try await connection.openSession()
            let receiver = try await session.attachReceiver(AMQPLinkOptions(name: "r", source: AMQPSource(address: "empty")), prefetch: 1)
            async let next: AMQPDelivery? = { var iterator = receiver.makeAsyncIterator(); return try await iterator.next() }()
            await connection.close()
            do {
                let delivery = try await next
                #expect(delivery == nil)
            } catch {
                #expect(error is AMQPError)
            }
            #expect(!connection.isOpen)
        }
    }
}
