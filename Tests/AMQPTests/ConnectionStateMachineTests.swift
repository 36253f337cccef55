import NIOCore
import Testing

@testable import AMQP

/// The connection, session and link rules, fed frames with no socket: what goes out for what comes in.
@Suite struct ConnectionStateMachineTests {
    static func frames(_ actions: [EngineAction]) -> [AMQPFrame] {
        actions.compactMap { if case .writeFrame(let frame) = $0 { frame } else { nil } }
    }

    static func performatives(_ actions: [EngineAction]) -> [AMQPPerformative] {
        frames(actions).compactMap { if case .amqp(let performative, _) = $0.body { performative } else { nil } }
    }

    static func amqp(_ performative: AMQPPerformative, channel: UInt16 = 0, payload: ByteBuffer? = nil) -> AMQPFrame {
        AMQPFrame(channel: channel, body: .amqp(performative, payload: payload))
    }

    /// A client that finished SASL and Open, with a session on channel 0 mapped to the peer's channel 3.
    static func openClient(maxFrameSize: UInt32 = 65536) -> ConnectionStateMachine {
        var machine = ConnectionStateMachine(role: .client, configuration: EngineConfiguration(containerID: "c", hostname: "h", saslMechanism: "ANONYMOUS"))
        _ = machine.channelActive()
        _ = machine.headerReceived(.sasl)
        _ = machine.frameReceived(AMQPFrame(channel: 0, body: .sasl(.mechanisms(AMQPSASLMechanisms(mechanisms: ["MSSBCBS", "ANONYMOUS"])))))
        _ = machine.frameReceived(AMQPFrame(channel: 0, body: .sasl(.outcome(AMQPSASLOutcome(code: .ok, additionalData: nil)))))
        _ = machine.headerReceived(.amqp)
        _ = machine.frameReceived(amqp(.open(AMQPOpen(containerID: "hub", maxFrameSize: maxFrameSize, channelMax: 4999, idleTimeOut: 120_000))))
        _ = machine.beginSession(1, incomingWindow: 10, outgoingWindow: 100)
        _ = machine.frameReceived(amqp(.begin(AMQPBegin(remoteChannel: 0, nextOutgoingID: 1, incomingWindow: 5000, outgoingWindow: 5000)), channel: 3))
        return machine
    }

    @Test func clientRunsSASLThenOpen() throws {
        var machine = ConnectionStateMachine(role: .client, configuration: EngineConfiguration(containerID: "c", hostname: "ns.example", saslMechanism: "ANONYMOUS"))
        let start = machine.channelActive()
        guard case .writeHeader(.sasl) = start.first else { Issue.record("expected the SASL header first, got \(start)"); return }
        #expect(machine.headerReceived(.sasl).isEmpty)
        let initial = machine.frameReceived(AMQPFrame(channel: 0, body: .sasl(.mechanisms(AMQPSASLMechanisms(mechanisms: ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"])))))
        let sasl = try #require(Self.frames(initial).first)
        guard case .sasl(.initial(let chosen)) = sasl.body else { Issue.record("expected sasl-init, got \(sasl)"); return }
        #expect(chosen.mechanism == "ANONYMOUS")
        #expect(chosen.hostname == "ns.example")
        let afterOutcome = machine.frameReceived(AMQPFrame(channel: 0, body: .sasl(.outcome(AMQPSASLOutcome(code: .ok, additionalData: nil)))))
        guard case .writeHeader(.amqp) = afterOutcome.first else { Issue.record("expected the AMQP header, got \(afterOutcome)"); return }
        guard case .open(let open)? = Self.performatives(afterOutcome).first else { Issue.record("expected open"); return }
        #expect(open.containerID == "c")
        #expect(open.hostname == "ns.example")
        let opened = machine.frameReceived(Self.amqp(.open(AMQPOpen(containerID: "hub", maxFrameSize: 65536, channelMax: 4999, idleTimeOut: 120_000))))
        guard case .connectionOpened(let remote)? = opened.last else { Issue.record("expected connectionOpened, got \(opened)"); return }
        #expect(remote.containerID == "hub")
        #expect(machine.outgoingMaxFrameSize == 65536)
    }

    @Test func saslMechanismNotOfferedFails() {
        var machine = ConnectionStateMachine(role: .client, configuration: EngineConfiguration(containerID: "c", saslMechanism: "PLAIN"))
        _ = machine.channelActive()
        let actions = machine.frameReceived(AMQPFrame(channel: 0, body: .sasl(.mechanisms(AMQPSASLMechanisms(mechanisms: ["ANONYMOUS"])))))
        guard case .closeChannel(let error?)? = actions.last else { Issue.record("expected a close, got \(actions)"); return }
        #expect(error.code == .saslFailed)
        #expect(error.message.contains("PLAIN"))
    }

    @Test func serverAnswersHeadersSASLAndOpen() throws {
        var machine = ConnectionStateMachine(role: .server, configuration: EngineConfiguration(containerID: "srv", maxFrameSize: 65536, idleTimeOut: 120_000, saslMechanisms: ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"]))
        let mechanisms = machine.headerReceived(.sasl)
        guard case .writeHeader(.sasl) = mechanisms.first else { Issue.record("expected the SASL header back"); return }
        guard case .sasl(.mechanisms(let offered))? = Self.frames(mechanisms).first?.body else { Issue.record("expected mechanisms"); return }
        #expect(offered.mechanisms == ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"])
        let outcome = machine.frameReceived(AMQPFrame(channel: 0, body: .sasl(.initial(AMQPSASLInit(mechanism: "ANONYMOUS", initialResponse: [], hostname: "localhost")))))
        guard case .sasl(.outcome(let result))? = Self.frames(outcome).first?.body else { Issue.record("expected an outcome"); return }
        #expect(result.code == .ok)
        guard case .writeHeader(.amqp) = machine.headerReceived(.amqp).first else { Issue.record("expected the AMQP header back"); return }
        // A client may pipeline begin before the server's open: both are answered in order.
        let open = machine.frameReceived(Self.amqp(.open(AMQPOpen(containerID: "client", maxFrameSize: 1 << 20, channelMax: 65535))))
        guard case .open(let answer)? = Self.performatives(open).first else { Issue.record("expected open"); return }
        #expect(answer.maxFrameSize == 65536)
        #expect(answer.idleTimeOut == 120_000)
        let begin = machine.frameReceived(Self.amqp(.begin(AMQPBegin(remoteChannel: nil, nextOutgoingID: 0, incomingWindow: 65536, outgoingWindow: 65536)), channel: 1))
        let frame = try #require(Self.frames(begin).first)
        guard case .amqp(.begin(let reply), _) = frame.body else { Issue.record("expected begin"); return }
        #expect(reply.remoteChannel == 1)
        #expect(frame.channel == 0)
    }

    @Test func wrongProtocolHeaderIsAnsweredAndClosed() {
        var machine = ConnectionStateMachine(role: .server, configuration: EngineConfiguration(containerID: "srv", saslMechanisms: ["ANONYMOUS"]))
        let actions = machine.headerReceived(.tls)
        guard case .writeHeader(.sasl) = actions.first else { Issue.record("expected the supported header, got \(actions)"); return }
        guard case .closeChannel(let error?)? = actions.last else { Issue.record("expected a close"); return }
        #expect(error.code == .protocolViolation)
    }

    @Test func senderWaitsForCreditThenSplitsAtMaxFrameSize() throws {
        var machine = Self.openClient(maxFrameSize: 512)
        let attach = AMQPAttach(name: "s", handle: 0, role: .sender, source: AMQPSource(address: "s"), target: AMQPTarget(address: "q"))
        let attachActions = machine.attach(7, channel: 0, template: attach, initialCredit: 0)
        guard case .attach(let sent)? = Self.performatives(attachActions).first else { Issue.record("expected attach"); return }
        #expect(sent.initialDeliveryCount == 0)
        let reply = AMQPAttach(name: "s", handle: 9, role: .receiver, source: AMQPSource(address: "s"), target: AMQPTarget(address: "q"), maxMessageSize: 1 << 20)
        let attached = machine.frameReceived(Self.amqp(.attach(reply), channel: 3))
        guard case .linkAttached(7, let link, _)? = attached.last else { Issue.record("expected linkAttached, got \(attached)"); return }
        var payload = ByteBuffer()
        payload.writeBytes(Array(repeating: 0xAB, count: 2000))
        // No credit yet: nothing goes out.
        #expect(Self.frames(machine.send(8, link: link, payload: payload, messageFormat: 0, settled: false)).isEmpty)
        let flow = AMQPFlow(nextIncomingID: 0, incomingWindow: 5000, nextOutgoingID: 1, outgoingWindow: 5000, handle: 9, deliveryCount: 0, linkCredit: 10)
        let sent2 = machine.frameReceived(Self.amqp(.flow(flow), channel: 3))
        let transfers = Self.frames(sent2).compactMap { frame -> (AMQPTransfer, ByteBuffer?)? in
            if case .amqp(.transfer(let transfer), let payload) = frame.body { (transfer, payload) } else { nil }
        }
        #expect(transfers.count >= 4)
        #expect(transfers.first?.0.deliveryID == 0)
        #expect(transfers.first?.0.more == true)
        #expect(transfers.last?.0.more == false)
        #expect(transfers.dropFirst().allSatisfy { $0.0.deliveryID == nil })
        #expect(transfers.reduce(0) { $0 + ($1.1?.readableBytes ?? 0) } == 2000)
        for frame in Self.frames(sent2) {
            var buffer = ByteBuffer()
            frame.encode(into: &buffer)
            #expect(buffer.readableBytes <= 512)
        }
        // The peer's disposition settles the send.
        let settled = machine.frameReceived(Self.amqp(.disposition(AMQPDisposition(role: .receiver, first: 0, last: nil, settled: true, state: .accepted)), channel: 3))
        guard case .sendSettled(8, .accepted?)? = settled.first else { Issue.record("expected the send settled, got \(settled)"); return }
    }

    @Test func sessionWindowLimitsTransfers() {
        var machine = Self.openClient()
        _ = machine.attach(1, channel: 0, template: AMQPAttach(name: "s", handle: 0, role: .sender, source: AMQPSource(address: "s"), target: AMQPTarget(address: "q")), initialCredit: 0)
        let attached = machine.frameReceived(Self.amqp(.attach(AMQPAttach(name: "s", handle: 0, role: .receiver, source: AMQPSource(address: "s"), target: AMQPTarget(address: "q"))), channel: 3))
        guard case .linkAttached(_, let link, _)? = attached.last else { Issue.record("no link"); return }
        // Credit 10 but a session window of 2: two transfers, then the rest when the window opens.
        _ = machine.frameReceived(Self.amqp(.flow(AMQPFlow(nextIncomingID: 0, incomingWindow: 2, nextOutgoingID: 1, outgoingWindow: 5000, handle: 0, deliveryCount: 0, linkCredit: 10)), channel: 3))
        var count = 0
        for token in 10..<15 {
            var payload = ByteBuffer()
            payload.writeString("m\(token)")
            count += Self.frames(machine.send(RequestToken(token), link: link, payload: payload, messageFormat: 0, settled: true)).count
        }
        #expect(count == 2)
        let more = machine.frameReceived(Self.amqp(.flow(AMQPFlow(nextIncomingID: 2, incomingWindow: 100, nextOutgoingID: 1, outgoingWindow: 5000, handle: nil)), channel: 3))
        #expect(Self.frames(more).count == 3)
    }

    @Test func receiverJoinsMultiFrameDeliveryAndEnforcesMaxMessageSize() {
        var machine = Self.openClient()
        var template = AMQPAttach(name: "r", handle: 0, role: .receiver, source: AMQPSource(address: "q"), target: AMQPTarget(address: "r"))
        template.maxMessageSize = 10
        let attachActions = machine.attach(1, channel: 0, template: template, initialCredit: 5)
        #expect(Self.performatives(attachActions).count == 1)
        let attached = machine.frameReceived(Self.amqp(.attach(AMQPAttach(name: "r", handle: 4, role: .sender, source: AMQPSource(address: "q"), target: AMQPTarget(address: "r"), initialDeliveryCount: 0)), channel: 3))
        guard case .flow(let credit)? = Self.performatives(attached).first else { Issue.record("expected the initial credit, got \(attached)"); return }
        #expect(credit.linkCredit == 5)
        guard case .linkAttached(_, let link, _)? = attached.last else { Issue.record("no link"); return }
        var first = ByteBuffer(); first.writeString("hello ")
        var second = ByteBuffer(); second.writeString("you")
        #expect(machine.frameReceived(Self.amqp(.transfer(AMQPTransfer(handle: 4, deliveryID: 0, deliveryTag: [1], messageFormat: 0, settled: false, more: true)), channel: 3, payload: first)).isEmpty)
        let delivered = machine.frameReceived(Self.amqp(.transfer(AMQPTransfer(handle: 4, deliveryID: nil, deliveryTag: nil, messageFormat: nil, settled: nil, more: false)), channel: 3, payload: second))
        guard case .delivered(link, let delivery)? = delivered.last else { Issue.record("expected a delivery, got \(delivered)"); return }
        #expect(String(buffer: delivery.payload) == "hello you")
        #expect(delivery.deliveryTag == [1])
        var big = ByteBuffer(); big.writeString("more than 10 ")
        var rest = ByteBuffer(); rest.writeString("ten bytes")
        let refused = machine.frameReceived(Self.amqp(.transfer(AMQPTransfer(handle: 4, deliveryID: 1, deliveryTag: [2], messageFormat: 0, settled: false, more: true)), channel: 3, payload: big))
        guard case .disposition(let rejection)? = Self.performatives(refused).first else { Issue.record("expected a rejection, got \(refused)"); return }
        #expect(rejection.first == 1 && rejection.settled)
        guard case .rejected(let condition)? = rejection.state else { Issue.record("expected rejected"); return }
        #expect(condition?.condition == "amqp:link:message-size-exceeded")
        // The rest of the rejected delivery is dropped, and the link takes the next one.
        #expect(machine.frameReceived(Self.amqp(.transfer(AMQPTransfer(handle: 4, deliveryID: nil, deliveryTag: nil, messageFormat: nil, settled: nil, more: false)), channel: 3, payload: rest)).isEmpty)
        var small = ByteBuffer(); small.writeString("ok")
        let next = machine.frameReceived(Self.amqp(.transfer(AMQPTransfer(handle: 4, deliveryID: 2, deliveryTag: [3], messageFormat: 0, settled: false, more: false)), channel: 3, payload: small))
        let after = next.compactMap { if case .delivered(_, let delivery) = $0 { delivery } else { nil } }.first
        guard let after else { Issue.record("expected the next delivery, got \(next)"); return }
        #expect(String(buffer: after.payload) == "ok")
    }

    @Test func refusedAttachFailsWithThePeersCondition() {
        var machine = Self.openClient()
        _ = machine.attach(3, channel: 0, template: AMQPAttach(name: "r", handle: 0, role: .receiver, source: AMQPSource(address: "nope"), target: AMQPTarget(address: "r")), initialCredit: 1)
        // The peer answers with no source, then detaches with the reason.
        #expect(machine.frameReceived(Self.amqp(.attach(AMQPAttach(name: "r", handle: 0, role: .sender, source: nil, target: nil)), channel: 3)).isEmpty)
        let detached = machine.frameReceived(Self.amqp(.detach(AMQPDetach(handle: 0, closed: true, error: AMQPErrorCondition(condition: "amqp:not-found", description: "no such hub", info: nil))), channel: 3))
        guard case .linkAttachFailed(3, let error)? = detached.last else { Issue.record("expected the attach to fail, got \(detached)"); return }
        #expect(error.condition == "amqp:not-found")
        #expect(error.remoteDescription == "no such hub")
    }

    @Test func peerCloseFailsPendingWorkAndAnswers() {
        var machine = Self.openClient()
        _ = machine.attach(5, channel: 0, template: AMQPAttach(name: "s", handle: 0, role: .sender, source: nil, target: AMQPTarget(address: "q")), initialCredit: 0)
        let actions = machine.frameReceived(Self.amqp(.close(AMQPClose(error: AMQPErrorCondition(condition: "amqp:connection:forced", description: "maintenance", info: nil)))))
        guard case .close? = Self.performatives(actions).first else { Issue.record("expected a close answer, got \(actions)"); return }
        #expect(actions.contains { if case .linkAttachFailed(5, _) = $0 { true } else { false } })
        guard case .closeChannel(let error?)? = actions.last else { Issue.record("expected the channel closed"); return }
        #expect(error.condition == "amqp:connection:forced")
    }

    @Test func framesOnUnknownChannelCloseWithFramingError() {
        var machine = Self.openClient()
        let actions = machine.frameReceived(Self.amqp(.flow(AMQPFlow(nextIncomingID: 0, incomingWindow: 1, nextOutgoingID: 0, outgoingWindow: 1)), channel: 77))
        guard case .close(let close)? = Self.performatives(actions).first else { Issue.record("expected a close, got \(actions)"); return }
        #expect(close.error?.condition == "amqp:connection:framing-error")
    }
}
