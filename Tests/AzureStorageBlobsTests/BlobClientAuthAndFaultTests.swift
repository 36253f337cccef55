import AzureCore
import AzureEmulator
import AzureStorageBlobs
import Foundation
import Testing

@Suite("SAS, bearer tokens and retries through injected faults, against the emulator")
struct BlobClientAuthAndFaultTests {
    static let key = StorageConnectionString.developmentAccountKey

    @Test func serviceAndAccountSASGrantWhatTheySay() async throws {
        try await withEmulator { service, endpoint in
            let containerName = uniqueName()
            let container = service.containerClient(containerName)
            try await container.create()
            try await container.blobClient("seed").upload(Array("seed".utf8))
            let credential = try StorageSharedKeyCredential(accountName: "devstoreaccount1", accountKey: Self.key)

            let readList = BlobSASBuilder(containerName: containerName, permissions: [.read, .list], expiresOn: Date().addingTimeInterval(600))
            let reader = try BlobServiceClient(
                endpoint: URL(string: endpoint)!, credential: .sas(readList.token(signedWith: credential)), options: testOptions())
                .containerClient(containerName)
            #expect(try await reader.blobClient("seed").download() == Array("seed".utf8))
            #expect(try await collect(reader.listBlobs()).map(\.name) == ["seed"])
            let denied = try await #require(throws: AzureError.self) { try await reader.blobClient("new").upload([1, 2, 3]) }
            #expect(denied.statusCode == 403 && denied.errorCode == "AuthorizationPermissionMismatch")
            #expect(!denied.description.contains("sig="), "\(denied)")

            let expired = BlobSASBuilder(containerName: containerName, permissions: [.read], expiresOn: Date().addingTimeInterval(-60))
            let late = try BlobServiceClient(
                endpoint: URL(string: endpoint)!, credential: .sas(expired.token(signedWith: credential)), options: testOptions())
            let expiredError = try await #require(throws: AzureError.self) {
                try await late.containerClient(containerName).blobClient("seed").download()
            }
            #expect(expiredError.statusCode == 403 && expiredError.errorCode == "AuthenticationFailed")

            let account = AccountSASBuilder(permissions: [.read, .write, .create, .list], expiresOn: Date().addingTimeInterval(600))
            let writer = try BlobServiceClient(
                endpoint: URL(string: endpoint)!, credential: .sas(account.token(signedWith: credential)), options: testOptions())
            try await writer.containerClient(containerName).blobClient("via-account-sas").upload(Array("ok".utf8))
            #expect(try await container.blobClient("via-account-sas").download() == Array("ok".utf8))

            let forged = account.token(signedWith: try StorageSharedKeyCredential(accountName: "devstoreaccount1", accountKey: Data(repeating: 1, count: 32).base64EncodedString()))
            let forger = try BlobServiceClient(endpoint: URL(string: endpoint)!, credential: .sas(forged), options: testOptions())
            let forgedError = try await #require(throws: AzureError.self) { try await forger.containerClient(containerName).blobClient("seed").download() }
            #expect(forgedError.statusCode == 403 && forgedError.errorCode == "AuthenticationFailed")
        }
    }

    @Test func bearerTokenFromACredential() async throws {
        try await withEmulator(configure: { $0.staticBearerToken = "kumo-test-token" }) { _, endpoint in
            let good = try BlobServiceClient(
                endpoint: URL(string: endpoint)!, credential: .token(StaticTokenCredential(token: "kumo-test-token")), options: testOptions())
            let name = uniqueName()
            try await good.containerClient(name).create()
            #expect(try await good.containerClient(name).exists())
            let bad = try BlobServiceClient(
                endpoint: URL(string: endpoint)!, credential: .token(StaticTokenCredential(token: "wrong")), options: testOptions())
            let error = try await #require(throws: AzureError.self) { try await bad.containerClient(name).properties() }
            // Azure answers a token it cannot validate with 401 InvalidAuthenticationInfo.
            #expect(error.statusCode == 401)
            #expect(!error.description.contains("wrong"))
        }
    }

    @Test func retriesCarryUploadsAndDownloadsThroughFaults() async throws {
        let retry = RetryPolicy.exponential(maxRetries: 8, delay: .milliseconds(5), maxDelay: .milliseconds(50))
        try await withEmulator(
            options: testOptions(retry: retry),
            configure: { $0.faults = FaultInjection(errorRate: 0.3, dropRate: 0.1, operations: ["put-block", "put-block-list", "get-blob", "put-blob"]) }
        ) { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let data = randomBytes(3 * (1 << 20) + 17, seed: 9)
            var upload = BlobUploadOptions()
            upload.singleUploadThreshold = 1 << 20
            upload.blockSize = 256 << 10
            upload.concurrency = 4
            let blob = container.blobClient("through-faults")
            try await blob.upload(data, options: upload)
            var download = BlobDownloadOptions()
            download.chunkSize = 300_000
            #expect(try await blob.download(options: download) == data)
        }
    }

    @Test func aPersistentFaultIsTriedExactlyOncePlusMaxRetries() async throws {
        let counter = TryCounter()
        var options = testOptions(retry: .exponential(maxRetries: 2, delay: .milliseconds(1)))
        options.perRetryPolicies = [counter]
        try await withEmulator(options: options, configure: { $0.faults = FaultInjection(errorRate: 1.0, operations: ["create-container"]) }) { service, _ in
            let error = try await #require(throws: AzureError.self) { try await service.containerClient(uniqueName()).create() }
            #expect(error.statusCode == 500 || error.statusCode == 503)
            #expect(counter.count == 3)
        }
    }

    @Test func withoutRetriesAFaultSurfacesAsARetriableServiceError() async throws {
        try await withEmulator(configure: { $0.faults = FaultInjection(errorRate: 1.0, operations: ["create-container"]) }) { service, _ in
            let error = try await #require(throws: AzureError.self) { try await service.containerClient(uniqueName()).create() }
            #expect(error.statusCode == 500 || error.statusCode == 503)
            #expect(error.isRetriable)
        }
    }
}

/// Counts the tries that reach the transport.
final class TryCounter: HTTPPipelinePolicy, @unchecked Sendable {
    private let lock = NSLock()
    private var tries = 0
    var count: Int { lock.withLock { tries } }

    func send(_ request: AzureHTTPRequest, next: NextPolicy) async throws -> AzureHTTPResponse {
        lock.withLock { tries += 1 }
        return try await next(request)
    }
}
