import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Serves the Blob REST API: authorises each request, routes it by method, `restype` and `comp`, and turns
/// ``BlobServiceError``s into Azure's XML error responses.
struct BlobResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let configuration: EmulatorConfiguration
    let storage: BlobStorage
    let baseURL: @Sendable () -> String

    /// Largest body read into memory (block lists, properties); blob content streams to disk instead.
    static let maxXMLBody = 4 << 20
    /// Azure's limits: 5,000 MiB for Put Blob (version 2019-12-12 and later) and 4,000 MiB for Put Block.
    static let maxPutBlob: Int64 = 5000 << 20
    static let maxBlock: Int64 = 4000 << 20

    func respond(to request: Request, context: Context) async throws -> Response {
        let requestID = UUID().uuidString.lowercased()
        let version = request.headers[HTTPField.Name("x-ms-version")!] ?? configuration.defaultServiceVersion
        var response: Response
        do {
            let blobRequest = try BlobRequest(method: request.method, target: request.head.path ?? "/", headers: request.headers)
            try authorize(blobRequest)
            response = try await route(blobRequest, body: request.body)
        } catch let error as BlobServiceError {
            response = errorResponse(error, requestID: requestID, isHead: request.method == .head)
        } catch {
            context.logger.error("request failed: \(error)")
            response = errorResponse(.internalError(), requestID: requestID, isHead: request.method == .head)
        }
        response.headers[HTTPField.Name("x-ms-request-id")!] = requestID
        response.headers[HTTPField.Name("x-ms-version")!] = version
        response.headers[.date] = HTTPDate.rfc1123(Date())
        response.headers[.server] = "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"
        if let clientID = request.headers[HTTPField.Name("x-ms-client-request-id")!] {
            response.headers[HTTPField.Name("x-ms-client-request-id")!] = clientID
        }
        return response
    }

    // MARK: Authorisation

    private func authorize(_ request: BlobRequest) throws(BlobServiceError) {
        guard let account = configuration.accounts.first(where: { $0.name == request.account }) else {
            throw .resourceNotFound()
        }
        guard let authorization = request.header("Authorization") else { throw .noAuthentication() }
        if authorization.hasPrefix("Bearer ") {
            guard let token = configuration.staticBearerToken, authorization.dropFirst(7) == token else {
                throw .authenticationFailed("The bearer token is not valid for this account.")
            }
            return
        }
        guard authorization.hasPrefix("SharedKey ") else {
            throw .authenticationFailed("The authorization scheme is not supported; use SharedKey or Bearer.")
        }
        let credential = authorization.dropFirst("SharedKey ".count)
        guard let colon = credential.lastIndex(of: ":"), credential[..<colon] == account.name else {
            throw .authenticationFailed("The Authorization header does not name account '\(account.name)'.")
        }
        let signature = String(credential[credential.index(after: colon)...])
        let signed = SharedKeyVerifier.SignedRequest(
            method: request.method.rawValue, path: request.rawPath, query: request.query,
            headers: request.headers.map { ($0.name.rawName, $0.value) })
        // Neither the sent nor the expected signature is echoed back; only the string that was signed.
        guard SharedKeyVerifier.isValid(signature: signature, for: signed, account: account.name, key: account.key) else {
            let shown = SharedKeyVerifier.stringToSign(signed, account: account.name).replacingOccurrences(of: "\n", with: "\\n")
            throw .authenticationFailed(
                "The MAC signature found in the HTTP request is not the same as any computed signature. Server used following string to sign: '\(shown)'.")
        }
    }

    // MARK: Routing

    private func route(_ request: BlobRequest, body: RequestBody) async throws -> Response {
        let restype = request.queryValue("restype")
        let comp = request.queryValue("comp")
        guard let container = request.container else {
            switch (request.method, restype, comp) {
            case (.get, _, "list"): return try await listContainers(request)
            case (.get, "service", "properties"), (.head, "service", "properties"): return serviceProperties()
            case (.put, "service", "properties"): return Response(status: .accepted)
            case (.get, "account", "properties"), (.head, "account", "properties"): return accountInformation()
            default: throw BlobServiceError.unsupportedOperation()
            }
        }
        guard let blob = request.blob else {
            guard restype == "container" else { throw BlobServiceError.unsupportedOperation() }
            switch (request.method, comp) {
            case (.put, nil): return try await createContainer(request, container)
            case (.put, "metadata"): return try await setContainerMetadata(request, container)
            case (.put, "acl"): return try await containerHeaders(request, container, status: .ok)
            case (.get, nil), (.head, nil), (.get, "metadata"), (.head, "metadata"):
                return try await containerHeaders(request, container, status: .ok, includeMetadata: true)
            case (.get, "acl"):
                var response = try await containerHeaders(request, container, status: .ok)
                var xml = XMLWriter()
                xml.element("SignedIdentifiers") { _ in }
                response.body = ResponseBody(byteBuffer: ByteBuffer(string: xml.text))
                response.headers[.contentType] = "application/xml"
                return response
            case (.get, "list"): return try await listBlobs(request, container)
            case (.delete, nil):
                try await storage.deleteContainer(request.account, container)
                return Response(status: .accepted)
            default: throw BlobServiceError.unsupportedOperation()
            }
        }
        switch (request.method, comp) {
        case (.put, nil): return try await putBlob(request, container, blob, body: body)
        case (.put, "block"): return try await putBlock(request, container, blob, body: body)
        case (.put, "blocklist"): return try await putBlockList(request, container, blob, body: body)
        case (.put, "metadata"): return try await setBlobMetadata(request, container, blob)
        case (.put, "properties"): return try await setBlobProperties(request, container, blob)
        case (.get, nil), (.head, nil): return try await getBlob(request, container, blob)
        case (.get, "metadata"), (.head, "metadata"): return try await getBlob(request, container, blob, metadataOnly: true)
        case (.get, "blocklist"): return try await getBlockList(request, container, blob)
        case (.delete, nil):
            let conditions = try AccessConditions(request)
            try await storage.deleteBlob(request.account, container, blob) { record in
                try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
            }
            var response = Response(status: .accepted)
            response.headers[HTTPField.Name("x-ms-delete-type-permanent")!] = "true"
            return response
        default: throw BlobServiceError.unsupportedOperation()
        }
    }

    // MARK: Service

    private func serviceProperties() -> Response {
        var xml = XMLWriter()
        xml.element("StorageServiceProperties") { xml in
            xml.element("Logging") { xml in
                xml.element("Version", "1.0"); xml.element("Read", "false"); xml.element("Write", "false")
                xml.element("Delete", "false")
                xml.element("RetentionPolicy") { $0.element("Enabled", "false") }
            }
            for metrics in ["HourMetrics", "MinuteMetrics"] {
                xml.element(metrics) { xml in
                    xml.element("Version", "1.0"); xml.element("Enabled", "false")
                    xml.element("RetentionPolicy") { $0.element("Enabled", "false") }
                }
            }
            xml.element("Cors") { _ in }
            xml.element("DeleteRetentionPolicy") { $0.element("Enabled", "false") }
            xml.element("StaticWebsite") { $0.element("Enabled", "false") }
        }
        return xmlResponse(xml)
    }

    private func accountInformation() -> Response {
        var response = Response(status: .ok)
        response.headers[HTTPField.Name("x-ms-sku-name")!] = "Standard_LRS"
        response.headers[HTTPField.Name("x-ms-account-kind")!] = "StorageV2"
        response.headers[HTTPField.Name("x-ms-is-hns-enabled")!] = "false"
        return response
    }

    private func maxResults(_ request: BlobRequest) throws(BlobServiceError) -> Int {
        guard let text = request.queryValue("maxresults") else { return 5000 }
        guard let value = Int(text), value > 0 else { throw .outOfRangeInput() }
        return min(value, 5000)
    }

    private func listContainers(_ request: BlobRequest) async throws -> Response {
        let prefix = request.queryValue("prefix") ?? ""
        let marker = request.queryValue("marker")
        let limit = try maxResults(request)
        let includeMetadata = (request.queryValue("include") ?? "").split(separator: ",").contains("metadata")
        let (containers, next) = try await storage.listContainers(request.account, prefix: prefix, marker: marker, limit: limit)
        var xml = XMLWriter()
        xml.open("EnumerationResults", attributes: [("ServiceEndpoint", baseURL() + "/\(request.account)/")])
        if request.queryValue("prefix") != nil { xml.element("Prefix", prefix) }
        if let marker { xml.element("Marker", marker) }
        if request.queryValue("maxresults") != nil { xml.element("MaxResults", String(limit)) }
        xml.element("Containers") { xml in
            for container in containers {
                xml.element("Container") { xml in
                    xml.element("Name", container.name)
                    xml.element("Properties") { xml in
                        xml.element("Last-Modified", HTTPDate.rfc1123(container.lastModified))
                        xml.element("Etag", container.etag)
                        xml.element("LeaseStatus", "unlocked")
                        xml.element("LeaseState", "available")
                        xml.element("DefaultEncryptionScope", "$account-encryption-key")
                        xml.element("DenyEncryptionScopeOverride", "false")
                        xml.element("HasImmutabilityPolicy", "false")
                        xml.element("HasLegalHold", "false")
                    }
                    if includeMetadata { writeMetadata(container.metadata, to: &xml) }
                }
            }
        }
        xml.element("NextMarker", next)
        xml.close("EnumerationResults")
        return xmlResponse(xml)
    }

    // MARK: Containers

    private func createContainer(_ request: BlobRequest, _ name: String) async throws -> Response {
        try Self.validateContainerName(name)
        let record = try await storage.createContainer(request.account, name, metadata: request.metadata)
        var response = Response(status: .created)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        return response
    }

    /// Container names: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a
    /// letter or digit (or the special `$root`, `$logs`, `$web`).
    static func validateContainerName(_ name: String) throws(BlobServiceError) {
        if ["$root", "$logs", "$web"].contains(name) { return }
        let characters = Array(name.utf8)
        let valid = (3...63).contains(characters.count)
            && characters.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
            && characters.first != 45 && characters.last != 45 && !name.contains("--")
        if !valid {
            throw BlobServiceError(status: 400, code: "InvalidResourceName", message: "The specifed resource name contains invalid characters.")
        }
    }

    private func setContainerMetadata(_ request: BlobRequest, _ name: String) async throws -> Response {
        let record = try await storage.setContainerMetadata(request.account, name, metadata: request.metadata)
        var response = Response(status: .ok)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        return response
    }

    private func containerHeaders(
        _ request: BlobRequest, _ name: String, status: HTTPResponse.Status, includeMetadata: Bool = false
    ) async throws -> Response {
        guard let record = try await storage.container(request.account, name) else {
            throw BlobServiceError.containerNotFound()
        }
        var response = Response(status: status)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        if includeMetadata {
            for (key, value) in record.metadata { response.headers[HTTPField.Name("x-ms-meta-\(key)")!] = value }
            response.headers[HTTPField.Name("x-ms-lease-status")!] = "unlocked"
            response.headers[HTTPField.Name("x-ms-lease-state")!] = "available"
            response.headers[HTTPField.Name("x-ms-has-immutability-policy")!] = "false"
            response.headers[HTTPField.Name("x-ms-has-legal-hold")!] = "false"
            response.headers[HTTPField.Name("x-ms-default-encryption-scope")!] = "$account-encryption-key"
            response.headers[HTTPField.Name("x-ms-deny-encryption-scope-override")!] = "false"
        }
        return response
    }

    private func listBlobs(_ request: BlobRequest, _ container: String) async throws -> Response {
        let prefix = request.queryValue("prefix") ?? ""
        let delimiter = request.queryValue("delimiter")
        let marker = request.queryValue("marker")
        let limit = try maxResults(request)
        let include = Set((request.queryValue("include") ?? "").split(separator: ",").map(String.init))
        let (entries, next) = try await storage.listBlobs(
            request.account, container, prefix: prefix, delimiter: delimiter, marker: marker, limit: limit)
        var xml = XMLWriter()
        xml.open("EnumerationResults", attributes: [("ServiceEndpoint", baseURL() + "/\(request.account)/"), ("ContainerName", container)])
        if request.queryValue("prefix") != nil { xml.element("Prefix", prefix) }
        if let marker { xml.element("Marker", marker) }
        if request.queryValue("maxresults") != nil { xml.element("MaxResults", String(limit)) }
        if let delimiter { xml.element("Delimiter", delimiter) }
        xml.element("Blobs") { xml in
            for entry in entries {
                switch entry {
                case .prefix(let name):
                    xml.element("BlobPrefix") { $0.element("Name", name) }
                case .blob(let blob):
                    xml.element("Blob") { xml in
                        xml.element("Name", blob.name)
                        xml.element("Properties") { xml in
                            xml.element("Creation-Time", HTTPDate.rfc1123(blob.created))
                            xml.element("Last-Modified", HTTPDate.rfc1123(blob.lastModified))
                            xml.element("Etag", blob.etag)
                            xml.element("Content-Length", String(blob.size))
                            xml.element("Content-Type", blob.properties.contentType ?? "application/octet-stream")
                            xml.element("Content-Encoding", blob.properties.contentEncoding)
                            xml.element("Content-Language", blob.properties.contentLanguage)
                            xml.element("Content-CRC64", nil)
                            xml.element("Content-MD5", blob.properties.contentMD5)
                            xml.element("Cache-Control", blob.properties.cacheControl)
                            xml.element("Content-Disposition", blob.properties.contentDisposition)
                            xml.element("BlobType", "BlockBlob")
                            xml.element("AccessTier", "Hot")
                            xml.element("AccessTierInferred", "true")
                            xml.element("LeaseStatus", "unlocked")
                            xml.element("LeaseState", "available")
                            xml.element("ServerEncrypted", "true")
                        }
                        if include.contains("metadata") { writeMetadata(blob.metadata, to: &xml) }
                    }
                }
            }
        }
        xml.element("NextMarker", next)
        xml.close("EnumerationResults")
        return xmlResponse(xml)
    }

    private func writeMetadata(_ metadata: [String: String], to xml: inout XMLWriter) {
        xml.element("Metadata") { xml in
            for key in metadata.keys.sorted() { xml.element(key, metadata[key]) }
        }
    }

    // MARK: Blobs

    private func httpProperties(_ request: BlobRequest, fromBodyHeaders: Bool) -> BlobHTTPProperties {
        BlobHTTPProperties(
            contentType: request.header("x-ms-blob-content-type") ?? (fromBodyHeaders ? request.header("Content-Type") : nil),
            contentEncoding: request.header("x-ms-blob-content-encoding") ?? (fromBodyHeaders ? request.header("Content-Encoding") : nil),
            contentLanguage: request.header("x-ms-blob-content-language") ?? (fromBodyHeaders ? request.header("Content-Language") : nil),
            contentDisposition: request.header("x-ms-blob-content-disposition"),
            cacheControl: request.header("x-ms-blob-cache-control") ?? (fromBodyHeaders ? request.header("Cache-Control") : nil),
            contentMD5: request.header("x-ms-blob-content-md5"))
    }

    /// Streams the request body into a new data file, returning it and the MD5 of what was written.
    private func receiveBody(_ body: RequestBody, limit: Int64) async throws -> (DataPart, String) {
        let file = storage.newDataFile()
        let path = storage.path(of: file)
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw BlobServiceError.internalError()
        }
        var md5 = Insecure.MD5()
        var length: Int64 = 0
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            for try await buffer in body {
                length += Int64(buffer.readableBytes)
                if length > limit { throw BlobServiceError.requestBodyTooLarge() }
                buffer.withUnsafeReadableBytes { md5.update(bufferPointer: $0) }
                try handle.write(contentsOf: Data(buffer.readableBytesView))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return (DataPart(file: file, length: length), Data(md5.finalize()).base64EncodedString())
    }

    private func putBlob(_ request: BlobRequest, _ container: String, _ name: String, body: RequestBody) async throws -> Response {
        guard let type = request.header("x-ms-blob-type") else { throw BlobServiceError.invalidHeader("x-ms-blob-type") }
        guard type == "BlockBlob" else {
            throw BlobServiceError(status: 400, code: "InvalidHeaderValue", message: "Only block blobs are supported by this emulator.", details: [("HeaderName", "x-ms-blob-type")])
        }
        let conditions = try AccessConditions(request)
        guard try await storage.container(request.account, container) != nil else { throw BlobServiceError.containerNotFound() }
        if !conditions.isEmpty, let existing = try await storage.blob(request.account, container, name) {
            // Fail fast before receiving the body; checked again atomically when the blob is written.
            try conditions.check(etag: existing.etag, lastModified: existing.lastModified, isRead: false)
        }
        let (part, md5) = try await receiveBody(body, limit: Self.maxPutBlob)
        if let sent = request.header("Content-MD5"), sent != md5 {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw BlobServiceError.md5Mismatch()
        }
        var properties = httpProperties(request, fromBodyHeaders: true)
        if properties.contentMD5 == nil { properties.contentMD5 = md5 }
        let record: BlobRecord
        do {
            record = try await storage.putBlob(
                request.account, container, name, part: part, properties: properties, metadata: request.metadata
            ) { existing in
                try conditions.check(etag: existing?.etag, lastModified: existing?.lastModified, isRead: false)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw error
        }
        var response = Response(status: .created)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        response.headers[HTTPField.Name("Content-MD5")!] = md5
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        return response
    }

    private func blockID(_ request: BlobRequest) throws(BlobServiceError) -> String {
        guard let id = request.queryValue("blockid"), let decoded = Data(base64Encoded: id), !decoded.isEmpty,
            decoded.count <= 64
        else { throw .invalidBlockID() }
        return id
    }

    private func putBlock(_ request: BlobRequest, _ container: String, _ name: String, body: RequestBody) async throws -> Response {
        let id = try blockID(request)
        guard try await storage.container(request.account, container) != nil else { throw BlobServiceError.containerNotFound() }
        let (part, md5) = try await receiveBody(body, limit: Self.maxBlock)
        if let sent = request.header("Content-MD5"), sent != md5 {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw BlobServiceError.md5Mismatch()
        }
        do {
            try await storage.stageBlock(request.account, container, name, block: BlockRecord(id: id, part: part))
        } catch {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw error
        }
        var response = Response(status: .created)
        response.headers[HTTPField.Name("Content-MD5")!] = md5
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        return response
    }

    private func putBlockList(_ request: BlobRequest, _ container: String, _ name: String, body: RequestBody) async throws -> Response {
        var data = Data()
        for try await buffer in body {
            data.append(contentsOf: buffer.readableBytesView)
            if data.count > Self.maxXMLBody { throw BlobServiceError.requestBodyTooLarge() }
        }
        let list = try RequestedBlockList.parse(data)
        let conditions = try AccessConditions(request)
        let record = try await storage.commitBlockList(
            request.account, container, name, list: list, properties: httpProperties(request, fromBodyHeaders: false),
            metadata: request.metadata
        ) { existing in
            try conditions.check(etag: existing?.etag, lastModified: existing?.lastModified, isRead: false)
        }
        var response = Response(status: .created)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        return response
    }

    private func getBlockList(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let type = (request.queryValue("blocklisttype") ?? "committed").lowercased()
        guard ["committed", "uncommitted", "all"].contains(type) else { throw BlobServiceError.invalidQuery("blocklisttype") }
        guard try await storage.container(request.account, container) != nil else { throw BlobServiceError.containerNotFound() }
        let blob = try await storage.blob(request.account, container, name)
        let staged = try await storage.uncommittedBlocks(request.account, container, name)
        if blob == nil && staged.isEmpty { throw BlobServiceError.blobNotFound() }
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

    private func setBlobMetadata(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let conditions = try AccessConditions(request)
        let record = try await storage.setBlobMetadata(request.account, container, name, metadata: request.metadata) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        var response = Response(status: .ok)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        return response
    }

    private func setBlobProperties(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let conditions = try AccessConditions(request)
        let properties = httpProperties(request, fromBodyHeaders: false)
        let record = try await storage.setBlobProperties(request.account, container, name, properties: properties) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        var response = Response(status: .ok)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        return response
    }

    /// Parses `bytes=start-end` or `bytes=start-`.
    private func requestedRange(_ request: BlobRequest) throws(BlobServiceError) -> (start: Int64, end: Int64?)? {
        guard let text = request.header("x-ms-range") ?? request.header("Range") else { return nil }
        let headerName = request.header("x-ms-range") != nil ? "x-ms-range" : "Range"
        guard text.hasPrefix("bytes=") else { throw .invalidHeader(headerName) }
        let bounds = text.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Int64(bounds[0]), start >= 0 else { throw .invalidHeader(headerName) }
        if bounds[1].isEmpty { return (start, nil) }
        guard let end = Int64(bounds[1]), end >= start else { throw .invalidHeader(headerName) }
        return (start, end)
    }

    private func getBlob(_ request: BlobRequest, _ container: String, _ name: String, metadataOnly: Bool = false) async throws -> Response {
        guard try await storage.container(request.account, container) != nil else { throw BlobServiceError.containerNotFound() }
        guard let blob = try await storage.blob(request.account, container, name) else { throw BlobServiceError.blobNotFound() }
        try AccessConditions(request).check(etag: blob.etag, lastModified: blob.lastModified, isRead: true)

        var headers = HTTPFields()
        headers[.eTag] = blob.etag
        headers[.lastModified] = HTTPDate.rfc1123(blob.lastModified)
        for (key, value) in blob.metadata { headers[HTTPField.Name("x-ms-meta-\(key)")!] = value }
        if metadataOnly { return Response(status: .ok, headers: headers) }

        headers[HTTPField.Name("x-ms-creation-time")!] = HTTPDate.rfc1123(blob.created)
        headers[HTTPField.Name("x-ms-blob-type")!] = "BlockBlob"
        headers[HTTPField.Name("x-ms-lease-status")!] = "unlocked"
        headers[HTTPField.Name("x-ms-lease-state")!] = "available"
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
        if request.method == .get, let range = try requestedRange(request) {
            guard range.start < size else {
                headers[.contentRange] = "bytes */\(size)"
                throw BlobServiceError.invalidRange()
            }
            start = range.start
            let end = min(range.end ?? (size - 1), size - 1)
            length = end - start + 1
            status = .partialContent
            headers[.contentRange] = "bytes \(start)-\(end)/\(size)"
            if let md5 = blob.properties.contentMD5 { headers[HTTPField.Name("x-ms-blob-content-md5")!] = md5 }
            if request.header("x-ms-range-get-content-md5") == "true" {
                guard length <= 4 << 20 else { throw BlobServiceError.outOfRangeInput() }
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
                guard !chunk.isEmpty else { throw BlobServiceError.internalError() }
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

    // MARK: Responses

    private func xmlResponse(_ xml: XMLWriter) -> Response {
        var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: xml.text)))
        response.headers[.contentType] = "application/xml"
        return response
    }

    private func errorResponse(_ error: BlobServiceError, requestID: String, isHead: Bool) -> Response {
        var headers = HTTPFields()
        headers[HTTPField.Name("x-ms-error-code")!] = error.code
        if error.status == 304 || isHead {
            headers[.contentLength] = "0"
            return Response(status: .init(code: error.status), headers: headers)
        }
        var xml = XMLWriter()
        xml.element("Error") { xml in
            xml.element("Code", error.code)
            xml.element("Message", "\(error.message)\nRequestId:\(requestID)\nTime:\(HTTPDate.iso8601(Date()))")
            for (name, value) in error.details { xml.element(name, value) }
        }
        headers[.contentType] = "application/xml"
        return Response(status: .init(code: error.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: xml.text)))
    }
}
