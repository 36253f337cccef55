import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Serves the Blob REST API: injects configured faults, authorises each request (Shared Key, SAS or bearer),
/// routes it by operation, and turns ``EmulatorError``s into Azure's XML error responses.
///
/// The operations live in `Operations/` (one file per group of the REST reference), authorisation in
/// `Authorization/`, and what they change in `Storage/`.
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
        } catch let error as EmulatorError {
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

    /// Blob names as "Naming and Referencing Containers, Blobs, and Metadata" allows them: 1 to 1,024
    /// characters in at most 254 path segments, without control characters (U+0000-U+001F, U+007F-U+009F),
    /// which no URL path can carry even percent-encoded.
    static func validateBlobName(_ name: String) throws(EmulatorError) {
        let valid = (1...1024).contains(name.utf16.count)
            && !name.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
            && name.utf8.count(where: { $0 == UInt8(ascii: "/") }) < 254
        if !valid { throw .invalidResourceName() }
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
            throw EmulatorError.internalError()
        case .serverBusy: throw EmulatorError.serverBusy()
        case .internalError: throw EmulatorError.internalError()
        }
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
        case .getContainerACL: return try await containerACL(request, container)
        case .listBlobs: return try await listBlobs(request, container)
        case .leaseContainer: return try await leaseContainer(request, container)
        case .deleteContainer: return try await deleteContainer(request, container)
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
        case .undeleteBlob: return try await undeleteBlob(request, container, blob)
        }
    }

    // MARK: Request bodies

    func readSmallBody(_ body: RequestBody) async throws -> Data {
        var data = Data()
        for try await buffer in body {
            data.append(contentsOf: buffer.readableBytesView)
            if data.count > Self.maxXMLBody { throw EmulatorError.requestBodyTooLarge() }
        }
        return data
    }

    // MARK: Responses

    func xmlResponse(_ xml: XMLWriter) -> Response {
        var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: xml.text)))
        response.headers[.contentType] = "application/xml"
        return response
    }

    func errorResponse(_ error: EmulatorError, requestID: String, isHead: Bool) -> Response {
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
