/// Failures the emulator injects so clients' retry logic can be tested: answers Azure gives when it is
/// overloaded (503 ServerBusy) or fails (500 InternalError), connections closed without an answer, and extra
/// latency. Faults are decided before a request is authorised or changes anything, so a retry is always safe.
public struct FaultInjection: Sendable, Equatable {
    /// Probability (0...1) that a request is answered 500 or 503 (half each) instead of being served.
    public var errorRate: Double
    /// Probability (0...1) that the connection is closed without any response.
    public var dropRate: Double
    /// Delay added before each affected request is handled, in milliseconds.
    public var latencyMilliseconds: Int
    /// Operation names (``operationNames``) the faults apply to; empty means all operations. A lease operation
    /// may be qualified by its `x-ms-lease-action`, so `lease-blob:renew` fails renewals while `lease-blob`
    /// fails every lease action.
    public var operations: Set<String>

    public init(errorRate: Double = 0, dropRate: Double = 0, latencyMilliseconds: Int = 0, operations: Set<String> = []) {
        self.errorRate = errorRate
        self.dropRate = dropRate
        self.latencyMilliseconds = latencyMilliseconds
        self.operations = operations
    }

    public static let none = FaultInjection()

    /// The names `operations` accepts: `put-blob`, `put-block`, `get-blob`, `list-blobs`, …, and the lease
    /// operations qualified by action (`lease-blob:acquire`, `lease-blob:renew`, `lease-container:break`, …).
    public static var operationNames: [String] {
        BlobOperation.allCases.flatMap { operation in
            [operation.rawValue] + operation.faultActions.map { "\(operation.rawValue):\($0)" }
        } + ["eventhubs-send"]
    }

    var isEnabled: Bool { errorRate > 0 || dropRate > 0 || latencyMilliseconds > 0 }

    /// What happens to one request.
    enum Decision: Equatable {
        case serve
        case drop
        case serverBusy
        case internalError
    }

    /// Whether faults apply to `operation`; `action` is the request's lease action (lowercased) for the lease
    /// operations, which an action-qualified name must match.
    func applies(to operation: BlobOperation, action: String? = nil) -> Bool {
        if operations.isEmpty || operations.contains(operation.rawValue) { return true }
        guard let action, operation.faultActions.contains(action) else { return false }
        return operations.contains("\(operation.rawValue):\(action)")
    }

    /// Decides the fate of a request for `operation` (with lease `action`, if any), drawing from `random`.
    func decide(
        for operation: BlobOperation, action: String? = nil, using random: inout some RandomNumberGenerator
    ) -> Decision {
        guard applies(to: operation, action: action) else { return .serve }
        if dropRate > 0, Double.random(in: 0..<1, using: &random) < dropRate { return .drop }
        if errorRate > 0, Double.random(in: 0..<1, using: &random) < errorRate {
            return Bool.random(using: &random) ? .serverBusy : .internalError
        }
        return .serve
    }
}

extension EmulatorError {
    static func serverBusy() -> Self { .init(status: 503, code: "ServerBusy", message: "The server is busy.") }
}
