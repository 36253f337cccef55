import AzureCore
import AzureMessagingEventHubs
import Foundation
import Testing

/// A secret that every connection string below carries, so each test can check it never comes back out.
private let secretKey = "S3CRET-KEY-a+b/c=="
private let secretSignature = "S3CRET-SIG%2Bxyz%3D"

@Suite("Event Hubs connection strings")
struct ConnectionStringTests {
    struct Good: Sendable, CustomTestStringConvertible {
        var text: String
        var namespace: String
        var port: Int
        var useTLS: Bool
        var eventHub: String?
        var keyName: String?
        var isEmulator: Bool
        var endpoint: String
        var testDescription: String { String(text.prefix(60)) }
    }

    static let good: [Good] = [
        Good(
            text:
                "Endpoint=sb://kumo-ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=\(secretKey);EntityPath=orders",
            namespace: "kumo-ns.servicebus.windows.net", port: 5671, useTLS: true, eventHub: "orders", keyName: "send",
            isEmulator: false, endpoint: "sb://kumo-ns.servicebus.windows.net/"),
        // Keys in any case, whitespace around keys and values, a value containing '=', empty segments, a trailing ';'.
        Good(
            text:
                "  endpoint = sb://kumo-ns.servicebus.windows.net/ ;; SHAREDACCESSKEYNAME=send ;sharedAccessKey= \(secretKey) ;",
            namespace: "kumo-ns.servicebus.windows.net", port: 5671, useTLS: true, eventHub: nil, keyName: "send",
            isEmulator: false, endpoint: "sb://kumo-ns.servicebus.windows.net/"),
        Good(
            text:
                "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=\(secretKey);UseDevelopmentEmulator=true",
            namespace: "127.0.0.1", port: 5672, useTLS: false, eventHub: nil, keyName: "RootManageSharedAccessKey",
            isEmulator: true, endpoint: "sb://127.0.0.1/"),
        Good(
            text:
                "Endpoint=sb://localhost:15672/;SharedAccessKeyName=K;SharedAccessKey=\(secretKey);UseDevelopmentEmulator=TRUE;EntityPath=eh1",
            namespace: "localhost", port: 15672, useTLS: false, eventHub: "eh1", keyName: "K", isEmulator: true,
            endpoint: "sb://localhost:15672/"),
        // The emulator without a port listens on plain AMQP's 5672.
        Good(
            text:
                "Endpoint=sb://localhost;SharedAccessKeyName=K;SharedAccessKey=\(secretKey);UseDevelopmentEmulator=true",
            namespace: "localhost", port: 5672, useTLS: false, eventHub: nil, keyName: "K", isEmulator: true,
            endpoint: "sb://localhost/"),
        // A custom port is kept without the emulator too (as .NET and Python keep it), still over TLS.
        Good(
            text:
                "Endpoint=sb://kumo-ns.servicebus.windows.net:9093/;SharedAccessKeyName=K;SharedAccessKey=\(secretKey);UseDevelopmentEmulator=false",
            namespace: "kumo-ns.servicebus.windows.net", port: 9093, useTLS: true, eventHub: nil, keyName: "K",
            isEmulator: false, endpoint: "sb://kumo-ns.servicebus.windows.net:9093/"),
        // Settings this parser does not use (from other tools) are ignored, as Microsoft's parsers ignore them.
        Good(
            text:
                "Endpoint=SB://Kumo-NS.servicebus.windows.net/;TransportType=Amqp;SharedAccessKeyName=K;SharedAccessKey=\(secretKey)",
            namespace: "Kumo-NS.servicebus.windows.net", port: 5671, useTLS: true, eventHub: nil, keyName: "K",
            isEmulator: false, endpoint: "sb://Kumo-NS.servicebus.windows.net/"),
    ]

    @Test(arguments: good)
    func parses(_ expected: Good) throws {
        let parsed = try EventHubConnectionString(expected.text)
        #expect(parsed.fullyQualifiedNamespace == expected.namespace)
        #expect(parsed.port == expected.port)
        #expect(parsed.useTLS == expected.useTLS)
        #expect(parsed.eventHubName == expected.eventHub)
        #expect(parsed.isDevelopmentEmulator == expected.isEmulator)
        #expect(parsed.endpoint == expected.endpoint)
        let keyName = try #require(expected.keyName)
        #expect(parsed.credential == .sharedKey(try EventHubsSharedKeyCredential(keyName: keyName, key: secretKey)))
        for text in [parsed.description, String(reflecting: parsed), "\(parsed)", Self.dumped(parsed)] {
            #expect(!text.contains("S3CRET"))
            #expect(text.contains("SharedAccessKey=REDACTED") || text.contains("redacted"))
        }
    }

    @Test func sharedAccessSignatureInsteadOfKey() throws {
        let token =
            "SharedAccessSignature sr=sb%3A%2F%2Fkumo-ns.servicebus.windows.net%2Forders&sig=\(secretSignature)&se=1767225600&skn=listen"
        let parsed = try EventHubConnectionString(
            "Endpoint=sb://kumo-ns.servicebus.windows.net/;SharedAccessSignature=\(token);EntityPath=orders")
        guard case .sharedAccessSignature(let signature) = parsed.credential else {
            Issue.record("expected a shared access signature, got \(parsed.credential)")
            return
        }
        #expect(signature.token == token)
        #expect(signature.resource == "sb://kumo-ns.servicebus.windows.net/orders")
        #expect(signature.expiresOn == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(signature.keyName == "listen")
        #expect(
            parsed.description
                == "Endpoint=sb://kumo-ns.servicebus.windows.net/;SharedAccessSignature=REDACTED;EntityPath=orders")
        #expect(!String(reflecting: parsed).contains("S3CRET"))
        #expect(!Self.dumped(parsed).contains("S3CRET"))
    }

    @Test func descriptionOfAKeyString() throws {
        let parsed = try EventHubConnectionString(
            "Endpoint=sb://localhost:5672;SharedAccessKeyName=K;SharedAccessKey=\(secretKey);UseDevelopmentEmulator=true;EntityPath=eh1"
        )
        #expect(
            parsed.description
                == "Endpoint=sb://localhost/;SharedAccessKeyName=K;SharedAccessKey=REDACTED;EntityPath=eh1;UseDevelopmentEmulator=true"
        )
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var text: String
        var message: String
        var testDescription: String { message }
    }

    static let keyPart = "SharedAccessKeyName=K;SharedAccessKey=\(secretKey)"
    static let prefix = "malformed Event Hubs connection string: "

    static let bad: [Bad] = [
        Bad(text: "", message: prefix + "it is empty"),
        Bad(text: " ; ;", message: prefix + "it is empty"),
        Bad(text: keyPart, message: prefix + "it has no Endpoint"),
        Bad(text: "Endpoint=http://x;\(keyPart)", message: prefix + "Endpoint 'http://x' is not an sb:// URL"),
        Bad(
            text: "Endpoint=kumo-ns.servicebus.windows.net;\(keyPart)",
            message: prefix + "Endpoint 'kumo-ns.servicebus.windows.net' is not an sb:// URL"),
        Bad(text: "Endpoint=sb://;\(keyPart)", message: prefix + "Endpoint 'sb://' has no host"),
        Bad(text: "Endpoint=sb://ns:0/;\(keyPart)", message: prefix + "Endpoint port 0 is not between 1 and 65535"),
        Bad(text: "Endpoint=;\(keyPart)", message: prefix + "Endpoint has no value"),
        Bad(text: "Endpoint=sb://a/;endpoint=sb://b/;\(keyPart)", message: prefix + "Endpoint appears twice"),
        Bad(
            text: "Endpoint=sb://ns/;SharedAccessKeyName=K",
            message: prefix + "it has SharedAccessKeyName without SharedAccessKey"),
        Bad(
            text: "Endpoint=sb://ns/;SharedAccessKey=\(secretKey)",
            message: prefix + "it has SharedAccessKey without SharedAccessKeyName"),
        Bad(
            text: "Endpoint=sb://ns/;SharedAccessKeyName=K;SharedAccessKey=",
            message: prefix + "SharedAccessKey has no value"),
        Bad(
            text: "Endpoint=sb://ns/;EntityPath=hub",
            message: prefix + "it has neither SharedAccessKeyName and SharedAccessKey nor SharedAccessSignature"),
        Bad(
            text:
                "Endpoint=sb://ns/;\(keyPart);SharedAccessSignature=SharedAccessSignature sr=a&sig=\(secretSignature)&se=1",
            message: prefix
                + "it has both SharedAccessSignature and SharedAccessKey; give a signature or a key name and key"),
        Bad(
            text: "Endpoint=sb://ns/;SharedAccessSignature=SharedAccessSignature sr=a&sig=\(secretSignature)",
            message: prefix
                + "SharedAccessSignature is malformed (malformed Event Hubs shared access signature: it has no expiry (se))"
        ),
        Bad(
            text: "Endpoint=sb://ns/;SharedAccessSignature=SharedAccessSignature sr=a&sig=\(secretSignature)&se=soon",
            message: prefix + "SharedAccessSignature is malformed (malformed Event Hubs shared access signature: "
                + "its expiry (se) 'soon' is not a Unix time in seconds)"),
        Bad(
            text: "Endpoint=sb://ns/;SharedAccessSignature=sr=a&sig=\(secretSignature)&se=1",
            message: prefix + "SharedAccessSignature is malformed (malformed Event Hubs shared access signature: "
                + "it does not start with 'SharedAccessSignature ')"),
        // A key pasted without its name is not echoed back.
        Bad(
            text: "Endpoint=sb://ns/;SharedAccessKeyName=K;S3CRET-KEY-pasted",
            message: prefix + "segment 3 has no '=' (expected Key=Value)"),
        Bad(
            text: "Endpoint=sb://ns/;\(keyPart);UseDevelopmentEmulator=yes",
            message: prefix + "UseDevelopmentEmulator must be 'true' or 'false', not 'yes'"),
    ]

    @Test(arguments: bad)
    func rejects(_ bad: Bad) throws {
        let error = try #require(throws: AzureError.self) { try EventHubConnectionString(bad.text) }
        #expect(error.code == .invalidArgument)
        #expect(error.message == bad.message)
        #expect(!error.message.contains("S3CRET"))
        #expect(!error.description.contains("S3CRET"))
    }

    @Test func eventHubNameResolution() throws {
        let scoped = try EventHubConnectionString("Endpoint=sb://ns/;\(Self.keyPart);EntityPath=Orders")
        let unscoped = try EventHubConnectionString("Endpoint=sb://ns/;\(Self.keyPart)")
        #expect(try scoped.resolvedEventHubName() == "Orders")
        #expect(try scoped.resolvedEventHubName("orders") == "Orders")
        #expect(try scoped.resolvedEventHubName("") == "Orders")
        #expect(try unscoped.resolvedEventHubName("payments") == "payments")

        let mismatch = try #require(throws: AzureError.self) { try scoped.resolvedEventHubName("payments") }
        #expect(mismatch.code == .invalidArgument)
        #expect(mismatch.message == "the event hub 'payments' differs from the connection string's EntityPath 'Orders'")
        let missing = try #require(throws: AzureError.self) { try unscoped.resolvedEventHubName() }
        #expect(missing.message == "no event hub named: the connection string has no EntityPath and none was given")
    }

    static func dumped(_ value: some Any) -> String {
        var text = ""
        dump(value, to: &text)
        return text
    }
}
