import AzureCore
import AzureStorageBlobs
import Foundation
import NIOCore
import Testing

/// One HTTP exchange recorded against real Azure Blob Storage (../shared/fixtures/azure-recordings).
struct RecordedExchange {
    var method: String
    var path: String
    var query: [String: String]
    var requestHeaders: [String: String]
    var requestBody: [UInt8]?
    var status: Int
    var responseHeaders: [(String, String)]
    var responseBody: [UInt8]

    static func load(_ file: String) throws -> [RecordedExchange] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/fixtures/azure-recordings/blob/\(file)")
        let fallback = URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/../shared/fixtures/azure-recordings/blob/\(file)")
        let data = try (try? Data(contentsOf: url)) ?? Data(contentsOf: fallback)
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (root["Entries"] as! [[String: Any]]).map { entry in
            let uri = URLComponents(string: entry["RequestUri"] as! String)!
            var query: [String: String] = [:]
            for item in uri.queryItems ?? [] { query[item.name] = item.value ?? "" }
            func text(_ value: Any?) -> String? {
                if let lines = value as? [String] { return lines.joined() }
                return value as? String
            }
            func body(_ value: Any?, headers: [String: Any]) -> [UInt8] {
                guard let text = text(value) else { return [] }
                let type = (headers["Content-Type"] as? String) ?? ""
                if type.contains("xml") || text.hasPrefix("\u{FEFF}") || text.hasPrefix("<") { return Array(text.utf8) }
                return Data(base64Encoded: text).map(Array.init) ?? Array(text.utf8)
            }
            let requestHeaders = (entry["RequestHeaders"] as? [String: String]) ?? [:]
            let responseHeaders = (entry["ResponseHeaders"] as? [String: Any]) ?? [:]
            var flatResponse: [(String, String)] = []
            for (name, value) in responseHeaders {
                if let many = value as? [String] { flatResponse.append((name, many.joined(separator: " "))) }
                else if let one = value as? String { flatResponse.append((name, one)) }
            }
            return RecordedExchange(
                method: entry["RequestMethod"] as! String, path: uri.percentEncodedPath, query: query,
                requestHeaders: requestHeaders,
                requestBody: entry["RequestBody"] is NSNull ? nil : body(entry["RequestBody"], headers: requestHeaders),
                status: entry["StatusCode"] as! Int, responseHeaders: flatResponse,
                responseBody: body(entry["ResponseBody"], headers: responseHeaders))
        }
    }
}

/// Plays a recorded session back: each request the client sends must match the next recorded request
/// (method, path, query, and the x-ms headers that carry meaning), and gets the recorded response.
actor ReplayTransport: HTTPTransport {
    private var exchanges: [RecordedExchange]
    private(set) var mismatches: [String] = []
    /// Headers whose recorded values our request must carry too.
    static let comparedHeaders = [
        "x-ms-blob-type", "x-ms-lease-action", "x-ms-lease-duration", "x-ms-proposed-lease-id", "x-ms-lease-id",
        "x-ms-range", "x-ms-blob-content-md5",
    ]

    init(_ exchanges: [RecordedExchange]) { self.exchanges = exchanges }

    var remaining: Int { exchanges.count }

    nonisolated func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse {
        try await answer(request)
    }

    private func answer(_ request: AzureHTTPRequest) throws -> AzureHTTPResponse {
        guard !exchanges.isEmpty else {
            mismatches.append("unexpected extra request \(request.method.rawValue) \(request.url.encodedPath)")
            throw AzureError(.transport, "no recorded exchange left")
        }
        let recorded = exchanges.removeFirst()
        let label = "\(recorded.method) \(recorded.path)"
        if request.method.rawValue != recorded.method { mismatches.append("\(label): method \(request.method.rawValue)") }
        if request.url.encodedPath != recorded.path { mismatches.append("\(label): path \(request.url.encodedPath)") }
        var query: [String: String] = [:]
        for (name, value) in request.url.query { query[name] = value }
        let ignored: Set<String> = ["timeout"]
        if query.filter({ !ignored.contains($0.key) }) != recorded.query.filter({ !ignored.contains($0.key) }) {
            mismatches.append("\(label): query \(query) vs recorded \(recorded.query)")
        }
        for name in Self.comparedHeaders {
            let expected = recorded.requestHeaders.first { $0.key.lowercased() == name }?.value
            if let expected, request.headers[name] != expected {
                mismatches.append("\(label): header \(name) = \(request.headers[name] ?? "nil"), recorded \(expected)")
            }
        }
        for (name, value) in recorded.requestHeaders where name.lowercased().hasPrefix("x-ms-meta-") {
            if request.headers[name] != value { mismatches.append("\(label): missing metadata \(name)") }
        }
        return AzureHTTPResponse(
            statusCode: recorded.status, headers: HTTPHeaderFields(recorded.responseHeaders),
            body: HTTPResponseBody(ByteBuffer(bytes: recorded.responseBody)))
    }
}

@Suite("Requests and parsing against recorded real-Azure sessions")
struct RecordedSessionTests {
    func client(_ transport: ReplayTransport) throws -> BlobServiceClient {
        try BlobServiceClient(
            endpoint: URL(string: "https://REDACTED.blob.core.windows.net")!,
            credential: .sharedKey(try StorageSharedKeyCredential(accountName: "REDACTED", accountKey: StorageConnectionString.developmentAccountKey)),
            options: testOptions(), transport: transport)
    }

    func finish(_ transport: ReplayTransport) async {
        let mismatches = await transport.mismatches
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(await transport.remaining == 0, "recorded requests the client never sent")
    }

    @Test func listContainersPagesWithAzureMarkers() async throws {
        let transport = ReplayTransport(try RecordedExchange.load("BlobServiceClientTest.ListContainers.json"))
        let service = try client(transport)
        let names = (1...2).flatMap { group in (0..<5).map { "eudns7qg3m-prefix\(group)-\($0)" } }
        for name in names { try await service.containerClient(name).create() }
        var pages: [[String]] = []
        for try await page in service.listContainers(pageSize: 4).byPage() { pages.append(page.items.map(\.name)) }
        #expect(pages.count == 3)
        #expect(pages.flatMap { $0 }.filter { $0.hasPrefix("eudns7qg3m") } == names)
        var prefixed: [ContainerItem] = []
        for try await item in service.listContainers(prefix: "eudns7qg3m-prefix1-", pageSize: 4) { prefixed.append(item) }
        #expect(prefixed.map(\.name) == Array(names.prefix(5)))
        #expect(prefixed.allSatisfy { $0.properties.etag.hasPrefix("\"0x") && $0.properties.lastModified != nil })
        for name in names { try await service.containerClient(name).delete() }
        await finish(transport)
    }

    @Test func listBlobsByHierarchyParsesPrefixesAndBlobs() async throws {
        let transport = ReplayTransport(try RecordedExchange.load("BlobContainerClientTest.ListBlobsByHierarchy.json"))
        let container = try client(transport).containerClient("blobcontainerclienttestlistblobsbyhierarchy")
        try await container.create()
        let dirs = ["EPgNifdYq6-kNJEf9enQm/", "EPgNifdYq6-bBzV8aHX4v/"]
        let files = [["riRL7a1HJn0", "83f75tToFX1", "kecKkS66cC2"], ["SmVucbkfVE0", "fTuxdCBNbH1", "wc0GI6zUlJ2"]]
        for (dir, names) in zip(dirs, files) {
            for name in names {
                var options = BlobUploadOptions()
                options.httpHeaders.contentMD5 = nil
                try await container.blobClient(dir + name).upload([], options: options)
            }
        }
        var top: [String] = []
        for try await item in container.listBlobsByHierarchy(delimiter: "/", prefix: "EPgNifdYq6") {
            if case .prefix(let prefix) = item { top.append(prefix) }
        }
        #expect(top == dirs.sorted())
        for dir in dirs {
            var names: [String] = []
            for try await item in container.listBlobsByHierarchy(delimiter: "/", prefix: dir) {
                if case .blob(let blob) = item {
                    names.append(blob.name)
                    #expect(blob.properties.blobType == "BlockBlob")
                }
            }
            #expect(Set(names) == Set(files[dirs.firstIndex(of: dir)!].map { dir + $0 }))
        }
        try await container.delete()
        await finish(transport)
    }

    @Test func errorCodeAndRequestIDFromARealNotFound() async throws {
        let transport = ReplayTransport(try RecordedExchange.load("BlobContainerClientTest.ErrorCode.json"))
        let container = try client(transport).containerClient("blobcontainerclienttesterrorcode")
        try await container.create()
        let blob = container.blobClient("7KQJYXgKt3")
        let head = try await #require(throws: AzureError.self) { try await blob.properties() }
        #expect(head.statusCode == 404 && head.errorCode == "BlobNotFound")
        let get = try await #require(throws: AzureError.self) { try await blob.download(range: 0, length: 1) }
        #expect(get.errorCode == "BlobNotFound")
        #expect(get.message == "The specified blob does not exist.")
        #expect(get.requestID == "0414c86e-501e-0006-7986-65e97d000000")
        try await container.delete()
        await finish(transport)
    }

    @Test func leaseAcquireRenewRelease() async throws {
        let transport = ReplayTransport(try RecordedExchange.load("TestBlobRenewLease.json"))
        let container = try client(transport).containerClient("gocblobrenewlease")
        try await container.create()
        let blob = container.blobClient("gotestblobblobrenewlease")
        try await blob.upload([])
        let lease = blob.leaseClient(leaseID: "c820a799-76d7-4ee2-6e15-546f19325c2c")
        try await lease.acquire(seconds: 15)
        try await lease.renew()
        try await lease.release()
        try await container.delete()
        await finish(transport)
    }

    @Test func containerMetadataRoundTrip() async throws {
        let transport = ReplayTransport(try RecordedExchange.load("BlobContainerClientTest.Metadata.json"))
        let container = try client(transport).containerClient("blobcontainerclienttestmetadata")
        try await container.create()
        try await container.setMetadata(["key1": "one", "key2": "TWO"])
        let properties = try await container.properties()
        #expect(properties.metadata == ["key1": "one", "key2": "TWO"])
        #expect(properties.leaseState == .available)
        try await container.setMetadata([:])
        #expect(try await container.properties().metadata.isEmpty)
        try await container.delete()
        await finish(transport)
    }
}
