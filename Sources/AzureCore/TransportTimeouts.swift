import Foundation

/// How long a transport waits for a connection, and for the server between bytes.
///
/// There is deliberately no bound on a whole request: an upload or download of any size may take as long as
/// it needs while bytes keep moving, and a silent peer is caught by ``read`` instead.
public struct TransportTimeouts: Sendable, Hashable {
    /// Longest wait for a connection (TCP, and TLS for https) to be established.
    public var connect: Duration
    /// Longest time without a byte from the server once the request is sent (and, while the request body is
    /// sent, without the server accepting one).
    public var read: Duration

    public init(connect: Duration = Self.default.connect, read: Duration = Self.default.read) {
        self.connect = connect
        self.read = read
    }

    /// 10 s to connect, 60 s without bytes.
    public static let `default` = TransportTimeouts(unchecked: .seconds(10), read: .seconds(60))

    private init(unchecked connect: Duration, read: Duration) {
        self.connect = connect
        self.read = read
    }

    /// The environment variable that sets ``connect``, in seconds (`KUMO_CONNECT_TIMEOUT=5`, `=2.5`).
    public static let connectTimeoutVariable = "KUMO_CONNECT_TIMEOUT"
    /// The environment variable that sets ``read``, in seconds.
    public static let readTimeoutVariable = "KUMO_READ_TIMEOUT"

    /// The timeouts `KUMO_CONNECT_TIMEOUT` and `KUMO_READ_TIMEOUT` set, with the defaults for those unset.
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` naming the variable when a value is not a positive number
    ///   of seconds.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> TransportTimeouts
    {
        let (timeouts, problems) = parse(environment)
        if let first = problems.first { throw first }
        return timeouts
    }

    /// The timeouts the environment sets, with the default in place of each invalid value, and one error per
    /// invalid value (for callers that cannot throw and warn instead).
    static func parse(_ environment: [String: String]) -> (TransportTimeouts, [AzureError]) {
        var timeouts = TransportTimeouts.default
        var problems: [AzureError] = []
        func read(_ variable: String, into value: inout Duration) {
            guard let text = environment[variable]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return }
            // A trailing "s" is accepted because "30s" is how people write seconds.
            let number = text.hasSuffix("s") ? String(text.dropLast()) : text
            guard let seconds = Double(number), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
                problems.append(AzureError(
                    .invalidArgument,
                    "\(variable)='\(text)' is not a timeout in seconds (a positive number up to 86400, e.g. "
                        + "\(variable)=\(Int(value.seconds))); using \(value.spokenSeconds)"))
                return
            }
            value = .milliseconds(Int64((seconds * 1000).rounded()))
        }
        read(connectTimeoutVariable, into: &timeouts.connect)
        read(readTimeoutVariable, into: &timeouts.read)
        return (timeouts, problems)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// "10 s", "1.6 s", "250 ms": how a person reads a wait or a timeout in a log line or an error.
    var spokenSeconds: String {
        let value = seconds
        if value < 0.1 { return "\(Int((value * 1000).rounded())) ms" }
        if value < 10 {
            let tenths = (value * 10).rounded() / 10
            return tenths == tenths.rounded() ? "\(Int(tenths)) s" : "\(tenths) s"
        }
        return "\(Int(value.rounded())) s"
    }
}
