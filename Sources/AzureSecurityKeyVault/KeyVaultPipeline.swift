import AzureCore
import Foundation
import NIOCore

/// What every Key Vault client shares: the vault, the pipeline (with challenge authentication) and the JSON
/// conventions of the REST API.
struct KeyVaultPipeline: Sendable {
    static let apiVersion = "7.5"

    let vaultURL: URL
    let base: RequestURL
    let pipeline: HTTPPipeline

    init(vaultURL: URL, credential: any TokenCredential, options: ClientOptions, transport: any HTTPTransport) throws {
        let trimmed = vaultURL.absoluteString.hasSuffix("/") ? String(vaultURL.absoluteString.dropLast()) : vaultURL.absoluteString
        guard let url = URL(string: trimmed), url.host != nil else {
            throw AzureError(.invalidArgument, "'\(vaultURL.absoluteString)' is not a Key Vault URL")
        }
        base = try RequestURL(url)
        try BearerTokenPolicy.requireSecureTransport(base)
        self.vaultURL = url
        var policies: [any HTTPPipelinePolicy] = [
            RequestIDPolicy(),
            // Key Vault is versioned by `api-version`, not `x-ms-version`.
            TelemetryPolicy(serviceVersion: nil, applicationID: options.applicationID),
            options.retry,
            KeyVaultChallengePolicy(credential: credential),
        ]
        policies.append(contentsOf: options.perRetryPolicies)
        policies.append(LoggingPolicy(logger: options.logger))
        pipeline = HTTPPipeline(policies: policies, transport: transport, perTryTimeout: options.perTryTimeout)
    }

    /// `{vault}/{segments...}?api-version=7.5`, each segment percent-encoded; empty segments (a nil version)
    /// are left out, so the path names the latest version.
    func url(_ segments: String..., query: [(String, String?)] = []) -> RequestURL {
        var url = base
        for segment in segments where !segment.isEmpty { url = url.appendingPath(segment) }
        url.setQuery("api-version", Self.apiVersion)
        for (name, value) in query { url.setQuery(name, value) }
        return url
    }

    /// Sends a request with an optional JSON body and decodes the JSON answer.
    func send<Answer: Decodable>(
        _ method: HTTPMethod, _ url: RequestURL, body: (any Encodable)? = nil, as: Answer.Type
    ) async throws -> Answer {
        let data = try await sendForData(method, url, body: body)
        do {
            return try JSONDecoder().decode(Answer.self, from: data)
        } catch {
            throw AzureError(.invalidResponse, "the Key Vault answer to \(method.rawValue) \(url.encodedPath) is not the expected JSON: \(error)")
        }
    }

    /// Sends a request and returns the raw body of a 2xx answer; other answers become ``AzureError``s.
    @discardableResult
    func sendForData(_ method: HTTPMethod, _ url: RequestURL, body: (any Encodable)? = nil) async throws -> Data {
        var headers = HTTPHeaderFields()
        headers["Accept"] = "application/json"
        var buffer: ByteBuffer?
        if let body {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            buffer = ByteBuffer(bytes: try encoder.encode(body))
            headers["Content-Type"] = "application/json"
        }
        let response = try await pipeline.send(AzureHTTPRequest(method: method, url: url, headers: headers, body: buffer))
        let answer = try await response.body.collect(upTo: 16 << 20)
        guard (200..<300).contains(response.statusCode) else {
            throw KeyVaultErrors.from(response, body: answer)
        }
        return Data(answer.readableBytesView)
    }

    /// A listing that follows `nextLink`; each link must stay on this vault, so tokens never go elsewhere.
    func list<Item: Decodable & Sendable, Element: Sendable>(
        _ first: RequestURL, item: Item.Type, transform: @escaping @Sendable (Item) throws -> Element
    ) -> PagedResults<Element> {
        let pipeline = self
        return PagedResults { continuation in
            var url = first
            if let continuation {
                guard let next = URL(string: continuation), let parsed = try? RequestURL(next),
                    parsed.origin.lowercased() == first.origin.lowercased()
                else {
                    throw AzureError(.invalidArgument, "the continuation token is not a link on \(first.origin)")
                }
                url = parsed
                if !url.query.contains(where: { $0.name == "api-version" }) { url.setQuery("api-version", Self.apiVersion) }
            }
            let page = try await pipeline.send(.get, url, as: ListPage<Item>.self)
            return .init(items: try (page.value ?? []).map(transform), continuationToken: page.nextLink)
        }
    }
}

/// `{"value": [...], "nextLink": "..."}`.
struct ListPage<Item: Decodable>: Decodable {
    var value: [Item]?
    var nextLink: String?
}

/// Turns Key Vault's `{"error": {"code": "SecretNotFound", "message": "..."}}` answers into ``AzureError``s.
enum KeyVaultErrors {
    private struct Envelope: Decodable {
        struct Body: Decodable {
            var code: String?
            var message: String?
        }
        var error: Body?
    }

    static func from(_ response: AzureHTTPResponse, body: ByteBuffer) -> AzureError {
        let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(body.readableBytesView))
        let code = envelope?.error?.code ?? response.headers["x-ms-error-code"]
        let message = envelope?.error?.message ?? "the Key Vault answered \(response.statusCode)"
        let retriable = [408, 429, 500, 502, 503, 504].contains(response.statusCode)
        return AzureError(
            .service, message, statusCode: response.statusCode, errorCode: code, requestID: response.requestID,
            isRetriable: retriable)
    }
}

/// Object attributes as the REST API carries them: times in Unix seconds.
struct WireAttributes: Codable, Sendable {
    var enabled: Bool?
    var nbf: Double?
    var exp: Double?
    var created: Double?
    var updated: Double?
    var recoveryLevel: String?
    var recoverableDays: Int?
    var exportable: Bool?

    init(enabled: Bool? = nil, notBefore: Date? = nil, expiresOn: Date? = nil) {
        self.enabled = enabled
        nbf = notBefore.map { $0.timeIntervalSince1970.rounded(.down) }
        exp = expiresOn.map { $0.timeIntervalSince1970.rounded(.down) }
    }

    static func date(_ seconds: Double?) -> Date? { seconds.map(Date.init(timeIntervalSince1970:)) }
}

/// Binary values in Key Vault JSON are base64url without padding.
struct Base64URLData: Codable, Sendable, Hashable {
    var data: Data

    init(_ data: Data) { self.data = data }

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let data = Base64URL.decode(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not base64url"))
        }
        self.data = data
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Base64URL.encode(data))
    }
}
