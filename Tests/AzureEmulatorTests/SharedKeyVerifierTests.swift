import Testing

@testable import AzureEmulator

/// Reference signatures computed offline by Microsoft's Python SDK (azure-storage-blob's
/// SharedKeyCredentialPolicy) for the development account.
@Suite("Shared Key string-to-sign and signatures")
struct SharedKeyVerifierTests {
    static let key = StorageAccount.development.key
    static let date = "Wed, 25 Nov 2026 18:00:00 GMT"

    @Test func putBlockWithHeadersQueryAndEncodedPath() {
        let request = SharedKeyVerifier.SignedRequest(
            method: "PUT", path: "/devstoreaccount1/photos/2024/a%20b.jpg",
            query: [("comp", "block"), ("blockid", "QUFBQQ=="), ("timeout", "30")],
            headers: [
                ("x-ms-version", "2026-10-06"), ("x-ms-date", Self.date), ("Content-Length", "11"),
                ("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="), ("x-ms-client-request-id", "abc"),
                ("x-ms-meta-Owner", "kumo team"), ("Content-Type", "application/octet-stream"),
            ])
        let stringToSign = SharedKeyVerifier.stringToSign(request, account: "devstoreaccount1")
        #expect(stringToSign == """
            PUT\n\n\n11\nXrY7u+Ae7tCTyyK7j1rNww==\napplication/octet-stream\n\n\n\n\n\n\n\
            x-ms-client-request-id:abc\nx-ms-date:\(Self.date)\nx-ms-meta-owner:kumo team\nx-ms-version:2026-10-06\n\
            /devstoreaccount1/devstoreaccount1/photos/2024/a%20b.jpg\nblockid:QUFBQQ==\ncomp:block\ntimeout:30
            """)
        #expect(SharedKeyVerifier.signature(stringToSign, key: Self.key) == "XTGE9RaIrmZx4kcnm8lvEELamhrZ9x4QjjATbbywO50=")
    }

    @Test func listContainersOnTheAccount() {
        let request = SharedKeyVerifier.SignedRequest(
            method: "GET", path: "/devstoreaccount1",
            query: [("comp", "list"), ("prefix", "kumo"), ("maxresults", "2")],
            headers: [("x-ms-version", "2026-10-06"), ("x-ms-date", Self.date)])
        #expect(SharedKeyVerifier.isValid(
            signature: "ZQEw48qtyta68oilT+wdnBG4qVvrZNW+L/5GdfME58A=", for: request, account: "devstoreaccount1", key: Self.key))
    }

    @Test func zeroContentLengthAndUnfoldedWhitespaceAsTheSDKSignsThem() {
        let request = SharedKeyVerifier.SignedRequest(
            method: "PUT", path: "/devstoreaccount1/c1/b", query: [("comp", "metadata")],
            headers: [
                ("x-ms-version", "2026-10-06"), ("x-ms-date", Self.date), ("Content-Length", "0"),
                ("x-ms-meta-note", "a  b"), ("If-Match", "\"0x1\""),
            ])
        let signature = "Wf7D17XxDU1c4a68a0xdYNrrg+oMh4p3YuKJCq6lHCs="
        #expect(SharedKeyVerifier.isValid(signature: signature, for: request, account: "devstoreaccount1", key: Self.key))
        #expect(!SharedKeyVerifier.isValid(signature: signature, for: request, account: "devstoreaccount1", key: "AAAA"))
        var tampered = request
        tampered.query = [("comp", "properties")]
        #expect(!SharedKeyVerifier.isValid(signature: signature, for: tampered, account: "devstoreaccount1", key: Self.key))
    }
}
