@testable import AzureCore
import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@Suite("AzureCore: connection strings, signing, SAS, redaction, retries")
struct CoreTests {
    static let key = StorageConnectionString.developmentAccountKey

    @Test func developmentStorage() throws {
        let parsed = try StorageConnectionString("UseDevelopmentStorage=true")
        #expect(parsed.accountName == "devstoreaccount1")
        #expect(parsed.accountKey == Self.key)
        #expect(parsed.blobEndpoint?.absoluteString == "http://127.0.0.1:10000/devstoreaccount1")
        #expect(parsed.queueEndpoint?.absoluteString == "http://127.0.0.1:10001/devstoreaccount1")
    }

    @Test func accountKeyAndSuffix() throws {
        let parsed = try StorageConnectionString(
            "DefaultEndpointsProtocol=https;AccountName=kumoprod;AccountKey=\(Self.key);EndpointSuffix=core.chinacloudapi.cn")
        #expect(parsed.blobEndpoint?.absoluteString == "https://kumoprod.blob.core.chinacloudapi.cn")
        let explicit = try StorageConnectionString("BlobEndpoint=https://example.com/x;SharedAccessSignature=sv=2026-10-06&sig=abc")
        #expect(explicit.blobEndpoint?.absoluteString == "https://example.com/x")
        #expect(explicit.sharedAccessSignature == "sv=2026-10-06&sig=abc")
        #expect(explicit.accountKey == nil)
    }

    @Test(arguments: [
        ("AccountName=a;AccountKey", "segment 2 has no '='"),
        ("AccountName=a;AccountKey=not base64!!", "AccountKey is not valid base64"),
        ("AccountName=a", "neither AccountKey nor SharedAccessSignature"),
        ("AccountKey=\(key)", "AccountName is missing"),
        ("AccountName=a;AccountKey=\(key);Colour=blue", "unknown setting 'Colour'"),
        ("DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey=\(key)", "must be 'http' or 'https'"),
        ("UseDevelopmentStorage=yes", "UseDevelopmentStorage must be 'true'"),
        ("", "it is empty"),
        ("AccountName=a;AccountName=b;AccountKey=\(key)", "appears twice"),
        ("BlobEndpoint=not a url;AccountName=a;AccountKey=\(key)", "BlobEndpoint"),
    ])
    func malformedConnectionStringsNameThePart(text: String, expected: String) {
        do {
            _ = try StorageConnectionString(text)
            Issue.record("'\(text)' parsed")
        } catch let error as AzureError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(!error.message.contains(Self.key), "the key leaked into the error")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// The same request Microsoft's Python SDK signed to
    /// `SharedKey devstoreaccount1:XTGE9RaIrmZx4kcnm8lvEELamhrZ9x4QjjATbbywO50=`.
    @Test func sharedKeyMatchesThePythonSDK() async throws {
        let transport = ScriptedTransport([.success(AzureHTTPResponse(statusCode: 201, headers: HTTPHeaderFields()))])
        let credential = try StorageSharedKeyCredential(accountName: "devstoreaccount1", accountKey: Self.key)
        let pipeline = HTTPPipeline(policies: [SharedKeyPolicy(credential: credential)], transport: transport)
        var request = AzureHTTPRequest(
            method: .put,
            url: RequestURL(origin: "http://127.0.0.1:10000", encodedPath: "/devstoreaccount1/photos/2024/a%20b.jpg",
                            query: [("comp", "block"), ("blockid", "QUFBQQ=="), ("timeout", "30")]),
            body: ByteBuffer(string: "hello world"))
        for (name, value) in [
            ("x-ms-version", "2026-10-06"), ("x-ms-date", "Wed, 25 Nov 2026 18:00:00 GMT"),
            ("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="), ("x-ms-client-request-id", "abc"),
            ("x-ms-meta-Owner", "kumo team"), ("Content-Type", "application/octet-stream"),
        ] { request.headers[name] = value }
        _ = try await pipeline.send(request)
        let sent = await transport.requests
        #expect(sent.first?.headers["Authorization"] == "SharedKey devstoreaccount1:XTGE9RaIrmZx4kcnm8lvEELamhrZ9x4QjjATbbywO50=")
        #expect(RequestURL.encodePath("dir/sub dir/ü+x.txt") == "dir/sub%20dir/%C3%BC%2Bx.txt")
    }

    /// Tokens Microsoft's Python SDK generated for the same inputs.
    @Test func sasTokensMatchThePythonSDK() throws {
        let credential = try StorageSharedKeyCredential(accountName: "devstoreaccount1", accountKey: Self.key)
        let start = Date(timeIntervalSince1970: 1_795_629_600)  // 2026-11-25T18:00:00Z
        let expiry = start.addingTimeInterval(86_400)
        var blob = BlobSASBuilder(containerName: "backups", blobName: "rocksdb/2026-11-25/x/manifest.json",
                                  permissions: [.read, .write, .create], expiresOn: expiry)
        blob.startsOn = start
        blob.ipRange = "127.0.0.1"
        blob.protocol = .httpsAndHTTP
        #expect(blob.token(signedWith: credential).hasSuffix("sig=Hpb2SM7it1Z4H7eH4TJtTUCjQEpAZNOPmdn0UztoZ%2Bo%3D"))
        #expect(blob.token(signedWith: credential).contains("sp=rcw"))

        let container = BlobSASBuilder(containerName: "backups", permissions: [.read, .list], expiresOn: expiry)
        #expect(container.token(signedWith: credential).hasSuffix("sig=0jpxVHiRw%2BF3IgDlXSMpb1Ldo9zGEEvC9PXfx0zUrJA%3D"))

        var account = AccountSASBuilder(permissions: [.read, .write, .list, .create], expiresOn: expiry)
        account.startsOn = start
        let token = account.token(signedWith: credential)
        #expect(token.hasSuffix("sig=FRK5plcL0CfQ%2BAGt70mlMFr4E4eDQ2KyeiCMum%2BABUc%3D"))
        #expect(token.contains("ss=b") && token.contains("srt=sco") && token.contains("sp=rwlc"))
    }

    @Test func redactionRemovesSecrets() {
        let text = "GET https://a.blob.core.windows.net/c?sv=1&sig=SECRET%2B&se=2 AccountKey=KEYKEY;x Authorization: SharedKey acct:SIGSIG"
        let redacted = Redaction.redact(text)
        #expect(!redacted.contains("SECRET") && !redacted.contains("KEYKEY") && !redacted.contains("SIGSIG"))
        #expect(redacted.contains("sig=REDACTED&se=2"))
        let error = AzureError(.service, "failed for ...?sig=abc123")
        #expect(!error.description.contains("abc123"))
    }

    @Test func retryRetriesTransientStatusesAndHonoursRetryAfter() async throws {
        var busy = HTTPHeaderFields()
        busy["x-ms-retry-after-ms"] = "10"
        let transport = ScriptedTransport([
            .success(AzureHTTPResponse(statusCode: 503, headers: busy)),
            .failure(AzureError(.transport, "reset", isRetriable: true)),
            .success(AzureHTTPResponse(statusCode: 500, headers: HTTPHeaderFields())),
            .success(AzureHTTPResponse(statusCode: 200, headers: HTTPHeaderFields())),
        ])
        let retry = RetryPolicy.exponential(maxRetries: 3, delay: .milliseconds(5), maxDelay: .milliseconds(50))
        let pipeline = HTTPPipeline(policies: [retry], transport: transport)
        let response = try await pipeline.send(AzureHTTPRequest(method: .get, url: RequestURL(origin: "http://x", encodedPath: "/")))
        #expect(response.statusCode == 200)
        #expect(await transport.requests.count == 4)
    }

    @Test func retryStopsAtTheLimitAndNeverRetriesClientErrors() async throws {
        let failing = ScriptedTransport(Array(repeating: .success(AzureHTTPResponse(statusCode: 503, headers: HTTPHeaderFields())), count: 5))
        let pipeline = HTTPPipeline(policies: [RetryPolicy.exponential(maxRetries: 2, delay: .milliseconds(1))], transport: failing)
        let last = try await pipeline.send(AzureHTTPRequest(method: .get, url: RequestURL(origin: "http://x", encodedPath: "/")))
        #expect(last.statusCode == 503)
        #expect(await failing.requests.count == 3)

        let notFound = ScriptedTransport([.success(AzureHTTPResponse(statusCode: 404, headers: HTTPHeaderFields()))])
        let once = HTTPPipeline(policies: [RetryPolicy.default], transport: notFound)
        #expect(try await once.send(AzureHTTPRequest(method: .get, url: RequestURL(origin: "http://x", encodedPath: "/"))).statusCode == 404)
        #expect(await notFound.requests.count == 1)
    }

    @Test func exponentialDelaysGrowAndAreCapped() {
        let retry = RetryPolicy.exponential(maxRetries: 10, delay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(retry.delay(attempt: 0, serverHint: nil) <= .milliseconds(120))
        #expect(retry.delay(attempt: 2, serverHint: nil) >= .milliseconds(320))
        #expect(retry.delay(attempt: 8, serverHint: nil) == .seconds(1))
        #expect(retry.delay(attempt: 0, serverHint: .milliseconds(700)) == .milliseconds(700))
    }
}

@Suite("AzureCore: no secret in an error or log line")
struct SecretRedactionTests {
    static let sasQuery = [("sv", "2023-11-03"), ("sp", "rl"), ("sig", "SIGSECRET+/=")]

    @Test(arguments: [
        ("https://a.blob.core.windows.net/c?sv=1&sig=SIGSECRET&se=2", "SIGSECRET"),
        ("copy from https%3A%2F%2Fa%2Fc%3Fsv%3D1%26sig%3DSIGSECRET%252B%26se%3D2 failed", "SIGSECRET"),
        ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=KEYSECRET==;EndpointSuffix=x", "KEYSECRET"),
        ("BlobEndpoint=https://x;SharedAccessSignature=sv=1&ss=b&SASSECRET=1", "SASSECRET"),
        ("Authorization: SharedKey acct:SIGSECRET=", "SIGSECRET"),
        ("authorization: Bearer eyJTOKENSECRET", "TOKENSECRET"),
        ("x-ms-copy-source-authorization: Bearer TOKENSECRET", "TOKENSECRET"),
        ("[\"x-ms-copy-source-authorization\": \"Bearer TOKENSECRET\"]", "TOKENSECRET"),
        ("X-IDENTITY-HEADER: IDSECRET", "IDSECRET"),
        ("x-ms-encryption-key: CPKSECRET", "CPKSECRET"),
        ("grant_type=client_credentials&client_secret=CLIENTSECRET&scope=x", "CLIENTSECRET"),
        ("client_assertion=ASSERTIONSECRET&x=1", "ASSERTIONSECRET"),
        ("{\"token_type\":\"Bearer\",\"access_token\":\"TOKENSECRET\"}", "TOKENSECRET"),
        ("{\"refresh_token\": \"TOKENSECRET\"}", "TOKENSECRET"),
        ("{\"accessToken\":\"TOKENSECRET\",\"expiresOn\":\"x\"}", "TOKENSECRET"),
    ])
    func redactionCoversEverySecretForm(text: String, secret: String) {
        let redacted = Redaction.redact(text)
        #expect(!redacted.contains(secret), "\(redacted)")
        #expect(redacted.contains(Redaction.placeholder))
        // Redacting twice changes nothing, so layers that each redact do not mangle the text.
        #expect(Redaction.redact(redacted) == redacted)
    }

    @Test func redactionKeepsWhatIsNotSecret() {
        let text = "GET http://127.0.0.1:1/devstoreaccount1/c?restype=container&sv=2023-11-03&sig=abc&sp=rl"
        #expect(Redaction.redact(text) == "GET http://127.0.0.1:1/devstoreaccount1/c?restype=container&sv=2023-11-03&sig=REDACTED&sp=rl")
        // A URL quoted in brackets keeps its closing bracket.
        #expect(Redaction.redact("failed (GET http://h/c?sv=1&sig=abc%2B) [x?sig=def]") == "failed (GET http://h/c?sv=1&sig=REDACTED) [x?sig=REDACTED]")
        #expect(Redaction.redact("GET http://h/c?sig=abc: refused") == "GET http://h/c?sig=REDACTED: refused")
    }

    @Test func azureErrorRedactsHoweverItIsBuiltOrChanged() {
        var error = AzureError(
            .service, "GET http://h/c?sig=FIRSTSECRET failed", statusCode: 403, errorCode: "Denied sig=CODESECRET",
            requestID: "id Bearer IDSECRET")
        error.message = "retold: AccountKey=SECONDSECRET;x and " + error.message
        let shown = [error.message, error.description, error.errorCode ?? "", error.requestID ?? "", "\(error)"]
        for secret in ["FIRSTSECRET", "CODESECRET", "IDSECRET", "SECONDSECRET"] {
            #expect(!shown.contains { $0.contains(secret) }, "\(secret) leaked")
        }
        #expect(error.message.hasPrefix("retold: AccountKey=REDACTED;x and GET http://h/c?sig=REDACTED failed"))
    }

    @Test func requestURLRedactsTheSignatureWhateverItsEncoding() {
        let url = RequestURL(origin: "http://127.0.0.1:1", encodedPath: "/devstoreaccount1/c", query: Self.sasQuery)
        #expect(url.string.contains("sig=SIGSECRET%2B%2F%3D"))
        #expect(url.redacted == "http://127.0.0.1:1/devstoreaccount1/c?sv=2023-11-03&sp=rl&sig=REDACTED")
    }

    /// A client error whose own text quotes the URL (as some AsyncHTTPClient errors do) is redacted, and the
    /// error names the request it concerns.
    @Test func transportErrorsNameTheTargetWithoutTheSignature() {
        struct QuotingError: Error, CustomStringConvertible {
            var description: String { "cannot connect to http://127.0.0.1:1/x?sv=1&sig=SIGSECRET%2B" }
        }
        let request = AzureHTTPRequest(
            method: .get, url: RequestURL(origin: "http://127.0.0.1:1", encodedPath: "/devstoreaccount1/c", query: Self.sasQuery))
        for underlying in [QuotingError() as any Error, HTTPClientError.connectTimeout, HTTPClientError.remoteConnectionClosed] {
            let error = RetryPolicy.map(underlying, request: request)
            #expect(!error.description.contains("SIGSECRET"), "\(error)")
            #expect(error.message.contains("GET http://127.0.0.1:1/devstoreaccount1/c?sv=2023-11-03&sp=rl&sig=REDACTED"))
        }
    }

    /// The real transport against a closed loopback port: the error says which endpoint failed, never the
    /// signature, and a refused connection fails the try instead of being retried inside the connection pool.
    @Test func unreachableEndpointOverTheRealTransport() async throws {
        let pipeline = HTTPPipeline(
            policies: [SASPolicy(token: "sv=2023-11-03&sp=rl&sig=SIGSECRET%2B"), RetryPolicy.noRetry],
            transport: AsyncHTTPClientTransport())
        let request = AzureHTTPRequest(
            method: .get, url: RequestURL(origin: "http://127.0.0.1:1", encodedPath: "/devstoreaccount1/c"))
        let error = try await #require(throws: AzureError.self) { try await pipeline.send(request) }
        #expect(error.code == .transport)
        #expect(error.isRetriable)
        #expect(error.message.contains("127.0.0.1:1"), "\(error)")
        #expect(!error.description.contains("SIGSECRET"), "\(error)")
    }
}
