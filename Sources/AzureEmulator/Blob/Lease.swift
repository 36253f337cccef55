import Foundation

/// A lease on a blob or container, as the Lease Blob / Lease Container operations define it. The state is
/// computed from the record and the current time, so an expiring lease needs no timer.
struct LeaseRecord: Codable, Sendable, Equatable {
    var id: String
    /// Seconds, or -1 for an infinite lease.
    var duration: Int
    /// When the lease was acquired or last renewed; a fixed lease expires `duration` seconds later.
    var renewed: Date
    /// Set once the lease is broken: the lease is `breaking` until then and `broken` from then on.
    var breakEnds: Date?

    func state(at now: Date) -> LeaseState {
        if let breakEnds { return now < breakEnds ? .breaking : .broken }
        if duration >= 0, now >= renewed.addingTimeInterval(TimeInterval(duration)) { return .expired }
        return .leased
    }
}

enum LeaseState: String, Sendable {
    case available, leased, expired, breaking, broken

    /// `x-ms-lease-status`: locked while the lease holds the resource.
    var status: String { self == .leased || self == .breaking ? "locked" : "unlocked" }
}

/// What a lease protects, which decides the error codes Azure answers with.
enum LeaseResource: String, Sendable {
    case blob, container

    var operationSuffix: String { self == .blob ? "BlobOperation" : "ContainerOperation" }
}

/// The `x-ms-lease-*` headers a Get Properties answer carries for `lease`.
struct LeaseDescription {
    var state: LeaseState
    /// `infinite` or `fixed`, only while leased.
    var duration: String?

    init(_ lease: LeaseRecord?, now: Date) {
        state = lease?.state(at: now) ?? .available
        if state == .leased, let lease { duration = lease.duration < 0 ? "infinite" : "fixed" }
    }
}

/// One Lease Blob / Lease Container request (`comp=lease`, `x-ms-lease-action`).
enum LeaseAction: Equatable {
    case acquire(duration: Int, proposedID: String?)
    case renew(id: String)
    case change(id: String, proposedID: String)
    case release(id: String)
    case breakLease(period: Int?)

    /// Reads the action from the request headers, validating durations, periods and lease ids.
    init(headers header: (String) -> String?) throws(EmulatorError) {
        guard let action = header("x-ms-lease-action") else { throw .missingHeader("x-ms-lease-action") }
        func leaseID(_ name: String) throws(EmulatorError) -> String {
            guard let value = header(name) else { throw .missingHeader(name) }
            guard UUID(uuidString: value) != nil else { throw .invalidHeader(name) }
            return value
        }
        switch action.lowercased() {
        case "acquire":
            guard let text = header("x-ms-lease-duration") else { throw .missingHeader("x-ms-lease-duration") }
            guard let duration = Int(text), duration == -1 || (15...60).contains(duration) else {
                throw .invalidHeader("x-ms-lease-duration")
            }
            var proposed: String?
            if header("x-ms-proposed-lease-id") != nil { proposed = try leaseID("x-ms-proposed-lease-id") }
            self = .acquire(duration: duration, proposedID: proposed)
        case "renew": self = .renew(id: try leaseID("x-ms-lease-id"))
        case "change": self = .change(id: try leaseID("x-ms-lease-id"), proposedID: try leaseID("x-ms-proposed-lease-id"))
        case "release": self = .release(id: try leaseID("x-ms-lease-id"))
        case "break":
            var period: Int?
            if let text = header("x-ms-lease-break-period") {
                guard let value = Int(text), (0...60).contains(value) else { throw .invalidHeader("x-ms-lease-break-period") }
                period = value
            }
            self = .breakLease(period: period)
        default: throw .invalidHeader("x-ms-lease-action")
        }
    }
}

/// The outcome of a lease action: the new lease (nil when released) and what the response reports.
struct LeaseOutcome: Equatable {
    var lease: LeaseRecord?
    /// `x-ms-lease-id` for acquire, renew and change.
    var leaseID: String?
    /// `x-ms-lease-time` (seconds until the lease is broken) for break.
    var leaseTime: Int?
}

enum LeaseRules {
    private static func same(_ a: String, _ b: String) -> Bool { a.caseInsensitiveCompare(b) == .orderedSame }

    /// Applies `action` to `current` following the table "Outcomes of lease operations by lease state" in the
    /// Lease Blob documentation (the same rules hold for containers).
    static func apply(
        _ action: LeaseAction, to current: LeaseRecord?, now: Date, resource: LeaseResource,
        newID: () -> String = { UUID().uuidString.lowercased() }
    ) throws(EmulatorError) -> LeaseOutcome {
        let state = current?.state(at: now) ?? .available
        switch action {
        case .acquire(let duration, let proposed):
            switch state {
            case .leased:
                guard let current, let proposed, same(proposed, current.id) else { throw .leaseAlreadyPresent() }
                let lease = LeaseRecord(id: current.id, duration: duration, renewed: now)
                return LeaseOutcome(lease: lease, leaseID: lease.id)
            case .breaking:
                if let current, let proposed, same(proposed, current.id) { throw .leaseIsBreakingAndCannotBeAcquired() }
                throw .leaseAlreadyPresent()
            case .available, .expired, .broken:
                let lease = LeaseRecord(id: proposed ?? newID(), duration: duration, renewed: now)
                return LeaseOutcome(lease: lease, leaseID: lease.id)
            }
        case .renew(let id):
            guard var current, state != .available else { throw .leaseNotPresentWithLeaseOperation(resource) }
            guard same(id, current.id) else { throw .leaseIdMismatchWithLeaseOperation(resource) }
            switch state {
            case .leased, .expired:
                current.renewed = now
                return LeaseOutcome(lease: current, leaseID: current.id)
            case .breaking, .broken, .available:
                throw .leaseIsBrokenAndCannotBeRenewed()
            }
        case .change(let id, let proposed):
            guard var current, state != .available else { throw .leaseNotPresentWithLeaseOperation(resource) }
            guard same(id, current.id) || same(proposed, current.id) else {
                throw .leaseIdMismatchWithLeaseOperation(resource)
            }
            switch state {
            case .leased:
                current.id = proposed
                return LeaseOutcome(lease: current, leaseID: proposed)
            case .breaking: throw .leaseIsBreakingAndCannotBeChanged()
            case .expired, .broken, .available: throw .leaseNotPresentWithLeaseOperation(resource)
            }
        case .release(let id):
            guard let current, state != .available else { throw .leaseNotPresentWithLeaseOperation(resource) }
            guard same(id, current.id) else { throw .leaseIdMismatchWithLeaseOperation(resource) }
            return LeaseOutcome(lease: nil)
        case .breakLease(let period):
            guard var current, state != .available else { throw .leaseNotPresentWithLeaseOperation(resource) }
            switch state {
            case .leased:
                // The requested period applies only when shorter than what remains of a fixed lease; without
                // one, a fixed lease breaks when it would have expired and an infinite one breaks at once.
                var seconds: TimeInterval
                if current.duration >= 0 {
                    let remaining = current.renewed.addingTimeInterval(TimeInterval(current.duration)).timeIntervalSince(now)
                    seconds = min(TimeInterval(period ?? Int.max), remaining)
                } else {
                    seconds = TimeInterval(period ?? 0)
                }
                seconds = max(0, seconds)
                current.breakEnds = now.addingTimeInterval(seconds)
                return LeaseOutcome(lease: current, leaseTime: Int(seconds.rounded(.up)))
            case .breaking:
                let remaining = (current.breakEnds ?? now).timeIntervalSince(now)
                let seconds = max(0, min(remaining, TimeInterval(period ?? Int.max)))
                current.breakEnds = now.addingTimeInterval(seconds)
                return LeaseOutcome(lease: current, leaseTime: Int(seconds.rounded(.up)))
            case .expired, .broken, .available:
                if state == .expired { current.breakEnds = now }
                return LeaseOutcome(lease: current, leaseTime: 0)
            }
        }
    }

    /// Checks the `x-ms-lease-id` of a request that reads or writes a leased resource. Writes (and deletes) of
    /// a leased resource must name its lease; any request that names a lease must name the active one.
    static func checkAccess(
        _ lease: LeaseRecord?, requestLeaseID: String?, now: Date, resource: LeaseResource, requireLeaseID: Bool
    ) throws(EmulatorError) {
        let state = lease?.state(at: now) ?? .available
        switch state {
        case .leased, .breaking:
            guard let requestLeaseID else {
                if requireLeaseID { throw .leaseIdMissing(resource) }
                return
            }
            guard let lease, same(requestLeaseID, lease.id) else { throw .leaseIdMismatch(resource) }
        case .expired:
            if requestLeaseID != nil { throw .leaseLost(resource) }
        case .available, .broken:
            if requestLeaseID != nil { throw .leaseNotPresent(resource) }
        }
    }
}

extension EmulatorError {
    static func missingHeader(_ name: String) -> Self {
        .init(status: 400, code: "MissingRequiredHeader", message: "An HTTP header that's mandatory for this request is not specified.", details: [("HeaderName", name)])
    }
    static func leaseAlreadyPresent() -> Self { .init(status: 409, code: "LeaseAlreadyPresent", message: "There is already a lease present.") }
    static func leaseIsBreakingAndCannotBeAcquired() -> Self {
        .init(status: 409, code: "LeaseIsBreakingAndCannotBeAcquired", message: "The lease ID matched, but the lease is currently in breaking state and cannot be acquired until it is broken.")
    }
    static func leaseIsBreakingAndCannotBeChanged() -> Self {
        .init(status: 409, code: "LeaseIsBreakingAndCannotBeChanged", message: "The lease ID matched, but the lease is currently in breaking state and cannot be changed.")
    }
    static func leaseIsBrokenAndCannotBeRenewed() -> Self {
        .init(status: 409, code: "LeaseIsBrokenAndCannotBeRenewed", message: "The lease ID matched, but the lease has been broken explicitly and cannot be renewed.")
    }
    static func leaseNotPresentWithLeaseOperation(_ resource: LeaseResource) -> Self {
        .init(status: 409, code: "LeaseNotPresentWithLeaseOperation", message: "There is currently no lease on the \(resource.rawValue).")
    }
    static func leaseIdMismatchWithLeaseOperation(_ resource: LeaseResource) -> Self {
        .init(status: 409, code: "LeaseIdMismatchWithLeaseOperation", message: "The lease ID specified did not match the lease ID for the \(resource.rawValue).")
    }
    static func leaseIdMissing(_ resource: LeaseResource) -> Self {
        .init(status: 412, code: "LeaseIdMissing", message: "There is currently a lease on the \(resource.rawValue) and no lease ID was specified in the request.")
    }
    static func leaseIdMismatch(_ resource: LeaseResource) -> Self {
        .init(status: 412, code: "LeaseIdMismatchWith\(resource.operationSuffix)", message: "The lease ID specified did not match the lease ID for the \(resource.rawValue).")
    }
    static func leaseLost(_ resource: LeaseResource) -> Self {
        .init(status: 412, code: "LeaseLost", message: "A lease ID was specified, but the lease for the \(resource.rawValue) has expired.")
    }
    static func leaseNotPresent(_ resource: LeaseResource) -> Self {
        .init(status: 412, code: "LeaseNotPresentWith\(resource.operationSuffix)", message: "There is currently no lease on the \(resource.rawValue).")
    }
}
