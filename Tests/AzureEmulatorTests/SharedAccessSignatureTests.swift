import Foundation
import HTTPTypes
import Testing

@testable import AzureEmulator

/// Reference tokens and strings-to-sign produced offline by azure-storage-blob 12.31.1
/// (`generate_blob_sas`, `generate_container_sas`, `generate_account_sas` with `sts_hook`) for the
/// development account, start 2026-11-25T17:00:00Z and expiry 2026-11-25T19:00:00Z.
@Suite("Shared access signatures")
struct SharedAccessSignatureTests {
    static let account = StorageAccount.development
    static let blobToken =
        "st=2026-11-25T17%3A00%3A00Z&se=2026-11-25T19%3A00%3A00Z&sp=rw&sip=127.0.0.1&spr=https%2Chttp&sv=2026-10-06&sr=b&rsct=image/jpeg&sig=QLuPNFpcAFvC1S8MBseYfq/JqAarSoPG6bNbjS9sVyk%3D"
    static let containerToken =
        "se=2026-11-25T19%3A00%3A00Z&sp=rl&sv=2026-10-06&sr=c&sig=WvcSAz5ySjubEKy9sHqbV1bUXDy%2BBOnGJtiakLC0DgI%3D"
    static let accountToken =
        "st=2026-11-25T17%3A00%3A00Z&se=2026-11-25T19%3A00%3A00Z&sp=rl&sv=2026-10-06&ss=b&srt=sco&sig=ULOO/c%2Boe8RsAoH93M27H6kLP3pOqUKxJ4pZa576y4c%3D"
    static let during = HTTPDate.parseISO8601("2026-11-25T18:00:00Z")!

    static func request(_ method: HTTPRequest.Method, _ path: String, _ token: String) throws -> BlobRequest {
        try BlobRequest(method: method, target: path + "?" + token, headers: HTTPFields())
    }

    static func authorize(
        _ request: BlobRequest, now: Date = during, clientIP: String = "127.0.0.1"
    ) throws {
        let sas = try #require(SharedAccessSignature(query: request.query), "no SAS in the request")
        try sas.authorize(
            .init(
                account: account, container: request.container, blob: request.blob, operation: try BlobOperation(request),
                request: request, clientIP: clientIP, isHTTPS: false, now: now))
    }

    static func code(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as EmulatorError {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    @Test func serviceStringToSignMatchesTheSDK() throws {
        let request = try Self.request(.get, "/devstoreaccount1/photos/2024/a%20b.jpg", Self.blobToken)
        let sas = try #require(SharedAccessSignature(query: request.query))
        let stringToSign = sas.serviceStringToSign(canonicalResource: "/blob/devstoreaccount1/photos/2024/a b.jpg", snapshot: "")
        #expect(stringToSign == "rw\n2026-11-25T17:00:00Z\n2026-11-25T19:00:00Z\n/blob/devstoreaccount1/photos/2024/a b.jpg\n\n127.0.0.1\nhttps,http\n2026-10-06\nb\n\n\n\n\n\n\nimage/jpeg")
        #expect(SharedKeyVerifier.signature(stringToSign, key: Self.account.key) == "QLuPNFpcAFvC1S8MBseYfq/JqAarSoPG6bNbjS9sVyk=")
    }

    @Test func containerStringToSignMatchesTheSDK() throws {
        let request = try Self.request(.get, "/devstoreaccount1/photos", Self.containerToken + "&restype=container&comp=list")
        let sas = try #require(SharedAccessSignature(query: request.query))
        #expect(sas.serviceStringToSign(canonicalResource: "/blob/devstoreaccount1/photos", snapshot: "")
            == "rl\n\n2026-11-25T19:00:00Z\n/blob/devstoreaccount1/photos\n\n\n\n2026-10-06\nc\n\n\n\n\n\n\n")
        try Self.authorize(request)
    }

    @Test func accountStringToSignMatchesTheSDK() throws {
        let request = try Self.request(.get, "/devstoreaccount1/", Self.accountToken + "&comp=list")
        let sas = try #require(SharedAccessSignature(query: request.query))
        #expect(sas.accountStringToSign(account: "devstoreaccount1")
            == "devstoreaccount1\nrl\nb\nsco\n2026-11-25T17:00:00Z\n2026-11-25T19:00:00Z\n\n\n2026-10-06\n\n")
        try Self.authorize(request)
    }

    @Test func validBlobSASAuthorisesReadAndWrite() throws {
        try Self.authorize(try Self.request(.get, "/devstoreaccount1/photos/2024/a%20b.jpg", Self.blobToken))
        try Self.authorize(try Self.request(.put, "/devstoreaccount1/photos/2024/a%20b.jpg", Self.blobToken))
    }

    @Test func deleteNeedsDeletePermission() throws {
        let request = try Self.request(.delete, "/devstoreaccount1/photos/2024/a%20b.jpg", Self.blobToken)
        #expect(Self.code { try Self.authorize(request) } == "AuthorizationPermissionMismatch")
    }

    @Test func otherBlobFailsTheSignature() throws {
        let request = try Self.request(.get, "/devstoreaccount1/photos/2024/other.jpg", Self.blobToken)
        #expect(Self.code { try Self.authorize(request) } == "AuthenticationFailed")
    }

    @Test func tamperedFieldFailsTheSignature() throws {
        let token = Self.blobToken.replacingOccurrences(of: "sp=rw", with: "sp=rwd")
        let request = try Self.request(.delete, "/devstoreaccount1/photos/2024/a%20b.jpg", token)
        #expect(Self.code { try Self.authorize(request) } == "AuthenticationFailed")
    }

    @Test(arguments: ["2026-11-25T16:59:59Z", "2026-11-25T19:00:00Z", "2026-11-26T00:00:00Z"])
    func outsideTheTimeWindowFails(_ now: String) throws {
        let request = try Self.request(.get, "/devstoreaccount1/photos/2024/a%20b.jpg", Self.blobToken)
        do {
            try Self.authorize(request, now: HTTPDate.parseISO8601(now)!)
            Issue.record("authorised at \(now)")
        } catch let error as EmulatorError {
            #expect(error.code == "AuthenticationFailed")
            let detail = error.details.first { $0.0 == "AuthenticationErrorDetail" }?.1 ?? ""
            #expect(detail.hasPrefix("Signature not valid in the specified time frame"))
            #expect(!detail.contains("QLuPNFpc"))
        }
    }

    @Test func sourceIPOutsideTheSignedIPFails() throws {
        let request = try Self.request(.get, "/devstoreaccount1/photos/2024/a%20b.jpg", Self.blobToken)
        #expect(Self.code { try Self.authorize(request, clientIP: "10.0.0.1") } == "AuthorizationSourceIPMismatch")
    }

    @Test func containerSASCannotDeleteTheContainer() throws {
        let request = try Self.request(.delete, "/devstoreaccount1/photos", Self.containerToken + "&restype=container")
        #expect(Self.code { try Self.authorize(request) } == "AuthorizationPermissionMismatch")
    }

    @Test func missingExpiryIsAuthenticationFailed() throws {
        let token = "sp=r&sv=2026-10-06&sr=b&sig=AAAA"
        let request = try Self.request(.get, "/devstoreaccount1/photos/x", token)
        #expect(Self.code { try Self.authorize(request) } == "AuthenticationFailed")
    }

    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1", true), ("127.0.0.5", "127.0.0.0-127.0.0.255", true),
        ("127.0.1.0", "127.0.0.0-127.0.0.255", false), ("10.0.0.1", "127.0.0.1", false),
    ])
    func signedIPRanges(_ ip: String, _ range: String, _ allowed: Bool) {
        #expect(SharedAccessSignature.ipAllowed(ip, range: range) == allowed)
    }

    @Test(arguments: [
        ("2026-11-25", 1_795_564_800.0), ("2026-11-25T18:00Z", 1_795_629_600.0),
        ("2026-11-25T18:00:00Z", 1_795_629_600.0), ("2026-11-25T18:00:00.5Z", 1_795_629_600.5),
    ])
    func iso8601Forms(_ text: String, _ seconds: Double) {
        #expect(HTTPDate.parseISO8601(text)?.timeIntervalSince1970 == seconds)
    }

    @Test(arguments: ["2026-13-01", "2026-11-25T18:00:00", "2026-11-25 18:00:00Z", "yesterday", "2026-11-25T18:00:00.12345678Z"])
    func malformedISO8601(_ text: String) {
        #expect(HTTPDate.parseISO8601(text) == nil)
    }

    @Test func versionIDsKeepEveryTick() {
        #expect(HTTPDate.iso8601(ticks: 16_734_906_381_593_995) == "2023-01-12T02:30:38.1593995Z")
        #expect(HTTPDate.iso8601(ticks: 16_734_906_380_000_001) == "2023-01-12T02:30:38.0000001Z")
    }
}
