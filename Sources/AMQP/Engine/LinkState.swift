import NIOCore

/// One link end as the state machine tracks it: its credit, delivery count, unsettled deliveries and the
/// message being assembled from several transfer frames.
struct LinkState {
    enum Phase: Equatable {
        /// This side sent an attach and waits for the peer's.
        case attachSent(RequestToken)
        /// The peer answered without the terminus this side asked for: its detach with the reason follows.
        case refused(RequestToken)
        /// The peer attached first and the user has not answered yet (server side).
        case incoming
        case attached
        case detachSent(RequestToken?)
    }

    struct PendingSend {
        var token: RequestToken
        var payload: ByteBuffer
        var messageFormat: UInt32
        var settled: Bool
        /// Set once the first frame went out.
        var deliveryID: UInt32?
    }

    struct PartialDelivery {
        var deliveryID: UInt32
        var deliveryTag: [UInt8]
        var messageFormat: UInt32
        var settled: Bool
        var payload: ByteBuffer
        /// Set once the delivery outgrew the link's max-message-size: it was rejected, and the rest of its
        /// frames are dropped as they arrive.
        var discarding = false
    }

    let name: String
    /// This side's role on the link.
    let role: AMQPRole
    let localHandle: UInt32
    var remoteHandle: UInt32?
    var phase: Phase
    var remoteAttach: AMQPAttach?
    var senderSettleMode: AMQPSenderSettleMode
    var receiverSettleMode: AMQPReceiverSettleMode

    /// The sender's delivery count (the sender keeps it; a receiver keeps the last one it learned).
    var deliveryCount: UInt32 = 0
    var linkCredit: UInt32 = 0
    var drain = false
    /// Credit a receiver grants as soon as the link is attached.
    var initialCredit: UInt32 = 0

    // Sending side.
    var pendingSends: [PendingSend] = []
    var pendingHead = 0
    var unsettled: [UInt32: RequestToken] = [:]
    var nextTag: UInt32 = 0
    /// The peer's largest message; nil or 0 is no limit.
    var peerMaxMessageSize: UInt64?

    // Receiving side.
    var partial: PartialDelivery?
    /// This side's largest message; nil or 0 is no limit.
    var localMaxMessageSize: UInt64?

    var hasPendingSends: Bool { pendingHead < pendingSends.count }

    mutating func popPendingSend() {
        pendingHead += 1
        if pendingHead > 64 && pendingHead * 2 > pendingSends.count {
            pendingSends.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    /// Every request still waiting on this link, for failing them when it goes away.
    var waitingTokens: [RequestToken] {
        var tokens = pendingSends[pendingHead...].map(\.token)
        tokens.append(contentsOf: unsettled.values)
        return tokens
    }
}
