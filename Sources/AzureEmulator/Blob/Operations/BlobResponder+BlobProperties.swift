import Foundation
import HTTPTypes
import Hummingbird

/// Set Blob Metadata and Set Blob Properties, and the HTTP properties (`x-ms-blob-content-*`) a request sets.
extension BlobResponder {
    func httpProperties(_ request: BlobRequest, fromBodyHeaders: Bool) -> BlobHTTPProperties {
        BlobHTTPProperties(
            contentType: request.header("x-ms-blob-content-type") ?? (fromBodyHeaders ? request.header("Content-Type") : nil),
            contentEncoding: request.header("x-ms-blob-content-encoding") ?? (fromBodyHeaders ? request.header("Content-Encoding") : nil),
            contentLanguage: request.header("x-ms-blob-content-language") ?? (fromBodyHeaders ? request.header("Content-Language") : nil),
            contentDisposition: request.header("x-ms-blob-content-disposition"),
            cacheControl: request.header("x-ms-blob-cache-control") ?? (fromBodyHeaders ? request.header("Cache-Control") : nil),
            contentMD5: request.header("x-ms-blob-content-md5"))
    }

    func setBlobMetadata(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let conditions = try AccessConditions(request)
        let record = try await storage.setBlobMetadata(
            request.account, container, name, metadata: request.metadata, leaseID: request.header("x-ms-lease-id")
        ) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        var response = Response(status: .ok)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        if let version = record.versionID { response.headers[HTTPField.Name("x-ms-version-id")!] = version }
        return response
    }

    func setBlobProperties(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let conditions = try AccessConditions(request)
        let properties = httpProperties(request, fromBodyHeaders: false)
        let record = try await storage.setBlobProperties(
            request.account, container, name, properties: properties, leaseID: request.header("x-ms-lease-id")
        ) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        var response = Response(status: .ok)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        return response
    }
}
