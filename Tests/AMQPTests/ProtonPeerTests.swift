import Foundation
import NIOCore
import Testing

@testable import AMQP

/// Kumo's AMQP client against an independent implementation: a broker built on Apache Qpid Proton
/// (python-qpid-proton, from the project's Python environment). The broker advertises a 4 KiB
/// max-frame-size, so large messages are split into several transfers in both directions.
@Suite(.enabled(if: ProtonPeer.python != nil, "needs .venv with python-qpid-proton (scripts/python-env)"), .timeLimit(.minutes(3)))
struct ProtonPeerTests {
    @Test func sendAndReceiveThroughProton() async throws {
        try await ProtonPeer.run { port in
            let connection = try await AMQPConnection.connect(AMQPConnectionConfiguration(host: "127.0.0.1", port: port, maxFrameSize: 4096))
            #expect(connection.remoteOpen.containerID == "kumo-proton-peer")
            #expect(connection.remoteOpen.maxFrameSize == 4096)
            let session = try await connection.openSession()
            let sender = try await session.attachSender(AMQPLinkOptions(name: "kumo-sender", target: AMQPTarget(address: "queue-a")))
            let bodies: [[UInt8]] = [[], Array("small".utf8), (0..<10_000).map { UInt8($0 % 251) }, (0..<200_000).map { UInt8($0 % 13) }]
            for (index, body) in bodies.enumerated() {
                var message = AMQPMessage(body: .data([body]))
                message.properties = AMQPMessage.Properties(messageID: .string("m\(index)"), contentType: "application/octet-stream")
                message.applicationProperties = [AMQPMapEntry(.string("index"), .long(Int64(index)))]
                #expect(try await sender.send(message) == .accepted)
            }
            var rejected = AMQPMessage(body: .value(.string("refuse me")))
            rejected.applicationProperties = [AMQPMapEntry(.string("reject"), .bool(true))]
            guard case .rejected? = try await sender.send(rejected) else { Issue.record("proton should reject"); return }

            let receiver = try await session.attachReceiver(AMQPLinkOptions(name: "kumo-receiver", source: AMQPSource(address: "queue-a")), prefetch: 1)
            var iterator = receiver.makeAsyncIterator()
            for (index, body) in bodies.enumerated() {
                let delivery = try #require(try await iterator.next())
                let message = try delivery.message()
                #expect(message.properties?.messageID == .string("m\(index)"))
                #expect(message.properties?.contentType == "application/octet-stream")
                #expect(message.applicationProperties?[string: "index"]?.int64Value == Int64(index))
                guard case .data(let sections) = message.body else { Issue.record("expected data, got \(message.body)"); continue }
                #expect(sections.flatMap { $0 } == body)
                receiver.settle(delivery)
            }
            await receiver.detach()
            await sender.detach()
            await connection.close()
        }
    }

    @Test func manyMessagesWithSmallCredit() async throws {
        try await ProtonPeer.run { port in
            let connection = try await AMQPConnection.connect(AMQPConnectionConfiguration(host: "127.0.0.1", port: port))
            let session = try await connection.openSession(incomingWindow: 8)
            let sender = try await session.attachSender(AMQPLinkOptions(name: "bulk-sender", target: AMQPTarget(address: "bulk")))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for number in 0..<500 {
                    group.addTask { _ = try await sender.send(AMQPMessage(body: .value(.long(Int64(number))))) }
                }
                try await group.waitForAll()
            }
            let receiver = try await session.attachReceiver(AMQPLinkOptions(name: "bulk-receiver", source: AMQPSource(address: "bulk")), prefetch: 7)
            var seen = Set<Int64>()
            for try await delivery in receiver {
                guard case .value(.long(let number)) = try delivery.message().body else { continue }
                seen.insert(number)
                receiver.settle(delivery)
                if seen.count == 500 { break }
            }
            #expect(seen == Set(0..<500))
            await connection.close()
        }
    }
}

enum ProtonPeer {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The project's Python environment, if it has python-qpid-proton.
    static let python: String? = {
        let python = repositoryRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", "import proton"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        guard (try? check.run()) != nil else { return nil }
        check.waitUntilExit()
        return check.terminationStatus == 0 ? python : nil
    }()

    static func run(_ body: (Int) async throws -> Void) async throws {
        let python = try #require(python)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [repositoryRoot.appendingPathComponent("Tests/AMQPTests/Peers/proton_peer.py").path, "0"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        defer {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
        // The peer says when it listens.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let announced = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let port = try #require(announced.hasPrefix("listening ") ? Int(announced.dropFirst("listening ".count)) : nil, "the peer said '\(announced)'")
        try await body(port)
    }
}

