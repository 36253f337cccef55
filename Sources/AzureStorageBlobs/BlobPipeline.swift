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
