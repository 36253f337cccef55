import NIOConcurrencyHelpers
import NIOCore

/// A link on which this side sends messages. Sends wait for credit from the peer.
public final class AMQPSender: Sendable {
    let connection: AMQPConnection
    let id: LinkID
    /// The link's name.
    public let name: String
    /// The peer's attach: its max-message-size, properties and terminus.
    public let remoteAttach: AMQPAttach

    init(connection: AMQPConnection, id: LinkID, name: String, remoteAttach: AMQPAttach) {
        self.connection = connection
        self.id = id
        self.name = name
        self.remoteAttach = remoteAttach
    }

    /// The largest message the peer takes on this link (0: no limit).
    public var maxMessageSize: UInt64 { remoteAttach.maxMessageSize ?? 0 }

    /// Sends a message and waits until the peer settles it.
    /// - Parameters:
    ///   - messageFormat: 0 for a plain message; a batch format for a batch.
    ///   - settled: send pre-settled (fire and forget) when the link's settle mode allows it.
    /// - Returns: the peer's outcome (`accepted`, `rejected` with its error, ...), or nil for a pre-settled send.
    /// - Throws: ``AMQPError`` when the link or connection goes away first, or the message is larger than the
    ///   peer's max-message-size (condition `amqp:link:message-size-exceeded`).
    @discardableResult
    public func send(_ message: AMQPMessage, messageFormat: UInt32 = 0, settled: Bool = false) async throws -> AMQPDeliveryState? {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        message.encode(into: &buffer)
        return try await send(encoded: buffer, messageFormat: messageFormat, settled: settled)
    }

    /// Sends already encoded message sections (see ``AMQPMessage/encode(into:)``).
    @discardableResult
    public func send(encoded payload: ByteBuffer, messageFormat: UInt32 = 0, settled: Bool = false) async throws -> AMQPDeliveryState? {
        let eventLoop = connection.channel.eventLoop
        let promise = eventLoop.makePromise(of: AMQPDeliveryState?.self)
        let handler = connection.handler
        let id = self.id
        eventLoop.execute {
            handler.value.send(link: id, payload: payload, messageFormat: messageFormat, settled: settled, promise: promise)
        }
        return try await promise.futureResult.get()
    }

    /// Sends several encoded messages in one go (one hop to the event loop, one flush for all that credit
    /// allows) and waits until every one is settled; the outcomes come back in order.
    @discardableResult
    public func send(encodedBatch payloads: [ByteBuffer], messageFormat: UInt32 = 0, settled: Bool = false) async throws -> [AMQPDeliveryState?] {
        guard !payloads.isEmpty else { return [] }
        let eventLoop = connection.channel.eventLoop
        let promise = eventLoop.makePromise(of: [AMQPDeliveryState?].self)
        let handler = connection.handler
        let id = self.id
        eventLoop.execute {
            handler.value.send(link: id, payloads: payloads, messageFormat: messageFormat, settled: settled, promise: promise)
        }
        return try await promise.futureResult.get()
    }

    /// Detaches the link (closing it, unless `closed` is false) and waits for the peer's detach.
    public func detach(closed: Bool = true, error: AMQPErrorCondition? = nil) async {
        await detachLink(connection: connection, id: id, closed: closed, error: error)
    }

    /// Calls `handler` once when the link detaches, with the peer's error if it gave one.
    public func onDetach(_ handler: @escaping @Sendable (AMQPError?) -> Void) {
        let loopHandler = connection.handler
        let id = self.id
        connection.channel.eventLoop.execute { loopHandler.value.onLinkClosed(id, handler) }
    }
}

/// A link on which this side receives messages, as an `AsyncSequence` of deliveries. Credit is granted as
/// deliveries are consumed, so a slow consumer slows the sender rather than growing a buffer.
public final class AMQPReceiver: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    let connection: AMQPConnection
    let id: LinkID
    public let name: String
    /// The peer's attach, e.g. the filter it applied or properties it announced.
    public let remoteAttach: AMQPAttach
    private let stream: AsyncThrowingStream<AMQPDelivery, any Error>
    private let prefetch: UInt32
    private let consumed = NIOLockedValueBox<UInt32>(0)

    init(connection: AMQPConnection, id: LinkID, name: String, remoteAttach: AMQPAttach, stream: AsyncThrowingStream<AMQPDelivery, any Error>, prefetch: UInt32) {
        self.connection = connection
        self.id = id
        self.name = name
        self.remoteAttach = remoteAttach
        self.stream = stream
        self.prefetch = prefetch
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<AMQPDelivery, any Error>.AsyncIterator
        let receiver: AMQPReceiver

        public mutating func next() async throws -> AMQPDelivery? {
            guard let delivery = try await base.next() else { return nil }
            receiver.didConsume()
            return delivery
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), receiver: self)
    }

    /// Tops credit up in batches of half the prefetch, so flow frames stay rare.
    private func didConsume() {
        guard prefetch > 0 else { return }
        let grant: UInt32 = consumed.withLockedValue { count in
            count += 1
            guard count >= Swift.max(prefetch / 2, 1) else { return 0 }
            defer { count = 0 }
            return count
        }
        if grant > 0 { addCredit(grant) }
    }

    /// Grants the sender `credit` more deliveries (beyond the automatic prefetch).
    public func addCredit(_ credit: UInt32) {
        let handler = connection.handler
        let id = self.id
        connection.channel.eventLoop.execute { handler.value.addCredit(link: id, credit: credit) }
    }

    /// Settles a delivery with an outcome (accepted by default). Pre-settled deliveries need nothing.
    public func settle(_ delivery: AMQPDelivery, _ state: AMQPDeliveryState = .accepted) {
        guard !delivery.settled else { return }
        let handler = connection.handler
        let id = self.id
        connection.channel.eventLoop.execute {
            handler.value.dispose(link: id, deliveryID: delivery.deliveryID, state: state, settled: true)
        }
    }

    /// Detaches the link and waits for the peer's detach.
    public func detach(closed: Bool = true, error: AMQPErrorCondition? = nil) async {
        await detachLink(connection: connection, id: id, closed: closed, error: error)
    }
}

private func detachLink(connection: AMQPConnection, id: LinkID, closed: Bool, error: AMQPErrorCondition?) async {
    let eventLoop = connection.channel.eventLoop
    let promise = eventLoop.makePromise(of: Void.self)
    let handler = connection.handler
    eventLoop.execute { handler.value.detach(link: id, closed: closed, error: error, promise: promise) }
    let timeout = eventLoop.scheduleTask(in: .seconds(10)) { promise.succeed(()) }
    try? await promise.futureResult.get()
    timeout.cancel()
}
