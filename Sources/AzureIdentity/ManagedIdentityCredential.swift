import AzureCore
import Foundation
import Synchronization

/// Authenticates as the managed identity of the Azure host the code runs on: App Service and Functions (when
/// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set), otherwise the Instance Metadata Service of VMs, VM scale
/// sets and AKS nodes (`http://169.254.169.254`, or `AZURE_POD_IDENTITY_AUTHORITY_HOST`).
public struct ManagedIdentityCredential: TokenCredential, CustomStringConvertible {
    enum Source: Sendable {
        case appService(endpoint: URL, header: String)
        case imds(authority: String)
    }

    /// The user-assigned identity's client ID; nil for the system-assigned identity.
    public let clientID: String?
    let source: Source
    let pipeline: HTTPPipeline
    /// Set in ``DefaultAzureCredential``: the first IMDS request gives up after this long and reports the
    /// credential unavailable, since off Azure nothing answers at 169.254.169.254 and waiting for the usual
    /// timeouts would stall every developer's first request.
    let probe: IMDSProbe?
    private let cache = TokenCache()

    /// - Parameters:
    ///   - clientID: the client ID of a user-assigned identity; nil for the system-assigned one.
    ///   - environment: where `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` and `AZURE_POD_IDENTITY_AUTHORITY_HOST` are
    ///     read from.
    public init(clientID: String? = nil, options: TokenCredentialOptions = .init(),
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(clientID: clientID, options: options, environment: environment, probeTimeout: nil)
    }

    init(clientID: String?, options: TokenCredentialOptions, environment: [String: String], probeTimeout: Duration?) {
        self.clientID = clientID
        if let endpoint = environment["IDENTITY_ENDPOINT"].flatMap(URL.init(string:)),
            let header = environment["IDENTITY_HEADER"], !header.isEmpty
        {
            source = .appService(endpoint: endpoint, header: header)
        } else {
            var authority = environment["AZURE_POD_IDENTITY_AUTHORITY_HOST"].flatMap { $0.isEmpty ? nil : $0 }
                ?? "http://169.254.169.254"
            if authority.hasSuffix("/") { authority.removeLast() }
            source = .imds(authority: authority)
        }
        pipeline = options.pipeline()
        if let probeTimeout, case .imds = source {
            probe = IMDSProbe(pipeline: options.pipeline(perTryTimeout: probeTimeout, retry: .noRetry),
                              timeout: probeTimeout)
        } else {
            probe = nil
        }
    }

    /// - Throws: ``AzureError`` `.credentialUnavailable` when no managed identity endpoint answers (probing
    ///   only) or the host has no identity assigned; `.authentication` for other refusals.
    public func token(for scopes: [String]) async throws -> AccessToken {
        guard scopes.count == 1, let scope = scopes.first else {
            throw AzureError(.invalidArgument, "ManagedIdentityCredential: exactly one scope is required, got \(scopes.count)")
        }
        let resource = scope.hasSuffix("/.default") ? String(scope.dropLast("/.default".count)) : scope
        let request = try self.request(resource: resource)
        let pipeline = pipeline
        let probe = probe
        return try await cache.token(for: scopes) {
            let response: AzureHTTPResponse
            if let probe, !probe.hasAnswered {
                response = try await probe.send(request)
            } else {
                response = try await EntraTokenClient.send(
                    request, pipeline: pipeline, credentialName: "ManagedIdentityCredential")
            }
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.statusCode == 200 else {
                var error = EntraErrors.failure(
                    credentialName: "ManagedIdentityCredential", statusCode: response.statusCode, body: body,
                    context: "the managed identity endpoint")
                // IMDS answers 400 when the VM has no identity (or not the one asked for): not configured here.
                if case .imds = source, response.statusCode == 400 {
                    error.code = .credentialUnavailable
                    error.message = "ManagedIdentityCredential: no managed identity is assigned to this host ("
                        + error.message + ")"
                }
                throw error
            }
            return try TokenResponse.parse(body, credentialName: "ManagedIdentityCredential")
        }
    }

    func request(resource: String) throws -> AzureHTTPRequest {
        switch source {
        case .appService(let endpoint, let header):
            var url = try RequestURL(endpoint)
            url.setQuery("api-version", "2019-08-01")
            url.setQuery("resource", resource)
            url.setQuery("client_id", clientID)
            return AzureHTTPRequest(method: .get, url: url, headers: HTTPHeaderFields([("X-IDENTITY-HEADER", header)]))
        case .imds(let authority):
            guard let base = URL(string: authority + "/metadata/identity/oauth2/token") else {
                throw AzureError(.invalidArgument, "ManagedIdentityCredential: '\(authority)' is not a URL")
            }
            var url = try RequestURL(base)
            url.setQuery("api-version", "2018-02-01")
            url.setQuery("resource", resource)
            url.setQuery("client_id", clientID)
            return AzureHTTPRequest(method: .get, url: url, headers: HTTPHeaderFields([("Metadata", "true")]))
        }
    }

    public var description: String {
        switch source {
        case .appService(let endpoint, _):
            "ManagedIdentityCredential(App Service at \(endpoint.absoluteString), clientID: \(clientID ?? "system"))"
        case .imds(let authority):
            "ManagedIdentityCredential(IMDS at \(authority), clientID: \(clientID ?? "system"))"
        }
    }
}

/// The first IMDS request, bounded by a short timeout; once anything has answered, the endpoint is known to
/// exist and later requests use the normal timeouts and retries.
final class IMDSProbe: Sendable {
    let pipeline: HTTPPipeline
    let timeout: Duration
    private let answered = Mutex(false)

    init(pipeline: HTTPPipeline, timeout: Duration) {
        self.pipeline = pipeline
        self.timeout = timeout
    }

    var hasAnswered: Bool { answered.withLock { $0 } }

    func send(_ request: AzureHTTPRequest) async throws -> AzureHTTPResponse {
        do {
            let response = try await pipeline.send(request)
            answered.withLock { $0 = true }
            return response
        } catch let error as AzureError where error.code == .transport || error.code == .timeout {
            throw AzureError(
                .credentialUnavailable,
                "ManagedIdentityCredential: no managed identity endpoint answered at \(request.url.origin) within "
                    + "\(timeout) (\(error.message))")
        }
    }
}
