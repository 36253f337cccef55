import Foundation

/// An `AsyncSequence` over every item of a paged listing; ``byPage()`` gives the pages with their
/// continuation tokens.
public struct PagedResults<Element: Sendable>: AsyncSequence, Sendable {
    /// One page of results.
    public struct Page: Sendable {
        public var items: [Element]
        /// Pass to ``PagedResults/byPage(continuationToken:)`` to resume after this page; nil on the last.
        public var continuationToken: String?

        public init(items: [Element], continuationToken: String?) {
            self.items = items
            self.continuationToken = continuationToken
        }
    }

    let fetch: @Sendable (String?) async throws -> Page

    /// A listing whose pages come from `fetch`, called with nil for the first page and then with each page's
    /// continuation token.
    public init(fetch: @escaping @Sendable (String?) async throws -> Page) { self.fetch = fetch }

    /// The pages, starting from `continuationToken` (the beginning when nil).
    public func byPage(continuationToken: String? = nil) -> Pages { Pages(fetch: fetch, start: continuationToken) }

    public struct Pages: AsyncSequence, Sendable {
        let fetch: @Sendable (String?) async throws -> Page
        let start: String?

        public struct AsyncIterator: AsyncIteratorProtocol {
            let fetch: @Sendable (String?) async throws -> Page
            var token: String?
            var done = false

            public mutating func next() async throws -> Page? {
                guard !done else { return nil }
                let page = try await fetch(token)
                token = page.continuationToken
                done = token == nil || token == ""
                return page
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(fetch: fetch, token: start) }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var pages: Pages.AsyncIterator
        var buffer: [Element] = []
        var index = 0

        public mutating func next() async throws -> Element? {
            while index >= buffer.count {
                guard let page = try await pages.next() else { return nil }
                buffer = page.items
                index = 0
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: byPage().makeAsyncIterator()) }
}
