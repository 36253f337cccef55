/// AMQP 1.0 on SwiftNIO: the type system, frames, SASL, performatives and messages (wire formats), connection,
/// session and link state machines (plain values), and the channel handler that drives them.
public enum AMQPProtocol {
    /// The IANA port for AMQP over TCP.
    public static let port = 5672
    /// The IANA port for AMQP over TLS.
    public static let securePort = 5671
}
