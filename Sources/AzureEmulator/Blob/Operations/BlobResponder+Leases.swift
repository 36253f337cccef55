import Foundation
import HTTPTypes
import Hummingbird

/// Lease Container and Lease Blob (acquire, renew, change, release, break), and how a lease is described in
/// headers and listings. The lease rules themselves are ``LeaseRules``.
extension BlobResponder {
    func leaseContainer(_ request: BlobRequest, _ name: String) async throws -> Response {
        let action = try LeaseAction(headers: request.header)
        let conditions = try AccessConditions(request)
        let (record, outcome) = try await storage.leaseContainer(request.account, name, action: action) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        return leaseResponse(action, outcome, etag: record.etag, lastModified: record.lastModified)
    }

    private func leaseResponse(_ action: LeaseAction, _ outcome: LeaseOutcome, etag: String, lastModified: Date) -> Response {
        let status: HTTPResponse.Status
        switch action {
        case .acquire: status = .created
        case .breakLease: status = .accepted
        case .renew, .change, .release: status = .ok
        }
        var response = Response(status: status)
        response.headers[.eTag] = etag
        response.headers[.lastModified] = HTTPDate.rfc1123(lastModified)
        if let id = outcome.leaseID { response.headers[HTTPField.Name("x-ms-lease-id")!] = id }
        if let time = outcome.leaseTime { response.headers[HTTPField.Name("x-ms-lease-time")!] = String(time) }
        return response
    }

    func leaseBlob(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let action = try LeaseAction(headers: request.header)
        let conditions = try AccessConditions(request)
        let (record, outcome) = try await storage.leaseBlob(request.account, container, name, action: action) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        return leaseResponse(action, outcome, etag: record.etag, lastModified: record.lastModified)
    }

    func writeLease(_ lease: LeaseRecord?, to xml: inout XMLWriter) {
        let description = LeaseDescription(lease, now: storage.now())
        xml.element("LeaseStatus", description.state.status)
        xml.element("LeaseState", description.state.rawValue)
        if let duration = description.duration { xml.element("LeaseDuration", duration) }
    }

    func setLeaseHeaders(_ lease: LeaseRecord?, on headers: inout HTTPFields) {
        let description = LeaseDescription(lease, now: storage.now())
        headers[HTTPField.Name("x-ms-lease-status")!] = description.state.status
        headers[HTTPField.Name("x-ms-lease-state")!] = description.state.rawValue
        if let duration = description.duration { headers[HTTPField.Name("x-ms-lease-duration")!] = duration }
    }
}
