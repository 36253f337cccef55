import AzureEmulator

/// The emulator could not start in this process.
public struct EmulatorDidNotStart: Error, CustomStringConvertible {
    public var description: String { "the in-process emulator did not start" }
}

/// Runs the emulator with `configuration` in this process for the duration of `body`, which gets its bound
/// endpoints. Afterwards the emulator is stopped and awaited until its store is closed, so a test process never
/// exits under a closing RocksDB store.
public func withInProcessEmulator<T: Sendable>(
    _ configuration: EmulatorConfiguration, _ body: (EmulatorEndpoints) async throws -> T
) async throws -> T {
    let (stream, continuation) = AsyncStream<EmulatorEndpoints>.makeStream()
    let server = Task {
        // A run that fails before listening ends the stream, so the wait below cannot hang.
        defer { continuation.finish() }
        try await AzureEmulatorServer(configuration: configuration).run { (endpoints: EmulatorEndpoints) in
            continuation.yield(endpoints)
        }
    }
    var iterator = stream.makeAsyncIterator()
    let endpoints = await iterator.next()
    let outcome: Result<T, any Error>
    if let endpoints {
        do { outcome = .success(try await body(endpoints)) } catch { outcome = .failure(error) }
    } else {
        outcome = .failure(EmulatorDidNotStart())
    }
    server.cancel()
    _ = await server.result
    return try outcome.get()
}
