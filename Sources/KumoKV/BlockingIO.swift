import Dispatch

/// Runs RocksDB calls that may block for long (open, flush, compaction, checkpoint, ingestion, WAL reads)
/// on Dispatch threads, so they never occupy a thread of Swift's cooperative pool.
enum BlockingIO {
    private static let queue = DispatchQueue(label: "kumo.kv.blocking-io", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
