import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

@testable import AzureEmulator

/// An answer from the live emulator, read whole.
struct BlobAnswer {
    var status: Int
    var headers: HTTPHeaders
    var body: String

    var errorCode: String? { headers.first(name: "x-ms-error-code") }
}

/// A Blob endpoint of an emulator running in this process on free ports, and raw HTTP requests to it signed
/// with the development account's Shared Key (or not signed, for SAS and bearer requests).
struct LiveBlobEndpoint {
    let endpoints: EmulatorEndpoints
    let client: HTTPClient
    let account = StorageAccount.development

    /// Runs an emulator with `configure`d settings in a fresh data directory for the duration of `body`.
    static func run<T: Sendable>(
        configure: (inout EmulatorConfiguration) -> Void = { _ in }, _ body: (LiveBlobEndpoint) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-live-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = EmulatorConfiguration(blobPort: 0, dataDirectory: directory)
        configure(&configuration)
        let (stream, continuation) = AsyncStream<EmulatorEndpoints>.makeStream()
        let emulator = AzureEmulatorServer(configuration: configuration)
        let server = Task {
            defer { continuation.finish() }
            try await emulator.run { continuation.yield($0) }
        }
        var iterator = stream.makeAsyncIterator()
        guard let endpoints = await iterator.next() else {
            _ = await server.result
            throw CancellationError()
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await body(LiveBlobEndpoint(endpoints: endpoints, client: client)))
        } catch {
            outcome = .failure(error)
        }
        try await client.shutdown()
        server.cancel()
        _ = await server.result
        return try outcome.get()
    }

    /// Sends `method` to `path` (percent-encoded, below the account, e.g. `/c/b`) with `query` (raw, without
    /// `?`). Shared Key signs it unless `signed` is false; `date` overrides `x-ms-date`.
    func send(
        _ method: HTTPMethod, _ path: String, query: String = "", headers: [(String, String)] = [],
        body: [UInt8] = [], signed: Bool = true, date: Date = Date()
    ) async throws -> BlobAnswer {
        var allHeaders = headers
        allHeaders.append(("x-ms-version", "2026-10-06"))
        if !headers.contains(where: { $0.0.lowercased() == "x-ms-date" }) {
            allHeaders.append(("x-ms-date", HTTPDate.rfc1123(date)))
        }
        let accountPath = "/\(account.name)\(path)"
        if signed {
            var signedHeaders = allHeaders
            if !body.isEmpty { signedHeaders.append(("Content-Length", String(body.count))) }
            let pairs = query.split(separator: "&").map { pair -> (name: String, value: String) in
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                return (parts[0], parts.count > 1 ? parts[1] : "")
            }
            let request = SharedKeyVerifier.SignedRequest(
                method: method.rawValue, path: accountPath, query: pairs, headers: signedHeaders)
            let signature = SharedKeyVerifier.signature(
                SharedKeyVerifier.stringToSign(request, account: account.name, foldHeaderWhitespace: false), key: account.key)!
            allHeaders.append(("Authorization", "SharedKey \(account.name):\(signature)"))
        }
        var request = HTTPClientRequest(
            url: "http://127.0.0.1:\(endpoints.blobPort)\(accountPath)" + (query.isEmpty ? "" : "?\(query)"))
        request.method = method
        for (name, value) in allHeaders { request.headers.add(name: name, value: value) }
        if !body.isEmpty || method == .PUT { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let content = try await response.body.collect(upTo: 16 << 20)
        return BlobAnswer(status: Int(response.status.code), headers: response.headers, body: String(buffer: content))
    }
}
