import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The reads of one blob: Get Blob (whole or a range, streamed from its data files), Get Blob Properties and
/// Get Blob Metadata.
extension BlobResponder {
    /// Parses `bytes=start-end` or `bytes=start-`.
    static func requestedRange(_ request: BlobRequest) throws(EmulatorError) -> (start: Int64, end: Int64?)? {
        guard let text = request.header("x-ms-range") ?? request.header("Range") else { return nil }
        let headerName = request.header("x-ms-range") != nil ? "x-ms-range" : "Range"
        guard text.hasPrefix("bytes=") else { throw .invalidHeader(headerName) }
        let bounds = text.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Int64(bounds[0]), start >= 0 else { throw .invalidHeader(headerName) }
        if bounds[1].isEmpty { return (start, nil) }
        guard let end = Int64(bounds[1]), end >= start else { throw .invalidHeader(headerName) }
        return (start, end)
    }

    func getBlob(_ request: BlobRequest, _ container: String, _ name: String, metadataOnly: Bool = false) async throws -> Response {
        guard try await storage.container(request.account, container) != nil else { throw EmulatorError.containerNotFound() }
        let blob: BlobRecord
        let isCurrent: Bool
        if let version = request.queryValue("versionid") {
            guard let found = try await storage.blob(request.account, container, name, version: version) else {
                throw EmulatorError.blobNotFound()
            }
            (blob, isCurrent) = found
        } else {
            guard let found = try await storage.blob(request.account, container, name) else { throw EmulatorError.blobNotFound() }
            (blob, isCurrent) = (found, true)
        }
        if isCurrent { try await storage.checkReadLease(blob, leaseID: request.header("x-ms-lease-id")) }
        try AccessConditions(request).check(etag: blob.etag, lastModified: blob.lastModified, isRead: true)

        var headers = HTTPFields()
        headers[.eTag] = blob.etag
        headers[.lastModified] = HTTPDate.rfc1123(blob.lastModified)
        for (key, value) in blob.metadata { headers[HTTPField.Name("x-ms-meta-\(key)")!] = value }
        if let version = blob.versionID {
            headers[HTTPField.Name("x-ms-version-id")!] = version
            headers[HTTPField.Name("x-ms-is-current-version")!] = isCurrent ? "true" : "false"
        }
        if metadataOnly { return Response(status: .ok, headers: headers) }

        headers[HTTPField.Name("x-ms-creation-time")!] = HTTPDate.rfc1123(blob.created)
        headers[HTTPField.Name("x-ms-blob-type")!] = "BlockBlob"
        setLeaseHeaders(isCurrent ? blob.lease : nil, on: &headers)
        headers[HTTPField.Name("x-ms-server-encrypted")!] = "true"
        headers[HTTPField.Name("x-ms-access-tier")!] = "Hot"
        headers[HTTPField.Name("x-ms-access-tier-inferred")!] = "true"
        headers[.acceptRanges] = "bytes"
        headers[.contentType] = blob.properties.contentType ?? "application/octet-stream"
        if let value = blob.properties.contentEncoding { headers[.contentEncoding] = value }
        if let value = blob.properties.contentLanguage { headers[.contentLanguage] = value }
        if let value = blob.properties.contentDisposition { headers[.contentDisposition] = value }
        if let value = blob.properties.cacheControl { headers[.cacheControl] = value }

        let size = blob.size
        var start: Int64 = 0
        var length = size
        var status = HTTPResponse.Status.ok
        if request.method == .get, let range = try Self.requestedRange(request) {
            guard range.start < size else {
                headers[.contentRange] = "bytes */\(size)"
                throw EmulatorError.invalidRange()
            }
            start = range.start
            let end = min(range.end ?? (size - 1), size - 1)
            length = end - start + 1
            status = .partialContent
            headers[.contentRange] = "bytes \(start)-\(end)/\(size)"
            if let md5 = blob.properties.contentMD5 { headers[HTTPField.Name("x-ms-blob-content-md5")!] = md5 }
            if request.header("x-ms-range-get-content-md5") == "true" {
                guard length <= 4 << 20 else { throw EmulatorError.outOfRangeInput() }
                let bytes = try readRange(blob.parts, start: start, length: length)
                headers[HTTPField.Name("Content-MD5")!] = Data(Insecure.MD5.hash(data: bytes)).base64EncodedString()
            }
        } else if let md5 = blob.properties.contentMD5 {
            headers[HTTPField.Name("Content-MD5")!] = md5
        }
        headers[.contentLength] = String(length)
        if request.method == .head { return Response(status: .ok, headers: headers) }
        let paths = blob.parts.map { (storage.path(of: $0.file), $0.length) }
        let (bodyStart, bodyLength) = (start, length)
        let body = ResponseBody(contentLength: Int(length)) { writer in
            try await Self.stream(paths, start: bodyStart, length: bodyLength, to: &writer)
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// Writes `length` bytes of the concatenated parts, from `start`, in 1 MiB chunks.
    private static func stream(
        _ parts: [(path: String, length: Int64)], start: Int64, length: Int64, to writer: inout any ResponseBodyWriter
    ) async throws {
        var skip = start
        var remaining = length
        for part in parts where remaining > 0 {
            if skip >= part.length {
                skip -= part.length
                continue
            }
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: part.path))
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(skip))
            var left = min(part.length - skip, remaining)
            skip = 0
            while left > 0 {
                let chunk = try handle.read(upToCount: Int(min(left, 1 << 20))) ?? Data()
                guard !chunk.isEmpty else { throw EmulatorError.internalError() }
                try await writer.write(ByteBuffer(bytes: chunk))
                left -= Int64(chunk.count)
                remaining -= Int64(chunk.count)
            }
        }
    }

    private func readRange(_ parts: [DataPart], start: Int64, length: Int64) throws -> Data {
        var out = Data()
        var skip = start
        for part in parts where Int64(out.count) < length {
            if skip >= part.length {
                skip -= part.length
                continue
            }
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: storage.path(of: part.file)))
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(skip))
            out.append(try handle.read(upToCount: Int(min(part.length - skip, length - Int64(out.count)))) ?? Data())
            skip = 0
        }
        return out
    }
}
