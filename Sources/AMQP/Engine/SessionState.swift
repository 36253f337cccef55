/// One session as the state machine tracks it: transfer ids and windows in both directions, and its links.
struct SessionState {
    enum Phase: Equatable {
        case beginSent(RequestToken)
        case mapped
        case endSent
    }

    let localChannel: UInt16
    var remoteChannel: UInt16?
    var phase: Phase

    // Outgoing transfers.
    var nextOutgoingID: UInt32 = 0
    var outgoingWindow: UInt32
    var remoteIncomingWindow: UInt32 = 0
    var nextDeliveryID: UInt32 = 0

    // Incoming transfers.
    var nextIncomingID: UInt32 = 0
    /// The window this side grants, restored whenever half of it is used.
    let configuredIncomingWindow: UInt32
    var incomingWindow: UInt32
    var remoteOutgoingWindow: UInt32 = 0

    var links: [UInt32: LinkState] = [:]
    var remoteHandles: [UInt32: UInt32] = [:]
    var remoteHandleMax: UInt32 = .max
    private var nextHandle: UInt32 = 0

    init(localChannel: UInt16, phase: Phase, incomingWindow: UInt32, outgoingWindow: UInt32) {
        self.localChannel = localChannel
        self.phase = phase
        self.configuredIncomingWindow = max(incomingWindow, 1)
        self.incomingWindow = max(incomingWindow, 1)
        self.outgoingWindow = outgoingWindow
    }

    mutating func allocateHandle() -> UInt32 {
        while links[nextHandle] != nil { nextHandle &+= 1 }
        defer { nextHandle &+= 1 }
        return nextHandle
    }

    func localHandle(named name: String, role: AMQPRole) -> UInt32? {
        links.first { $0.value.name == name && $0.value.role == role }?.key
    }
}
