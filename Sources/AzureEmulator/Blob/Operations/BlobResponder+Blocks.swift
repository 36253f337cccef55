import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Block operations: Put Block (staging), Put Block List (committing) and Get Block List.
extension BlobResponder {
    func blockID(_ request: BlobRequest) throws(EmulatorError) -> String {
        guard let id = request.queryValue("blockid"), let decoded = Data(base64Encoded: id), !decoded.isEmpty,
            decoded.count <= 64
        else { throw .invalidBlockID() }
        return id
    }

    func putBlock(_ request: BlobRequest, _ container: String, _ name: String, body: RequestBody) async throws -> Response {
        let id = try blockID(request)
        guard try await storage.container(request.account, container) != nil else { throw EmulatorError.containerNotFound() }
        let (part, checksums) = try await receiveBody(body, limit: Self.maxBlock)
        do {
            try checksums.check(request)
        } catch {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw error
        }
        do {
            try await storage.stageBlock(
                request.account, container, name, block: BlockRecord(id: id, part: part),
                leaseID: request.header("x-ms-lease-id"))
        } catch {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw error
        }
        var response = Response(status: .created)
        // Azure answers Content-MD5 to a block sent with one; the CRC-64 always.
        if request.header("Content-MD5") != nil { response.headers[HTTPField.Name("Content-MD5")!] = checksums.md5 }
        response.headers[HTTPField.Name("x-ms-content-crc64")!] = checksums.crc64
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        return response
    }

    func putBlockList(
        _ request: BlobRequest, _ container: String, _ name: String, grant: Grant, body: RequestBody
    ) async throws -> Response {
        let list = try RequestedBlockList.parse(try await readSmallBody(body))
        let conditions = try AccessConditions(request)
        let record = try await storage.commitBlockList(
            request.account, container, name, list: list, properties: httpProperties(request, fromBodyHeaders: false),
            metadata: request.metadata, leaseID: request.header("x-ms-lease-id")
        ) { existing in
            if existing != nil, !grant.mayOverwrite { throw EmulatorError.permissionMismatch() }
            try conditions.check(etag: existing?.etag, lastModified: existing?.lastModified, isRead: false)
        }
        var response = Response(status: .created)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        if let version = record.versionID { response.headers[HTTPField.Name("x-ms-version-id")!] = version }
        return response
    }

    func getBlockList(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let type = (request.queryValue("blocklisttype") ?? "committed").lowercased()
        guard ["committed", "uncommitted", "all"].contains(type) else { throw EmulatorError.invalidQuery("blocklisttype") }
        guard try await storage.container(request.account, container) != nil else { throw EmulatorError.containerNotFound() }
        let blob = try await storage.blob(request.account, container, name)
        let staged = try await storage.uncommittedBlocks(request.account, container, name)
        if blob == nil && staged.isEmpty { throw EmulatorError.blobNotFound() }
        var xml = XMLWriter()
        xml.element("BlockList") { xml in
            if type != "uncommitted" {
                xml.element("CommittedBlocks") { xml in
                    for block in blob?.committedBlocks ?? [] {
                        xml.element("Block") { xml in
                            xml.element("Name", block.id)
                            xml.element("Size", String(block.part.length))
                        }
                    }
                }
            }
            if type != "committed" {
                xml.element("UncommittedBlocks") { xml in
                    for block in staged {
                        xml.element("Block") { xml in
                            xml.element("Name", block.id)
                            xml.element("Size", String(block.part.length))
                        }
                    }
                }
            }
        }
        var response = xmlResponse(xml)
        if let blob {
            response.headers[.eTag] = blob.etag
            response.headers[.lastModified] = HTTPDate.rfc1123(blob.lastModified)
            response.headers[HTTPField.Name("x-ms-blob-content-length")!] = String(blob.size)
        }
        return response
    }
}
