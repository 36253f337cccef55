import Logging
import NIOCore

/// Drives a ``ConnectionStateMachine`` from a channel: frames in, actions out. It holds the promises and
/// streams of the connection's users by token, so the state machine stays plain data. Every method runs on
/// the channel's event loop.
final class AMQPChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = AMQPInbound
    typealias OutboundIn = Never
    typealias OutboundOut = AMQPOutbound

    private enum Waiter {
        case session(EventLoopPromise<UInt16>)
        case attach(EventLoopPromise<(LinkID, AMQPAttach)>)
        case send(EventLoopPromise<AMQPDeliveryState?>)
        case detach(EventLoopPromise<Void>)
    }

    private var machine: ConnectionStateMachine
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var nextToken: RequestToken = 1
    private var waiters: [RequestToken: Waiter] = [:]
    /// Where each receiving link's deliveries go.
    private var deliverySinks: [LinkID: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation] = [:]
    /// Receivers waiting for an attach to finish, by the attach's token.
    private var pendingSinks: [RequestToken: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation] = [:]
    private var linkClosedHandlers: [LinkID: @Sendable (AMQPError?) -> Void] = [:]
    private let openPromise: EventLoopPromise<AMQPOpen>
    private let closedPromise: EventLoopPromise<Void>
    private var closeError: AMQPError?
    /// Links the peer started, for a server to answer.
    private let incomingLinks: AsyncStream<AMQPLinkRequest>.Continuation?
    private var loopBoundSelf: NIOLoopBound<AMQPChannelHandler>?

    // Heartbeats.
    private var lastRead: NIODeadline = .now()
    private var lastWrite: NIODeadline = .now()
    private var heartbeatTask: RepeatedTask?

    init(
        machine: ConnectionStateMachine, logger: Logger, openPromise: EventLoopPromise<AMQPOpen>,
        closedPromise: EventLoopPromise<Void>, incomingLinks: AsyncStream<AMQPLinkRequest>.Continuation? = nil
    ) {
        self.machine = machine
        self.logger = logger
        self.openPromise = openPromise
        self.closedPromise = closedPromise
        self.incomingLinks = incomingLinks
    }

    var remoteOpen: AMQPOpen? { machine.remoteOpen }
    var isOpen: Bool { machine.isOpen }
    /// Why the connection closed, once it has.
    var terminalError: AMQPError? { closeError }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        if context.channel.isActive { perform(machine.channelActive()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        heartbeatTask?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        lastRead = .now()
        perform(machine.channelActive())
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        switch unwrapInboundIn(data) {
        case .header(let header):
            perform(machine.headerReceived(header))
        case .frame(let frame):
            if logger.logLevel <= .trace { logger.trace("AMQP in", metadata: ["channel": "\(frame.channel)", "frame": "\(frame.body)"]) }
            perform(machine.frameReceived(frame))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        heartbeatTask?.cancel()
        heartbeatTask = nil
        let error = closeError ?? AMQPError(code: .connectionClosed, message: "the connection to the peer closed")
        perform(machine.channelInactive(error))
        finish(error)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = (error as? AMQPError) ?? AMQPError(code: .transport, message: "the connection failed: \(error)")
        if closeError == nil { closeError = failure }
        if failure.code == .malformedData || failure.code == .frameTooLarge {
            // Tell the peer why before hanging up, as the spec asks of a framing error.
            let condition = AMQPErrorCondition(condition: failure.code == .frameTooLarge ? "amqp:frame-size-too-small" : "amqp:decode-error", description: failure.message, info: nil)
            perform(machine.close(condition))
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Performing actions

    private func perform(_ actions: [EngineAction]) {
        guard let context else { return }
        // One flush for everything an event wrote: a batch of sends or a burst of frames is one syscall.
        var needsFlush = false
        defer { if needsFlush, self.context != nil { context.flush() } }
        for action in actions {
            switch action {
            case .writeHeader(let header):
                context.write(wrapOutboundOut(.header(header)), promise: nil)
                lastWrite = .now()
            case .writeFrame(let frame):
                if logger.logLevel <= .trace { logger.trace("AMQP out", metadata: ["channel": "\(frame.channel)", "frame": "\(frame.body)"]) }
                context.write(wrapOutboundOut(.frame(frame)), promise: nil)
                lastWrite = .now()
            case .flush:
                needsFlush = true
            case .connectionOpened(let open):
                startHeartbeats(context: context, remoteIdleTimeOut: open.idleTimeOut)
                openPromise.succeed(open)
            case .closeChannel(let error):
                if closeError == nil { closeError = error }
                context.close(promise: nil)
            case .sessionBegun(let token, let channel):
                if case .session(let promise) = waiters.removeValue(forKey: token) { promise.succeed(channel) }
            case .sessionBeginFailed(let token, let error):
                if case .session(let promise) = waiters.removeValue(forKey: token) { promise.fail(error) }
            case .sessionEnded:
                break  // its links were detached one by one before this action
            case .linkAttached(let token, let id, let remote):
                if let sink = pendingSinks.removeValue(forKey: token) { deliverySinks[id] = sink }
                if case .attach(let promise) = waiters.removeValue(forKey: token) { promise.succeed((id, remote)) }
            case .linkAttachFailed(let token, let error):
                pendingSinks.removeValue(forKey: token)?.finish(throwing: error)
                if case .attach(let promise) = waiters.removeValue(forKey: token) { promise.fail(error) }
            case .incomingAttach(let id, let attach):
                if let incomingLinks, let loopBoundSelf {
                    incomingLinks.yield(AMQPLinkRequest(attach: attach, id: id, handler: loopBoundSelf, channel: context.channel))
                } else {
                    let condition = AMQPErrorCondition(condition: "amqp:not-allowed", description: "this peer does not accept links it did not start", info: nil)
                    perform(machine.rejectIncomingAttach(id, error: condition))
                }
            case .linkDetached(let id, let error):
                if let sink = deliverySinks.removeValue(forKey: id) {
                    if let error { sink.finish(throwing: error) } else { sink.finish() }
                }
                linkClosedHandlers.removeValue(forKey: id)?(error)
            case .delivered(let id, let delivery):
                deliverySinks[id]?.yield(delivery)
            case .sendSettled(let token, let state):
                if case .send(let promise) = waiters.removeValue(forKey: token) { promise.succeed(state) }
            case .sendFailed(let token, let error):
                if case .send(let promise) = waiters.removeValue(forKey: token) { promise.fail(error) }
            case .creditChanged:
                break
            case .detachCompleted(let token):
                if case .detach(let promise) = waiters.removeValue(forKey: token) { promise.succeed(()) }
            }
        }
    }

    private var finished = false

    private func finish(_ error: AMQPError) {
        guard !finished else { return }
        finished = true
        for (_, waiter) in waiters {
            switch waiter {
            case .session(let promise): promise.fail(error)
            case .attach(let promise): promise.fail(error)
            case .send(let promise): promise.fail(error)
            case .detach(let promise): promise.succeed(())
            }
        }
        waiters.removeAll()
        for (_, sink) in deliverySinks { sink.finish(throwing: error) }
        deliverySinks.removeAll()
        for (_, sink) in pendingSinks { sink.finish(throwing: error) }
        pendingSinks.removeAll()
        for (_, handler) in linkClosedHandlers { handler(error) }
        linkClosedHandlers.removeAll()
        incomingLinks?.finish()
        openPromise.fail(error)
        closedPromise.succeed(())
    }

    private func startHeartbeats(context: ChannelHandlerContext, remoteIdleTimeOut: UInt32?) {
        let sendEvery = remoteIdleTimeOut.flatMap { $0 > 0 ? TimeAmount.milliseconds(Int64($0) / 2) : nil }
        let expectEvery = machine.configuration.idleTimeOut.flatMap { $0 > 0 ? TimeAmount.milliseconds(Int64($0)) : nil }
        guard sendEvery != nil || expectEvery != nil else { return }
        let tick = min(sendEvery ?? .hours(1), expectEvery.map { .nanoseconds($0.nanoseconds / 2) } ?? .hours(1), .seconds(30))
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        heartbeatTask = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            loopBound.value.heartbeat(sendEvery: sendEvery, expectEvery: expectEvery)
        }
    }

    private func heartbeat(sendEvery: TimeAmount?, expectEvery: TimeAmount?) {
        guard let context, machine.isOpen else { return }
        let now = NIODeadline.now()
        if let expectEvery, now - lastRead > expectEvery {
            let message = "no frame from the peer for \(expectEvery.nanoseconds / 1_000_000) ms (idle time-out)"
            closeError = AMQPError(code: .timeout, message: message)
            perform(machine.close(AMQPErrorCondition(condition: "amqp:resource-limit-exceeded", description: "local-idle-timeout expired", info: nil)))
            context.close(promise: nil)
            return
        }
        if let sendEvery, now - lastWrite >= sendEvery {
            context.writeAndFlush(wrapOutboundOut(.frame(AMQPFrame(channel: 0, body: .empty))), promise: nil)
            lastWrite = now
        }
    }

    // MARK: - Requests from the connection's users (on the event loop)

    private func makeToken() -> RequestToken {
        defer { nextToken += 1 }
        return nextToken
    }

    func beginSession(incomingWindow: UInt32, outgoingWindow: UInt32, promise: EventLoopPromise<UInt16>) {
        let token = makeToken()
        waiters[token] = .session(promise)
        perform(machine.beginSession(token, incomingWindow: incomingWindow, outgoingWindow: outgoingWindow))
        failIfClosed()
    }

    func endSession(channel: UInt16, error: AMQPErrorCondition?) {
        perform(machine.endSession(channel, error: error))
    }

    func attach(
        channel: UInt16, template: AMQPAttach, initialCredit: UInt32,
        sink: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation?, promise: EventLoopPromise<(LinkID, AMQPAttach)>
    ) {
        let token = makeToken()
        waiters[token] = .attach(promise)
        if let sink { pendingSinks[token] = sink }
        perform(machine.attach(token, channel: channel, template: template, initialCredit: initialCredit))
        failIfClosed()
    }

    func acceptIncoming(_ id: LinkID, reply: AMQPAttach, initialCredit: UInt32, sink: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation?) {
        if let sink {
            if closeError != nil || context == nil {
                sink.finish(throwing: closeError ?? AMQPError(code: .connectionClosed, message: "the connection closed"))
                return
            }
            deliverySinks[id] = sink
        }
        perform(machine.acceptIncomingAttach(id, reply: reply, initialCredit: initialCredit))
    }

    func rejectIncoming(_ id: LinkID, error: AMQPErrorCondition) {
        perform(machine.rejectIncomingAttach(id, error: error))
    }

    func onLinkClosed(_ id: LinkID, _ handler: @escaping @Sendable (AMQPError?) -> Void) {
        if closeError != nil || context == nil { handler(closeError) } else { linkClosedHandlers[id] = handler }
    }

    func send(link: LinkID, payload: ByteBuffer, messageFormat: UInt32, settled: Bool, promise: EventLoopPromise<AMQPDeliveryState?>) {
        let token = makeToken()
        waiters[token] = .send(promise)
        perform(machine.send(token, link: link, payload: payload, messageFormat: messageFormat, settled: settled))
        failIfClosed()
    }

    /// Queues several messages at once; the promise completes when all are settled (or written, if pre-settled).
    func send(link: LinkID, payloads: [ByteBuffer], messageFormat: UInt32, settled: Bool, promise: EventLoopPromise<[AMQPDeliveryState?]>) {
        guard let eventLoop = context?.eventLoop else {
            promise.fail(closeError ?? AMQPError(code: .connectionClosed, message: "the connection is closed"))
            return
        }
        var actions: [EngineAction] = []
        var futures: [EventLoopFuture<AMQPDeliveryState?>] = []
        for payload in payloads {
            let token = makeToken()
            let each = eventLoop.makePromise(of: AMQPDeliveryState?.self)
            waiters[token] = .send(each)
            futures.append(each.futureResult)
            actions += machine.send(token, link: link, payload: payload, messageFormat: messageFormat, settled: settled)
        }
        perform(actions)
        failIfClosed()
        EventLoopFuture.whenAllSucceed(futures, on: eventLoop).cascade(to: promise)
    }

    func addCredit(link: LinkID, credit: UInt32) {
        perform(machine.addCredit(link, credit: credit))
    }

    func dispose(link: LinkID, deliveryID: UInt32, state: AMQPDeliveryState?, settled: Bool) {
        perform(machine.dispose(link, deliveryID: deliveryID, state: state, settled: settled))
    }

    func detach(link: LinkID, closed: Bool, error: AMQPErrorCondition?, promise: EventLoopPromise<Void>) {
        let token = makeToken()
        waiters[token] = .detach(promise)
        perform(machine.detach(token, link: link, closed: closed, error: error))
        failIfClosed()
    }

    func close(error: AMQPErrorCondition?) {
        perform(machine.close(error))
        if context == nil { closedPromise.succeed(()) }
    }

    /// A request made after the socket closed finds no one to answer it.
    private func failIfClosed() {
        guard finished || context == nil || !(context?.channel.isActive ?? false) else { return }
        finish(closeError ?? AMQPError(code: .connectionClosed, message: "the connection is closed"))
    }
}
