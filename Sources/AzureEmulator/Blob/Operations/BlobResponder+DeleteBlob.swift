import Foundation
import HTTPTypes
import Hummingbird

/// Delete Blob (soft when the account keeps deleted blobs, or of one version) and Undelete Blob.
extension BlobResponder {
    func deleteBlob(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let conditions = try AccessConditions(request)
        var snapshotsOnly = false
        if let mode = request.header("x-ms-delete-snapshots") {
            // Blobs here have no snapshots: `include` deletes the blob alone, `only` deletes nothing.
            guard mode == "include" || mode == "only" else { throw EmulatorError.invalidHeader("x-ms-delete-snapshots") }
            snapshotsOnly = mode == "only"
        }
        let result = try await storage.deleteBlob(
            request.account, container, name, version: request.queryValue("versionid"),
            leaseID: request.header("x-ms-lease-id"), snapshotsOnly: snapshotsOnly
        ) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        var response = Response(status: .accepted)
        response.headers[HTTPField.Name("x-ms-delete-type-permanent")!] = result.permanent ? "true" : "false"
        return response
    }

    /// Undelete Blob: restores a soft-deleted blob within its retention.
    func undeleteBlob(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        try await storage.undeleteBlob(request.account, container, name)
        return Response(status: .ok)
    }
}
