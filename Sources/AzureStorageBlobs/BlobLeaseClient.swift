import AzureCore
import Foundation

/// A lease on a blob or container: a lock that lets one writer exclude others.
public struct BlobLeaseClient: Sendable {
    public let url: RequestURL
    let isContainer: Bool
    /// The lease id this client proposes on acquire and presents afterwards.
    public private(set) var leaseID: String
    let pipeline: BlobPipeline

    init(url: RequestURL, isContainer: Bool, leaseID: String, pipeline: BlobPipeline) {
        self.url = url
        self.isContainer = isContainer
        self.leaseID = leaseID
        self.pipeline = pipeline
    }

    private func send(_ action: String, headers extra: [(String, String)], expected: Set<Int>) async throws -> AzureHTTPResponse {
        var url = self.url
        if isContainer { url.setQuery("restype", "container") }
        url.setQuery("comp", "lease")
        var headers = HTTPHeaderFields()
        headers["x-ms-lease-action"] = action
        for (name, value) in extra { headers[name] = value }
        return try await pipeline.send(.put, url, headers: headers, expected: expected)
    }

    /// Acquires the lease for `seconds` (15 to 60) or, with nil, indefinitely.
    /// - Throws: ``AzureError`` 409 `LeaseAlreadyPresent` while someone else holds it.
    public func acquire(seconds: Int? = nil) async throws {
        if let seconds, !(15...60).contains(seconds) {
            throw AzureError(.invalidArgument, "a lease lasts 15 to 60 seconds (or is infinite), not \(seconds)")
        }
        _ = try await send("acquire", headers: [("x-ms-lease-duration", String(seconds ?? -1)), ("x-ms-proposed-lease-id", leaseID)], expected: [201])
    }

    public func renew() async throws {
        _ = try await send("renew", headers: [("x-ms-lease-id", leaseID)], expected: [200])
    }

    public func release() async throws {
        _ = try await send("release", headers: [("x-ms-lease-id", leaseID)], expected: [200])
    }

    /// Moves the lease to `newLeaseID`.
    public mutating func change(to newLeaseID: String) async throws {
        _ = try await send("change", headers: [("x-ms-lease-id", leaseID), ("x-ms-proposed-lease-id", newLeaseID)], expected: [200])
        leaseID = newLeaseID
    }

    /// Breaks the lease, whoever holds it. Returns the seconds until it is broken.
    @discardableResult
    public func breakLease(periodSeconds: Int? = nil) async throws -> Int {
        let response = try await send("break", headers: periodSeconds.map { [("x-ms-lease-break-period", String($0))] } ?? [], expected: [202])
        return response.headers["x-ms-lease-time"].flatMap(Int.init) ?? 0
    }
}

extension BlobContainerClient {
    public func leaseClient(leaseID: String? = nil) -> BlobLeaseClient {
        BlobLeaseClient(url: url, isContainer: true, leaseID: leaseID ?? UUID().uuidString.lowercased(), pipeline: pipeline)
    }
}
