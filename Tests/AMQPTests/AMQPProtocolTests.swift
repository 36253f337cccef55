import AMQP
import Testing

@Suite struct AMQPProtocolTests {
    @Test func ianaPorts() {
        #expect(AMQPProtocol.port == 5672)
        #expect(AMQPProtocol.securePort == 5671)
    }
}
