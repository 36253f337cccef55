import AzureCore
import Foundation
import NIOCore

/// What every Blob client shares: the pipeline and how to turn answers into results or errors.
struct BlobPipeline: Sendable {
    let pipeline: HTTPPipeline
    let credential: StorageCredential

    /// Sends a request and returns the response when its status is one of `expected`; otherwise throws the
    /// service's error.
    func send(
        _ method: HTTPMethod, _ url: RequestURL, headers: HTTPHeaderFields = HTTPHeaderFields(), body: ByteBuffer? = nil,
        expected: Set<Int>
    ) async throws -> AzureHTTPResponse {
        let response = try await pipeline.send(AzureHTTPRequest(method: method, url: url, headers: headers, body: body))
        guard expected.contains(response.statusCode) else { throw await BlobServiceErrors.from(response) }
        return response
    }

    /// Sends a request and parses its XML body.
    func sendForXML(_ method: HTTPMethod, _ url: RequestURL, headers: HTTPHeaderFields = HTTPHeaderFields()) async throws -> (
        XMLNode, AzureHTTPResponse
    ) {
        let response = try await send(method, url, headers: headers, expected: [200])
        let body = try await response.body.collect(upTo: 64 << 20)
        return (try XMLNode.parse(Data(body.readableBytesView)), response)
    }
}

/// An `AsyncSequence` over every item of a paged listing; ``byPage()`` gives the pages with their
/// continuation tokens.
public struct PagedResults<Element: Sendable>: AsyncSequence, Sendable {
    /// One page of results.
    public struct Page: Sendable {
        public var items: [Element]
        /// Pass to ``PagedResults/byPage(continuationToken:)`` to resume after this page; nil on the last.
        public var continuationToken: String?
    }

    let fetch: @Sendable (String?) async throws -> Page

    init(fetch: @escaping @Sendable (String?) async throws -> Page) { self.fetch = fetch }

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
