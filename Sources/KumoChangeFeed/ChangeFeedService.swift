import ServiceLifecycle

/// A ``ChangeFeed`` as a swift-service-lifecycle `Service`: run it in an application's `ServiceGroup` beside the
/// services that write the store. On graceful shutdown (SIGTERM, SIGINT, or the group stopping) the feed finishes its
/// current round, so everything acknowledged is checkpointed, and returns.
///
/// ```swift
/// let feed = try ChangeFeed(store: store, producer: producer, checkpointStore: FileCheckpointStore(path: "feed.json"))
/// let group = ServiceGroup(services: [api, ChangeFeedService(feed: feed)], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public struct ChangeFeedService: Service {
    public let feed: ChangeFeed

    public init(feed: ChangeFeed) { self.feed = feed }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await feed.run()
        } onGracefulShutdown: {
            feed.stop()
        }
    }
}
