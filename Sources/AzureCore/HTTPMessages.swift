import AsyncHTTPClient
import Foundation
import NIOCore

/// Header fields: ordered, names compared without regard to case.
public struct HTTPHeaderFields: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init(_ fields: [(String, String)] = []) {
        for (name, value) in fields { self[name] = value }
    }

    /// The first value of `name`; setting replaces every value of `name` (nil removes it).
    public subscript(name: String) -> String? {
        get { fields.first { Self.namesMatch($0.name, name) }?.value }
        set {
            fields.removeAll { Self.namesMatch($0.name, name) }
            if let newValue { fields.append((name, newValue)) }
        }
    }

    /// Header names are ASCII tokens (RFC 9110), so an ASCII case fold is the whole comparison; Foundation's
    /// locale-aware `caseInsensitiveCompare` showed up in profiles of many small transfers.
    static func namesMatch(_ a: String, _ b: String) -> Bool {
        var left = a.utf8.makeIterator()
        var right = b.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return true
            case (let x?, let y?):
                if x != y && Self.asciiLowercased(x) != Self.asciiLowercased(y) { return false }
            default: return false
            }
        }
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte + 32 : byte
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// Every `x-ms-meta-*` header as metadata (names without the prefix).
    public var metadata: [String: String] {
        var metadata: [String: String] = [:]
        for (name, value) in fields where name.lowercased().hasPrefix("x-ms-meta-") {
            metadata[String(name.dropFirst("x-ms-meta-".count))] = value
        }
        return metadata
    }
}

/// A request URL kept as its parts, so the percent-encoded path that is signed is the one that is sent.
public struct RequestURL: Sendable {
    /// `scheme://host[:port]`.
    public var origin: String
    /// The path, percent-encoded, starting with `/`.
    public var encodedPath: String
    /// Query parameters, not encoded.
    public var query: [(name: String, value: String)]

    public init(origin: String, encodedPath: String, query: [(name: String, value: String)] = []) {
        self.origin = origin
        self.encodedPath = encodedPath.isEmpty ? "/" : encodedPath
        self.query = query
    }

    /// Splits an absolute URL; its query, if any, is decoded.
    public init(_ url: URL) throws {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false), let scheme = components.scheme,
            let host = components.host
        else { throw AzureError(.invalidArgument, "'\(url.absoluteString)' is not an absolute http(s) URL") }
        origin = "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
        encodedPath = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        query = (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }
    }

    /// A copy with `segment` (encoded here) appended to the path.
    public func appendingPath(_ segment: String) -> RequestURL {
        var copy = self
        let base = encodedPath.hasSuffix("/") ? String(encodedPath.dropLast()) : encodedPath
        copy.encodedPath = base + "/" + Self.encodePath(segment)
        return copy
    }

    public mutating func setQuery(_ name: String, _ value: String?) {
        query.removeAll { $0.name == name }
        if let value { query.append((name, value)) }
    }

    /// The full URL as sent.
    public var string: String {
        var text = origin + encodedPath
        if !query.isEmpty {
            text += "?" + query.map { "\(Self.encodeQuery($0.name))=\(Self.encodeQuery($0.value))" }.joined(separator: "&")
        }
        return text
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// Percent-encodes a blob or container path, keeping `/` as the separator of virtual directories.
    public static func encodePath(_ path: String) -> String {
        path.addingPercentEncoding(withAllowedCharacters: unreserved.union(CharacterSet(charactersIn: "/"))) ?? path
    }

    public static func encodeQuery(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
    }
}

public enum HTTPMethod: String, Sendable {
    case get = "GET", put = "PUT", head = "HEAD", delete = "DELETE", post = "POST", patch = "PATCH"
}

/// A request on its way through the pipeline.
public struct AzureHTTPRequest: Sendable {
    public var method: HTTPMethod
    public var url: RequestURL
    public var headers: HTTPHeaderFields
    /// The body; requests that carry data hold it in memory (at most one block), so it can be sent again.
    public var body: ByteBuffer?

    public init(method: HTTPMethod, url: RequestURL, headers: HTTPHeaderFields = HTTPHeaderFields(), body: ByteBuffer? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A response body: streamed from the connection, or already in memory. Iterate it once.
public struct HTTPResponseBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    enum Storage: Sendable {
        case buffer(ByteBuffer)
        case client(HTTPClientResponse.Body, mapError: @Sendable (any Error) -> AzureError)
    }

    let storage: Storage

    public init(_ buffer: ByteBuffer) { storage = .buffer(buffer) }

    /// A streamed body whose read failures (a read timeout, a reset) become `mapError`'s ``AzureError``, which
    /// names the request, as failures before the response do.
    init(_ body: HTTPClientResponse.Body, mapError: @escaping @Sendable (any Error) -> AzureError) {
        storage = .client(body, mapError: mapError)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var buffer: ByteBuffer?
        var client: HTTPClientResponse.Body.AsyncIterator?
        var mapError: (@Sendable (any Error) -> AzureError)?

        public mutating func next() async throws -> ByteBuffer? {
            if let chunk = buffer {
                buffer = nil
                return chunk.readableBytes > 0 ? chunk : nil
            }
            do {
                return try await client?.next()
            } catch {
                throw mapError?(error) ?? error
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        switch storage {
        case .buffer(let buffer): AsyncIterator(buffer: buffer, client: nil, mapError: nil)
        case .client(let body, let mapError): AsyncIterator(buffer: nil, client: body.makeAsyncIterator(), mapError: mapError)
        }
    }

    /// The whole body, failing past `limit` bytes.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        for try await var chunk in self {
            guard result.readableBytes + chunk.readableBytes <= limit else {
                throw AzureError(.invalidResponse, "the response body is larger than \(limit) bytes")
            }
            result.writeBuffer(&chunk)
        }
        return result
    }
}

/// A response as the pipeline returns it.
public struct AzureHTTPResponse: Sendable {
    public var statusCode: Int
    public var headers: HTTPHeaderFields
    public var body: HTTPResponseBody

    public init(statusCode: Int, headers: HTTPHeaderFields, body: HTTPResponseBody = HTTPResponseBody(ByteBuffer())) {
        self.statusCode = statusCode
        self.headers = headers
        self.body = body
    }

    public var requestID: String? { headers["x-ms-request-id"] }
}
