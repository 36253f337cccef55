import AzureChecksums
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Put Blob: a block blob written in one request, its body streamed to a data file.
extension BlobResponder {
    /// What a request body hashed to, as the service reports it: `Content-MD5` and `x-ms-content-crc64` (base64).
    struct BodyChecksums {
        var md5: String
        var crc64: String

        /// Refuses the body when the client's `Content-MD5` or `x-ms-content-crc64` differs from what arrived.
        func check(_ request: BlobRequest) throws(EmulatorError) {
            if let sent = request.header("Content-MD5"), sent != md5 { throw .md5Mismatch() }
            if let sent = request.header("x-ms-content-crc64") {
                guard StorageCRC64.parseHeader(sent) != nil else { throw .invalidHeader("x-ms-content-crc64") }
                if sent != crc64 { throw .crc64Mismatch() }
            }
        }
    }

    /// Streams the request body into a new data file, returning it and the checksums of what was written.
    func receiveBody(_ body: RequestBody, limit: Int64) async throws -> (DataPart, BodyChecksums) {
        let file = storage.newDataFile()
        let path = storage.path(of: file)
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw EmulatorError.internalError()
        }
        var md5 = Insecure.MD5()
        var crc64: UInt64 = 0
        var length: Int64 = 0
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            for try await buffer in body {
                length += Int64(buffer.readableBytes)
                if length > limit { throw EmulatorError.requestBodyTooLarge() }
                buffer.withUnsafeReadableBytes {
                    md5.update(bufferPointer: $0)
                    crc64 = StorageCRC64.checksum($0, continuing: crc64)
                }
                try handle.write(contentsOf: Data(buffer.readableBytesView))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return (
            DataPart(file: file, length: length),
            BodyChecksums(md5: Data(md5.finalize()).base64EncodedString(), crc64: StorageCRC64.headerValue(crc64))
        )
    }

    func putBlob(
        _ request: BlobRequest, _ container: String, _ name: String, grant: Grant, body: RequestBody
    ) async throws -> Response {
        guard let type = request.header("x-ms-blob-type") else { throw EmulatorError.invalidHeader("x-ms-blob-type") }
        guard type == "BlockBlob" else {
            throw EmulatorError(status: 400, code: "InvalidHeaderValue", message: "Only block blobs are supported by this emulator.", details: [("HeaderName", "x-ms-blob-type")])
        }
        let conditions = try AccessConditions(request)
        guard try await storage.container(request.account, container) != nil else { throw EmulatorError.containerNotFound() }
        if !conditions.isEmpty || !grant.mayOverwrite, let existing = try await storage.blob(request.account, container, name) {
            // Fail fast before receiving the body; checked again atomically when the blob is written.
            if !grant.mayOverwrite { throw EmulatorError.permissionMismatch() }
            try conditions.check(etag: existing.etag, lastModified: existing.lastModified, isRead: false)
        }
        let (part, checksums) = try await receiveBody(body, limit: Self.maxPutBlob)
        do {
            try checksums.check(request)
        } catch {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw error
        }
        var properties = httpProperties(request, fromBodyHeaders: true)
        if properties.contentMD5 == nil { properties.contentMD5 = checksums.md5 }
        let record: BlobRecord
        do {
            record = try await storage.putBlob(
                request.account, container, name, part: part, properties: properties, metadata: request.metadata,
                leaseID: request.header("x-ms-lease-id")
            ) { existing in
                if existing != nil, !grant.mayOverwrite { throw EmulatorError.permissionMismatch() }
                try conditions.check(etag: existing?.etag, lastModified: existing?.lastModified, isRead: false)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw error
        }
        var response = Response(status: .created)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        response.headers[HTTPField.Name("Content-MD5")!] = checksums.md5
        response.headers[HTTPField.Name("x-ms-content-crc64")!] = checksums.crc64
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        if let version = record.versionID { response.headers[HTTPField.Name("x-ms-version-id")!] = version }
        return response
    }
}
