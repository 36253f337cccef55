extension Duration {
    /// Whole milliseconds, as AMQP states idle time-outs and NIO takes time amounts.
    var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
