import AzureCore
import AzureMessagingEventHubs
import Foundation
import Testing

@Suite("Event Hubs shared access signatures")
struct SharedAccessSignatureTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var resource: String
        var keyName: String
        var key: String
        var expiry: Int64
        var token: String
        var testDescription: String { resource }
    }

    /// Made by Microsoft's implementation, not ours: `generate_sas_token(resource, key_name, key, expiry)` from
    /// azure-eventhub 5.15.1 (`azure/eventhub/_pyamqp/utils.py`), printed by
    /// `scripts/conformance-eventhubs-vectors.py`. They cover a signature with `+` and `/` (percent-encoded in the
    /// token), the emulator's well-known key, and a key with non-ASCII characters (signed as UTF-8 bytes).
    static let vectors: [Vector] = [
        Vector(
            resource: "sb://kumo-test.servicebus.windows.net/orders", keyName: "RootManageSharedAccessKey",
            key: "kumo-test-key-5", expiry: 1_767_225_600,
            token: "SharedAccessSignature sr=sb%3A%2F%2Fkumo-test.servicebus.windows.net%2Forders"
                + "&sig=ZxJIkbVl3IixxBe3qXXDt5sZOgD%2FYiD%2B5BuyZf20nUI%3D&se=1767225600&skn=RootManageSharedAccessKey"),
        Vector(
            resource: "sb://localhost/eh1", keyName: "RootManageSharedAccessKey", key: "SAS_KEY_VALUE",
            expiry: 4_102_444_800,
            token: "SharedAccessSignature sr=sb%3A%2F%2Flocalhost%2Feh1"
                + "&sig=mJBcVf9EJSqeB9MiwFsq28xo3JuBZtfdwThWkH1vGc8%3D&se=4102444800&skn=RootManageSharedAccessKey"),
        Vector(
            resource: "sb://kumo-test.servicebus.windows.net/", keyName: "send-only_policy.1",
            key: "cl\u{e9}-\u{fc}n\u{ef}code=+/", expiry: 1_700_000_000,
            token: "SharedAccessSignature sr=sb%3A%2F%2Fkumo-test.servicebus.windows.net%2F"
                + "&sig=UkB0RshuUcYlKozecLSSupljY0t7mGuIBh9dTOX9p0M%3D&se=1700000000&skn=send-only_policy.1"),
    ]

    @Test(arguments: vectors)
    func signsAsMicrosoftsSDK(_ vector: Vector) throws {
        let credential = try EventHubsSharedKeyCredential(keyName: vector.keyName, key: vector.key)
        let expiry = Date(timeIntervalSince1970: TimeInterval(vector.expiry))
        let signature = credential.signature(for: vector.resource, expiresOn: expiry)
        #expect(signature.token == vector.token)
        #expect(signature.resource == vector.resource)
        #expect(signature.expiresOn == expiry)
        #expect(signature.keyName == vector.keyName)
        // Fractions of a second are dropped, as Unix `se` has none.
        #expect(
            credential.signature(for: vector.resource, expiresOn: expiry.addingTimeInterval(0.999)).token
                == vector.token)
        // The resource is lower-cased before signing.
        #expect(credential.signature(for: vector.resource.uppercased(), expiresOn: expiry).token == vector.token)
    }

    @Test(arguments: vectors)
    func parsesMicrosoftsToken(_ vector: Vector) throws {
        let parsed = try EventHubsSharedAccessSignature(parsing: vector.token)
        #expect(parsed.token == vector.token)
        #expect(parsed.resource == vector.resource)
        #expect(parsed.expiresOn == Date(timeIntervalSince1970: TimeInterval(vector.expiry)))
        #expect(parsed.keyName == vector.keyName)
        #expect(parsed.accessToken == AccessToken(token: vector.token, expiresOn: parsed.expiresOn))
    }

    @Test func resourceURI() {
        #expect(
            EventHubsSharedAccessSignature.resource(
                fullyQualifiedNamespace: "Kumo-Test.servicebus.windows.net", eventHubName: "Orders")
                == "sb://kumo-test.servicebus.windows.net/orders")
        #expect(
            EventHubsSharedAccessSignature.resource(
                fullyQualifiedNamespace: "kumo-test.servicebus.windows.net", eventHubName: nil)
                == "sb://kumo-test.servicebus.windows.net/")
    }

    @Test func validityAndExpiry() throws {
        let credential = try EventHubsSharedKeyCredential(keyName: "K", key: "k")
        let now = Date(timeIntervalSince1970: 1_700_000_000.5)
        let oneHour = credential.signature(for: "sb://ns/hub", now: now)
        #expect(oneHour.expiresOn == Date(timeIntervalSince1970: 1_700_003_600))
        #expect(oneHour.token.hasSuffix("&se=1700003600&skn=K"))
        let short = credential.signature(for: "sb://ns/hub", validFor: .seconds(90), now: now)
        #expect(short.expiresOn == Date(timeIntervalSince1970: 1_700_000_090))

        #expect(!short.isExpired(at: now))
        #expect(short.isExpired(at: now, margin: .seconds(90)))
        #expect(!short.isExpired(at: now, margin: .seconds(89)))
        #expect(short.isExpired(at: Date(timeIntervalSince1970: 1_700_000_090)))
    }

    @Test func secretsStayOutOfDescriptions() throws {
        let credential = try EventHubsSharedKeyCredential(keyName: "send", key: "S3CRET-key")
        let signature = credential.signature(for: "sb://ns/hub", expiresOn: Date(timeIntervalSince1970: 1_700_000_000))
        let sig = try #require(signature.token.split(separator: "&").first { $0.hasPrefix("sig=") }).dropFirst(4)
        for text in [
            credential.description, String(reflecting: credential), "\(credential)", Self.dumped(credential),
            signature.description, String(reflecting: signature), "\(signature)", Self.dumped(signature),
        ] {
            #expect(!text.contains("S3CRET"))
            #expect(!text.contains(sig))
        }
        #expect(credential.description == "EventHubsSharedKeyCredential(keyName: send, key: REDACTED)")
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var token: String
        var reason: String
        var testDescription: String { reason }
    }

    static let bad: [Bad] = [
        Bad(token: "", reason: "it does not start with 'SharedAccessSignature '"),
        Bad(token: "sr=a&sig=S3CRET&se=1", reason: "it does not start with 'SharedAccessSignature '"),
        Bad(token: "SharedAccessSignature sig=S3CRET&se=1", reason: "it has no resource (sr)"),
        Bad(
            token: "SharedAccessSignature sr=a%2&sig=S3CRET&se=1",
            reason: "its resource (sr) is not valid percent-encoding"),
        Bad(token: "SharedAccessSignature sr=a&se=1", reason: "it has no signature (sig)"),
        Bad(token: "SharedAccessSignature sr=a&sig=S3CRET", reason: "it has no expiry (se)"),
        Bad(
            token: "SharedAccessSignature sr=a&sig=S3CRET&se=-5",
            reason: "its expiry (se) '-5' is not a Unix time in seconds"),
        Bad(token: "SharedAccessSignature sr=a&sig=S3CRET&se=1&se=2", reason: "field 'se' appears twice"),
        Bad(token: "SharedAccessSignature sr=a&S3CRET&se=1", reason: "a field has no '=' (expected name=value)"),
    ]

    @Test(arguments: bad)
    func rejectsMalformedTokens(_ bad: Bad) throws {
        let error = try #require(throws: AzureError.self) { try EventHubsSharedAccessSignature(parsing: bad.token) }
        #expect(error.code == .invalidArgument)
        #expect(error.message == "malformed Event Hubs shared access signature: " + bad.reason)
        #expect(!error.description.contains("S3CRET"))
    }

    @Test func parsingIsLenientWhereMicrosoftsIs() throws {
        // Field order does not matter, the scheme word is case-insensitive, `skn` is optional, unknown fields are
        // ignored.
        let parsed = try EventHubsSharedAccessSignature(
            parsing: "sharedaccesssignature se=60&sig=abc&sr=sb%3a%2f%2fns%2Fhub&extra=1")
        #expect(parsed.resource == "sb://ns/hub")
        #expect(parsed.expiresOn == Date(timeIntervalSince1970: 60))
        #expect(parsed.keyName == nil)
    }

    @Test func credentialRejectsEmptyParts() throws {
        let noName = try #require(throws: AzureError.self) { try EventHubsSharedKeyCredential(keyName: "", key: "k") }
        #expect(noName.message == "the shared access key name is empty")
        let noKey = try #require(throws: AzureError.self) { try EventHubsSharedKeyCredential(keyName: "send", key: "") }
        #expect(noKey.message == "the shared access key of policy 'send' is empty")
    }

    static func dumped(_ value: some Any) -> String {
        var text = ""
        dump(value, to: &text)
        return text
    }
}
