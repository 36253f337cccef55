import Foundation
import HTTPTypes
import NIOHTTP1
import Testing

@testable import AzureEmulator

/// Shared Key dates, secret comparison and SAS create permission, over real sockets.
@Suite("Authorisation hardening")
struct AuthHardeningTests {
    static let dateOffsets: [(TimeInterval, Int)] = [
        (-960, 403), (-840, 201), (840, 201), (960, 403), (-94_608_000, 403),
    ]

    @Test(arguments: dateOffsets)
    func sharedKeyRequestsOutsideFifteenMinutesAreRefused(_ offset: TimeInterval, _ status: Int) async throws {
        try await LiveBlobEndpoint.run { emulator in
            let answer = try await emulator.send(
                .PUT, "/dated", query: "restype=container", date: Date().addingTimeInterval(offset))
            #expect(answer.status == status)
            if status == 403 {
                #expect(answer.errorCode == "AuthenticationFailed")
                #expect(answer.body.contains(offset < 0 ? "Request date header too old" : "too far in the future"))
            }
        }
    }

    @Test func requestDateIsRequiredAndMustParse() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        func check(_ headers: [(String, String)]) -> String? {
            var fields = HTTPFields()
            for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
            do {
                try BlobResponder.checkRequestDate(
                    try BlobRequest(method: .get, target: "/devstoreaccount1/c", headers: fields), now: now)
                return nil
            } catch {
                return (error as? EmulatorError)?.details.first?.1
            }
        }
        #expect(check([]) == "Request date header not specified.")
        #expect(check([("x-ms-date", "yesterday")])?.contains("not a valid RFC 1123 date") == true)
        #expect(check([("Date", HTTPDate.rfc1123(now))]) == nil)
        // x-ms-date wins over Date, as in the string-to-sign.
        #expect(check([("Date", HTTPDate.rfc1123(now)), ("x-ms-date", HTTPDate.rfc1123(now.addingTimeInterval(-3600)))]) != nil)
    }

    @Test func secretComparisonIsExact() {
        #expect(SecretComparison.matches("kumo", "kumo"))
        #expect(!SecretComparison.matches("kumo", "kumO"))
        #expect(!SecretComparison.matches("kum", "kumo"))
        #expect(!SecretComparison.matches("", "kumo"))
        #expect(SecretComparison.matches("", ""))
    }

    /// A container SAS for `container` with `permissions`, signed as the SDKs sign it.
    static func containerSAS(_ container: String, permissions: String) throws -> String {
        let expiry = HTTPDate.iso8601(Date().addingTimeInterval(3600)).prefix(19) + "Z"
        let unsigned = "se=\(expiry)&sp=\(permissions)&sv=2026-10-06&sr=c"
        let query = unsigned.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1)
            return (name: String(parts[0]), value: String(parts[1]))
        }
        let sas = try #require(SharedAccessSignature(query: query + [(name: "sig", value: "")]))
        let signature = try #require(
            SharedKeyVerifier.signature(
                sas.serviceStringToSign(canonicalResource: "/blob/devstoreaccount1/\(container)", snapshot: ""),
                key: StorageAccount.development.key))
        let encoded = signature.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        return unsigned.replacingOccurrences(of: ":", with: "%3A") + "&sig=\(encoded)"
    }

    @Test func createPermissionWritesNewBlobsOnly() async throws {
        try await LiveBlobEndpoint.run { emulator in
            #expect(try await emulator.send(.PUT, "/sas", query: "restype=container").status == 201)
            let create = try Self.containerSAS("sas", permissions: "c")
            let blobType = [("x-ms-blob-type", "BlockBlob")]
            #expect(
                try await emulator.send(.PUT, "/sas/new", query: create, headers: blobType, body: [1], signed: false)
                    .status == 201)
            let overwrite = try await emulator.send(
                .PUT, "/sas/new", query: create, headers: blobType, body: [2], signed: false)
            #expect(overwrite.status == 403)
            #expect(overwrite.errorCode == "AuthorizationPermissionMismatch")

            // Put Block is allowed, committing it over the existing blob is not.
            #expect(
                try await emulator.send(.PUT, "/sas/new", query: create + "&comp=block&blockid=QUE%3D", body: [3], signed: false)
                    .status == 201)
            let list = Array("<BlockList><Latest>QUE=</Latest></BlockList>".utf8)
            let commit = try await emulator.send(
                .PUT, "/sas/new", query: create + "&comp=blocklist", body: list, signed: false)
            #expect(commit.status == 403)
            #expect(commit.errorCode == "AuthorizationPermissionMismatch")
            #expect(
                try await emulator.send(.PUT, "/sas/other", query: create + "&comp=block&blockid=QUE%3D", body: [3], signed: false)
                    .status == 201)
            #expect(
                try await emulator.send(.PUT, "/sas/other", query: create + "&comp=blocklist", body: list, signed: false)
                    .status == 201)

            // The content is still the first write.
            #expect(try await emulator.send(.GET, "/sas/new").body == "\u{1}")

            let write = try Self.containerSAS("sas", permissions: "cw")
            #expect(
                try await emulator.send(.PUT, "/sas/new", query: write, headers: blobType, body: [4], signed: false)
                    .status == 201)
        }
    }
}
