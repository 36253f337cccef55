import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Container operations: Create Container, Get Container Properties, Set Container Metadata, Get and Set
/// Container ACL, Delete Container. Lease Container is in `BlobResponder+Leases.swift`, List Containers in
/// `BlobResponder+Listing.swift`.
extension BlobResponder {
    func createContainer(_ request: BlobRequest, _ name: String) async throws -> Response {
        try Self.validateContainerName(name)
        let record = try await storage.createContainer(request.account, name, metadata: request.metadata)
        var response = Response(status: .created)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        return response
    }

    /// Container names: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a
    /// letter or digit (or the special `$root`, `$logs`, `$web`).
    static func validateContainerName(_ name: String) throws(EmulatorError) {
        if ["$root", "$logs", "$web"].contains(name) { return }
        let characters = Array(name.utf8)
        let valid = (3...63).contains(characters.count)
            && characters.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
            && characters.first != 45 && characters.last != 45 && !name.contains("--")
        if !valid {
            throw .invalidResourceName()
        }
    }

    func setContainerMetadata(_ request: BlobRequest, _ name: String) async throws -> Response {
        let record = try await storage.setContainerMetadata(
            request.account, name, metadata: request.metadata, leaseID: request.header("x-ms-lease-id"))
        var response = Response(status: .ok)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        return response
    }

    func containerHeaders(
        _ request: BlobRequest, _ name: String, status: HTTPResponse.Status, includeMetadata: Bool = false
    ) async throws -> Response {
        guard let record = try await storage.container(request.account, name) else {
            throw EmulatorError.containerNotFound()
        }
        if let leaseID = request.header("x-ms-lease-id") {
            try LeaseRules.checkAccess(record.lease, requestLeaseID: leaseID, now: storage.now(), resource: .container, requireLeaseID: false)
        }
        var response = Response(status: status)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        if includeMetadata {
            for (key, value) in record.metadata { response.headers[HTTPField.Name("x-ms-meta-\(key)")!] = value }
            setLeaseHeaders(record.lease, on: &response.headers)
            response.headers[HTTPField.Name("x-ms-has-immutability-policy")!] = "false"
            response.headers[HTTPField.Name("x-ms-has-legal-hold")!] = "false"
            response.headers[HTTPField.Name("x-ms-default-encryption-scope")!] = "$account-encryption-key"
            response.headers[HTTPField.Name("x-ms-deny-encryption-scope-override")!] = "false"
        }
        return response
    }

    /// Get Container ACL: no stored access policies are kept, so the list is always empty.
    func containerACL(_ request: BlobRequest, _ name: String) async throws -> Response {
        var response = try await containerHeaders(request, name, status: .ok)
        var xml = XMLWriter()
        xml.element("SignedIdentifiers") { _ in }
        response.body = ResponseBody(byteBuffer: ByteBuffer(string: xml.text))
        response.headers[.contentType] = "application/xml"
        return response
    }

    func deleteContainer(_ request: BlobRequest, _ name: String) async throws -> Response {
        let conditions = try AccessConditions(request)
        try await storage.deleteContainer(request.account, name, leaseID: request.header("x-ms-lease-id")) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        return Response(status: .accepted)
    }
}
