import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The request context of the emulator: Hummingbird's basics plus the connection, which fault injection
/// closes and SAS `sip` checks read the client address from.
struct EmulatorRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Serves the Blob REST API: injects configured faults, authorises each request (Shared Key, SAS or bearer),
/// routes it by operation, and turns ``BlobServiceError``s into Azure's XML error responses.
struct BlobResponder: HTTPResponder {
    typealias Context = EmulatorRequestContext

    let configuration: EmulatorConfiguration
    let storage: BlobStorage
    let baseURL: @Sendable () -> String
    /// Checks bearer tokens the emulator's Entra ID issued; without it only ``EmulatorConfiguration/staticBearerToken`` passes.
    var tokenIssuer: TokenIssuer? = nil
    /// Whether this responder serves the HTTPS listener (SAS `spr=https` needs it).
    var isHTTPS = false

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
            if request.method == .post, blobRequest.container == nil, blobRequest.queryValue("restype") == "service",
                blobRequest.queryValue("comp") == "userdelegationkey"
            {
                response = try await userDelegationKey(blobRequest, body: request.body, version: version)
            } else {
                if let blob = blobRequest.blob { try Self.validateBlobName(blob) }
                let operation = try BlobOperation(blobRequest)
                try await injectFaults(operation, action: operation.faultAction(blobRequest), context: context)
                let grant = try authorize(blobRequest, operation: operation, context: context)
                response = try await route(blobRequest, operation: operation, grant: grant, body: request.body)
            }
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

    // MARK: Faults

    /// Applies the configured latency and faults before anything is authorised or changed.
    private func injectFaults(_ operation: BlobOperation, action: String?, context: Context) async throws {
        let faults = configuration.faults
        guard faults.isEnabled, faults.applies(to: operation, action: action) else { return }
        if faults.latencyMilliseconds > 0 { try await Task.sleep(for: .milliseconds(faults.latencyMilliseconds)) }
        var random = SystemRandomNumberGenerator()
        switch faults.decide(for: operation, action: action, using: &random) {
        case .serve: return
        case .drop:
            // Close without answering; the response written after this goes nowhere.
            try? await context.channel.close()
            throw BlobServiceError.internalError()
        case .serverBusy: throw BlobServiceError.serverBusy()
        case .internalError: throw BlobServiceError.internalError()
        }
    }

    // MARK: Authorisation

    /// What an authorised request may do beyond what its operation needs.
    struct Grant {
        /// False for a SAS whose only write permission is `c` (create): it may write a new blob but, as Azure
        /// documents for Put Blob and Put Block List, not overwrite an existing one.
        var mayOverwrite = true
    }

    private func authorize(_ request: BlobRequest, operation: BlobOperation, context: Context) throws(BlobServiceError) -> Grant {
        guard let account = configuration.accounts.first(where: { $0.name == request.account }) else {
            throw .resourceNotFound()
        }
        guard let authorization = request.header("Authorization") else {
            guard let sas = SharedAccessSignature(query: request.query) else { throw .noAuthentication() }
            try sas.authorize(
                SharedAccessSignature.Context(
                    account: account, container: request.container, blob: request.blob, operation: operation,
                    request: request, clientIP: context.channel.remoteAddress?.ipAddress, isHTTPS: isHTTPS,
                    now: storage.now()))
            return Grant(mayOverwrite: sas["sp"].contains("w"))
        }
        if authorization.hasPrefix("Bearer ") {
            let token = String(authorization.dropFirst(7))
            if let accepted = configuration.staticBearerToken, SecretComparison.matches(token, accepted) { return Grant() }
            guard let tokenIssuer else { throw .authenticationFailed("The bearer token is not valid for this account.") }
            if case .rejected(let reason) = tokenIssuer.validate(token, audiences: Self.storageAudiences(account)) {
                throw .invalidAuthenticationInfo(reason.description, challenge: Self.challenge(tokenIssuer))
            }
            return Grant()
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
        try Self.checkRequestDate(request, now: storage.now())
        return Grant()
    }

    /// Azure accepts a Shared Key request only within 15 minutes of its `x-ms-date` (or `Date`), so a captured
    /// request cannot be replayed later.
    static let allowedClockSkew: TimeInterval = 15 * 60

    static func checkRequestDate(_ request: BlobRequest, now: Date) throws(BlobServiceError) {
        guard let text = request.header("x-ms-date") ?? request.header("Date") else {
            throw .authenticationFailed("Request date header not specified.")
        }
        guard let date = HTTPDate.parseRFC1123(text) else {
            throw .authenticationFailed("The date header '\(text)' is not a valid RFC 1123 date.")
        }
        if date < now.addingTimeInterval(-allowedClockSkew) {
            throw .authenticationFailed("Request date header too old: '\(text)'")
        }
        if date > now.addingTimeInterval(allowedClockSkew) {
            throw .authenticationFailed("Request date header too far in the future: '\(text)'")
        }
    }

    static func storageAudiences(_ account: StorageAccount) -> Set<String> {
        [
            "https://storage.azure.com", "https://storage.azure.com/", "https://\(account.name).blob.core.windows.net",
            "https://\(account.name).blob.core.windows.net/",
        ]
    }

    /// Azure names its authority and the storage resource so SDKs can fetch a fitting token.
    static func challenge(_ issuer: TokenIssuer) -> String {
        "Bearer authorization_uri=\(issuer.authorityHost)/\(issuer.tenantID)/oauth2/authorize resource_id=https://storage.azure.com"
    }

    /// Get User Delegation Key: only an Entra ID caller gets one, for at most seven days; its value is derived
    /// from its fields (see ``UserDelegationKey``), so nothing is stored.
    private func userDelegationKey(_ request: BlobRequest, body: RequestBody, version: String) async throws -> Response {
        guard let account = configuration.accounts.first(where: { $0.name == request.account }) else {
            throw BlobServiceError.resourceNotFound()
        }
        guard let authorization = request.header("Authorization"), authorization.hasPrefix("Bearer ") else {
            throw BlobServiceError.authenticationFailed("Only requests with an Entra ID bearer token may get a user delegation key.")
        }
        let token = String(authorization.dropFirst(7))
        var objectID = TokenIssuer.stableUUID("static-bearer-token")
        var tenantID = configuration.tenantID
        if !(configuration.staticBearerToken.map { SecretComparison.matches(token, $0) } ?? false) {
            guard let tokenIssuer else { throw BlobServiceError.authenticationFailed("The bearer token is not valid for this account.") }
            switch tokenIssuer.validate(token, audiences: Self.storageAudiences(account)) {
            case .rejected(let reason):
                throw BlobServiceError.invalidAuthenticationInfo(reason.description, challenge: Self.challenge(tokenIssuer))
            case .valid(let jwt):
                objectID = jwt.string("oid") ?? objectID
                tenantID = jwt.string("tid") ?? tenantID
            }
        }
        let root = try XMLNode.parse(try await readSmallBody(body))
        guard root.name == "KeyInfo" else { throw BlobServiceError.invalidXML() }
        let now = storage.now()
        guard let expiryText = root.value("Expiry"), let expiry = HTTPDate.parseISO8601(expiryText) else {
            throw BlobServiceError.invalidXmlNodeValue("Expiry")
        }
        let startText = root.value("Start") ?? HTTPDate.iso8601(now)
        guard let start = HTTPDate.parseISO8601(startText) else { throw BlobServiceError.invalidXmlNodeValue("Start") }
        guard expiry > start, expiry <= now.addingTimeInterval(7 * 86400 + 300) else {
            throw BlobServiceError.invalidXmlNodeValue("Expiry")
        }
        let value = UserDelegationKey.value(
            account: account, objectID: objectID, tenantID: tenantID, start: startText, expiry: expiryText, service: "b",
            version: version)
        var xml = XMLWriter()
        xml.element("UserDelegationKey") { xml in
            xml.element("SignedOid", objectID)
            xml.element("SignedTid", tenantID)
            xml.element("SignedStart", startText)
            xml.element("SignedExpiry", expiryText)
            xml.element("SignedService", "b")
            xml.element("SignedVersion", version)
            if let delegated = root.value("DelegatedUserTid") { xml.element("SignedDelegatedUserTid", delegated) }
            xml.element("Value", value)
        }
        return xmlResponse(xml)
    }

    // MARK: Routing

    private func route(_ request: BlobRequest, operation: BlobOperation, grant: Grant, body: RequestBody) async throws -> Response {
        let container = request.container ?? ""
        let blob = request.blob ?? ""
        switch operation {
        case .listContainers: return try await listContainers(request)
        case .getServiceProperties: return try await serviceProperties(request)
        case .setServiceProperties: return try await setServiceProperties(request, body: body)
        case .getAccountInformation: return accountInformation()
        case .createContainer: return try await createContainer(request, container)
        case .setContainerMetadata: return try await setContainerMetadata(request, container)
        case .setContainerACL: return try await containerHeaders(request, container, status: .ok)
        case .getContainerProperties:
            return try await containerHeaders(request, container, status: .ok, includeMetadata: true)
        case .getContainerACL:
            var response = try await containerHeaders(request, container, status: .ok)
            var xml = XMLWriter()
            xml.element("SignedIdentifiers") { _ in }
            response.body = ResponseBody(byteBuffer: ByteBuffer(string: xml.text))
            response.headers[.contentType] = "application/xml"
            return response
        case .listBlobs: return try await listBlobs(request, container)
        case .leaseContainer: return try await leaseContainer(request, container)
        case .deleteContainer:
            let conditions = try AccessConditions(request)
            try await storage.deleteContainer(request.account, container, leaseID: request.header("x-ms-lease-id")) { record in
                try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
            }
            return Response(status: .accepted)
        case .putBlob: return try await putBlob(request, container, blob, grant: grant, body: body)
        case .putBlock: return try await putBlock(request, container, blob, body: body)
        case .putBlockList: return try await putBlockList(request, container, blob, grant: grant, body: body)
        case .setBlobMetadata: return try await setBlobMetadata(request, container, blob)
        case .setBlobProperties: return try await setBlobProperties(request, container, blob)
        case .getBlob, .getBlobProperties: return try await getBlob(request, container, blob)
        case .getBlobMetadata: return try await getBlob(request, container, blob, metadataOnly: true)
        case .getBlockList: return try await getBlockList(request, container, blob)
        case .deleteBlob: return try await deleteBlob(request, container, blob)
        case .leaseBlob: return try await leaseBlob(request, container, blob)
        case .undeleteBlob:
            try await storage.undeleteBlob(request.account, container, blob)
            return Response(status: .ok)
        }
    }

    // MARK: Service

    /// The sections of Get Blob Service Properties, in Azure's order, with what an untouched account answers.
    private static let defaultServiceSections: [(String, @Sendable (inout XMLWriter) -> Void)] = [
        ("Logging", { xml in
            xml.element("Logging") { xml in
                xml.element("Version", "1.0"); xml.element("Read", "false"); xml.element("Write", "false")
                xml.element("Delete", "false")
                xml.element("RetentionPolicy") { $0.element("Enabled", "false") }
            }
        }),
        ("HourMetrics", { xml in
            xml.element("HourMetrics") { xml in
                xml.element("Version", "1.0"); xml.element("Enabled", "false")
                xml.element("RetentionPolicy") { $0.element("Enabled", "false") }
            }
        }),
        ("MinuteMetrics", { xml in
            xml.element("MinuteMetrics") { xml in
                xml.element("Version", "1.0"); xml.element("Enabled", "false")
                xml.element("RetentionPolicy") { $0.element("Enabled", "false") }
            }
        }),
        ("Cors", { xml in xml.element("Cors") { _ in } }),
        ("DefaultServiceVersion", { _ in }),
        ("DeleteRetentionPolicy", { _ in }),
        ("StaticWebsite", { xml in xml.element("StaticWebsite") { $0.element("Enabled", "false") } }),
    ]

    private func serviceProperties(_ request: BlobRequest) async throws -> Response {
        let settings = try await storage.serviceSettings(request.account)
        var xml = XMLWriter()
        xml.element("StorageServiceProperties") { xml in
            for (name, writeDefault) in Self.defaultServiceSections {
                if name == "DeleteRetentionPolicy" {
                    xml.element("DeleteRetentionPolicy") { xml in
                        xml.element("Enabled", settings.deleteRetentionDays == nil ? "false" : "true")
                        if let days = settings.deleteRetentionDays {
                            xml.element("Days", String(days))
                            xml.element("AllowPermanentDelete", "false")
                        }
                    }
                } else if let stored = settings.sections[name] {
                    xml.raw(stored)
                } else {
                    writeDefault(&xml)
                }
            }
        }
        return xmlResponse(xml)
    }

    /// Set Blob Service Properties: sections the request contains replace the stored ones; the others stay.
    private func setServiceProperties(_ request: BlobRequest, body: RequestBody) async throws -> Response {
        let root = try XMLNode.parse(try await readSmallBody(body))
        guard root.name == "StorageServiceProperties" else { throw BlobServiceError.invalidXML() }
        var settings = try await storage.serviceSettings(request.account)
        for section in root.children {
            guard Self.defaultServiceSections.contains(where: { $0.0 == section.name }) else {
                throw BlobServiceError.invalidXmlNodeValue(section.name)
            }
            if section.name == "DeleteRetentionPolicy" {
                switch section.value("Enabled")?.lowercased() {
                case "true":
                    guard let text = section.value("Days"), let days = Int(text), (1...365).contains(days) else {
                        throw BlobServiceError.invalidXmlNodeValue("Days")
                    }
                    settings.deleteRetentionDays = days
                case "false": settings.deleteRetentionDays = nil
                default: throw BlobServiceError.invalidXmlNodeValue("Enabled")
                }
                continue
            }
            var fragment = XMLWriter(declaration: false)
            section.write(to: &fragment)
            settings.sections[section.name] = fragment.text
        }
        try await storage.setServiceSettings(request.account, settings)
        return Response(status: .accepted)
    }

    private func readSmallBody(_ body: RequestBody) async throws -> Data {
        var data = Data()
        for try await buffer in body {
            data.append(contentsOf: buffer.readableBytesView)
            if data.count > Self.maxXMLBody { throw BlobServiceError.requestBodyTooLarge() }
        }
        return data
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

    private func writeLease(_ lease: LeaseRecord?, to xml: inout XMLWriter) {
        let description = LeaseDescription(lease, now: storage.now())
        xml.element("LeaseStatus", description.state.status)
        xml.element("LeaseState", description.state.rawValue)
        if let duration = description.duration { xml.element("LeaseDuration", duration) }
    }

    private func setLeaseHeaders(_ lease: LeaseRecord?, on headers: inout HTTPFields) {
        let description = LeaseDescription(lease, now: storage.now())
        headers[HTTPField.Name("x-ms-lease-status")!] = description.state.status
        headers[HTTPField.Name("x-ms-lease-state")!] = description.state.rawValue
        if let duration = description.duration { headers[HTTPField.Name("x-ms-lease-duration")!] = duration }
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
                        writeLease(container.lease, to: &xml)
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
            throw .invalidResourceName()
        }
    }

    /// Blob names as "Naming and Referencing Containers, Blobs, and Metadata" allows them: 1 to 1,024
    /// characters in at most 254 path segments, without control characters (U+0000-U+001F, U+007F-U+009F),
    /// which no URL path can carry even percent-encoded.
    static func validateBlobName(_ name: String) throws(BlobServiceError) {
        let valid = (1...1024).contains(name.utf16.count)
            && !name.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
            && name.utf8.count(where: { $0 == UInt8(ascii: "/") }) < 254
        if !valid { throw .invalidResourceName() }
    }

    private func setContainerMetadata(_ request: BlobRequest, _ name: String) async throws -> Response {
        let record = try await storage.setContainerMetadata(
            request.account, name, metadata: request.metadata, leaseID: request.header("x-ms-lease-id"))
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

    private func leaseContainer(_ request: BlobRequest, _ name: String) async throws -> Response {
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

    private func listBlobs(_ request: BlobRequest, _ container: String) async throws -> Response {
        let prefix = request.queryValue("prefix") ?? ""
        let delimiter = request.queryValue("delimiter")
        let marker = request.queryValue("marker")
        let limit = try maxResults(request)
        let include = Set((request.queryValue("include") ?? "").split(separator: ",").map(String.init))
        let (entries, next) = try await storage.listBlobs(
            request.account, container, prefix: prefix, delimiter: delimiter, marker: marker, limit: limit,
            include: .init(versions: include.contains("versions"), deleted: include.contains("deleted")))
        let now = storage.now()
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
                case .blob(let blob, let kind):
                    xml.element("Blob") { xml in
                        xml.element("Name", blob.name)
                        if kind == .deleted || kind == .deletedVersion { xml.element("Deleted", "true") }
                        if let version = blob.versionID, kind != .deleted {
                            xml.element("VersionId", version)
                            if kind == .current { xml.element("IsCurrentVersion", "true") }
                        }
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
                            writeLease(kind == .current ? blob.lease : nil, to: &xml)
                            xml.element("ServerEncrypted", "true")
                            if let deleted = blob.deletedTime {
                                xml.element("DeletedTime", HTTPDate.rfc1123(deleted))
                                if let purge = storage.purgeTime(of: blob) {
                                    let days = Int((purge.timeIntervalSince(now) / 86_400).rounded(.up))
                                    xml.element("RemainingRetentionDays", String(max(days, 0)))
                                }
                            }
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

    private func putBlob(
        _ request: BlobRequest, _ container: String, _ name: String, grant: Grant, body: RequestBody
    ) async throws -> Response {
        guard let type = request.header("x-ms-blob-type") else { throw BlobServiceError.invalidHeader("x-ms-blob-type") }
        guard type == "BlockBlob" else {
            throw BlobServiceError(status: 400, code: "InvalidHeaderValue", message: "Only block blobs are supported by this emulator.", details: [("HeaderName", "x-ms-blob-type")])
        }
        let conditions = try AccessConditions(request)
        guard try await storage.container(request.account, container) != nil else { throw BlobServiceError.containerNotFound() }
        if !conditions.isEmpty || !grant.mayOverwrite, let existing = try await storage.blob(request.account, container, name) {
            // Fail fast before receiving the body; checked again atomically when the blob is written.
            if !grant.mayOverwrite { throw BlobServiceError.permissionMismatch() }
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
                request.account, container, name, part: part, properties: properties, metadata: request.metadata,
                leaseID: request.header("x-ms-lease-id")
            ) { existing in
                if existing != nil, !grant.mayOverwrite { throw BlobServiceError.permissionMismatch() }
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
        if let version = record.versionID { response.headers[HTTPField.Name("x-ms-version-id")!] = version }
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
            try await storage.stageBlock(
                request.account, container, name, block: BlockRecord(id: id, part: part),
                leaseID: request.header("x-ms-lease-id"))
        } catch {
            try? FileManager.default.removeItem(atPath: storage.path(of: part.file))
            throw error
        }
        var response = Response(status: .created)
        response.headers[HTTPField.Name("Content-MD5")!] = md5
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        return response
    }

    private func putBlockList(
        _ request: BlobRequest, _ container: String, _ name: String, grant: Grant, body: RequestBody
    ) async throws -> Response {
        let list = try RequestedBlockList.parse(try await readSmallBody(body))
        let conditions = try AccessConditions(request)
        let record = try await storage.commitBlockList(
            request.account, container, name, list: list, properties: httpProperties(request, fromBodyHeaders: false),
            metadata: request.metadata, leaseID: request.header("x-ms-lease-id")
        ) { existing in
            if existing != nil, !grant.mayOverwrite { throw BlobServiceError.permissionMismatch() }
            try conditions.check(etag: existing?.etag, lastModified: existing?.lastModified, isRead: false)
        }
        var response = Response(status: .created)
        response.headers[.eTag] = record.etag
        response.headers[.lastModified] = HTTPDate.rfc1123(record.lastModified)
        response.headers[HTTPField.Name("x-ms-request-server-encrypted")!] = "true"
        if let version = record.versionID { response.headers[HTTPField.Name("x-ms-version-id")!] = version }
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

    private func setBlobProperties(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
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

    private func deleteBlob(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let conditions = try AccessConditions(request)
        var snapshotsOnly = false
        if let mode = request.header("x-ms-delete-snapshots") {
            // Blobs here have no snapshots: `include` deletes the blob alone, `only` deletes nothing.
            guard mode == "include" || mode == "only" else { throw BlobServiceError.invalidHeader("x-ms-delete-snapshots") }
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

    private func leaseBlob(_ request: BlobRequest, _ container: String, _ name: String) async throws -> Response {
        let action = try LeaseAction(headers: request.header)
        let conditions = try AccessConditions(request)
        let (record, outcome) = try await storage.leaseBlob(request.account, container, name, action: action) { record in
            try conditions.check(etag: record.etag, lastModified: record.lastModified, isRead: false)
        }
        return leaseResponse(action, outcome, etag: record.etag, lastModified: record.lastModified)
    }

    /// Parses `bytes=start-end` or `bytes=start-`.
    static func requestedRange(_ request: BlobRequest) throws(BlobServiceError) -> (start: Int64, end: Int64?)? {
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
        let blob: BlobRecord
        let isCurrent: Bool
        if let version = request.queryValue("versionid") {
            guard let found = try await storage.blob(request.account, container, name, version: version) else {
                throw BlobServiceError.blobNotFound()
            }
            (blob, isCurrent) = found
        } else {
            guard let found = try await storage.blob(request.account, container, name) else { throw BlobServiceError.blobNotFound() }
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
        for (name, value) in error.headers { headers[HTTPField.Name(name)!] = value }
        if error.code == "ServerBusy" { headers[.retryAfter] = "1" }
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
