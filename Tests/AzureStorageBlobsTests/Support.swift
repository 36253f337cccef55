import AzureCore
import AzureEmulator
import AzureStorageBlobs
import EmulatorTestSupport
import Foundation
import NIOCore

final class TemporaryDirectory: Sendable {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-blob-\(UUID().uuidString.prefix(12))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs the emulator in this process on a free port for the duration of `body`.
func withEmulator<T: Sendable>(
    options: ClientOptions = testOptions(), configure: (inout EmulatorConfiguration) -> Void = { _ in },
    _ body: @Sendable (BlobServiceClient, String) async throws -> T
) async throws -> T {
    let directory = TemporaryDirectory()
    var configuration = EmulatorConfiguration(blobPort: 0, dataDirectory: directory.path)
    configure(&configuration)
    return try await withInProcessEmulator(configuration) { endpoints in
        let endpoint = endpoints.blobEndpoint()
        let service = try BlobServiceClient(
            connectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=\(StorageConnectionString.developmentAccountKey);BlobEndpoint=\(endpoint);",
            options: options)
        return try await body(service, endpoint)
    }
}

func testOptions(retry: RetryPolicy = .noRetry) -> ClientOptions {
    var options = ClientOptions()
    options.retry = retry
    options.perTryTimeout = .seconds(30)
    return options
}

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes[index] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return bytes
}

func uniqueName(_ prefix: String = "c") -> String {
    "\(prefix)\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))"
}

/// A transport that answers from a script, recording what it was sent. Only for testing pipeline policies
/// (retry counts, waits) whose behaviour does not depend on a real peer.
actor ScriptedTransport: HTTPTransport {
    private var answers: [Result<AzureHTTPResponse, AzureError>]
    private(set) var requests: [AzureHTTPRequest] = []

    init(_ answers: [Result<AzureHTTPResponse, AzureError>]) { self.answers = answers }

    nonisolated func send(_ request: AzureHTTPRequest, timeout: Duration?) async throws -> AzureHTTPResponse {
        try await next(request)
    }

    private func next(_ request: AzureHTTPRequest) throws -> AzureHTTPResponse {
        requests.append(request)
        guard !answers.isEmpty else { throw AzureError(.transport, "script exhausted") }
        return try answers.removeFirst().get()
    }
}
