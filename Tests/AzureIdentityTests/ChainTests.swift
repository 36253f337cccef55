import AzureCore
import Foundation
import NIOCore
import Testing

@testable import AzureIdentity

/// Nothing listens on port 1 of the loopback address, so IMDS probes there fail at once. Every test injects
/// its environment, so nothing is ever sent to 169.254.169.254.
let closedIMDS = "http://127.0.0.1:1"

@Suite struct ManagedIdentityCredentialTests {
    @Test func appServiceRequestCarriesTheIdentityHeaderAndResource() async throws {
        let transport = RecordingTransport { _ in (200, #"{"access_token":"mi","expires_on":"1900000000","resource":"r"}"#) }
        let credential = ManagedIdentityCredential(
            clientID: "user-assigned", options: options(transport),
            environment: ["IDENTITY_ENDPOINT": "http://127.0.0.1:9/msi/token", "IDENTITY_HEADER": "header-secret"])
        let token = try await credential.token(for: ["https://vault.azure.net/.default"])
        #expect(token.token == "mi")
        #expect(token.expiresOn == Date(timeIntervalSince1970: 1_900_000_000))
        let request = try #require(transport.requests.first)
        #expect(request.method == .get)
        #expect(request.url.string
            == "http://127.0.0.1:9/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net&client_id=user-assigned")
        #expect(request.headers["X-IDENTITY-HEADER"] == "header-secret")
        #expect(!String(describing: credential).contains("header-secret"))
    }

    @Test func imdsRequestGoesToTheConfiguredAuthorityWithMetadataHeader() async throws {
        let transport = RecordingTransport { _ in (200, #"{"access_token":"mi","expires_in":"86399"}"#) }
        let credential = ManagedIdentityCredential(
            options: options(transport), environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:9/"])
        _ = try await credential.token(for: ["https://storage.azure.com/.default"])
        let request = try #require(transport.requests.first)
        #expect(request.url.string
            == "http://127.0.0.1:9/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com")
        #expect(request.headers["Metadata"] == "true")
    }

    @Test func imdsWithoutAnIdentityIsUnavailable() async throws {
        let transport = RecordingTransport { _ in
            (400, #"{"error":"invalid_request","error_description":"Identity not found"}"#)
        }
        let credential = ManagedIdentityCredential(
            options: options(transport), environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:9"])
        let error = await #expect(throws: AzureError.self) { try await credential.token(for: ["s/.default"]) }
        #expect(error?.code == .credentialUnavailable)
        #expect(error?.message.contains("Identity not found") == true)
    }

    @Test func needsExactlyOneScope() async {
        let credential = ManagedIdentityCredential(
            options: options(RecordingTransport { _ in (500, "") }),
            environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": closedIMDS])
        await #expect(throws: AzureError.self) { try await credential.token(for: ["a", "b"]) }
    }
}

@Suite struct WorkloadIdentityCredentialTests {
    @Test func readsTheTokenFileOnEveryRequest() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-federated-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "federated-1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let transport = RecordingTransport.entra { _ in (200, #"{"access_token":"tok","expires_in":3600}"#) }
        let credential = try WorkloadIdentityCredential(
            options: options(transport),
            environment: ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": path])
        _ = try await credential.token(for: ["a/.default"])
        try "federated-2".write(toFile: path, atomically: true, encoding: .utf8)
        _ = try await credential.token(for: ["b/.default"])
        let assertions = transport.requests.filter { $0.method == .post }.map {
            formFields(String(buffer: $0.body!))["client_assertion"]
        }
        #expect(assertions == ["federated-1", "federated-2"])
    }

    @Test func missingVariablesAreNamed() {
        let error = #expect(throws: AzureError.self) {
            try WorkloadIdentityCredential(environment: ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"])
        }
        #expect(error?.code == .credentialUnavailable)
        #expect(error?.message == "WorkloadIdentityCredential: AZURE_FEDERATED_TOKEN_FILE is not set")
    }
}

@Suite struct DefaultAzureCredentialTests {
    @Test func reportsEveryLinkWhenNothingIsConfigured() async throws {
        let credential = DefaultAzureCredential(
            options: options(AsyncHTTPClientTransport()),
            environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": closedIMDS, "PATH": ""])
        let error = await #expect(throws: AzureError.self) {
            try await credential.token(for: ["https://storage.azure.com/.default"])
        }
        #expect(error?.code == .credentialUnavailable)
        let message = try #require(error?.message)
        #expect(message.hasPrefix("DefaultAzureCredential failed to get a token: EnvironmentCredential: AZURE_TENANT_ID is not set; WorkloadIdentityCredential: AZURE_TENANT_ID is not set; ManagedIdentityCredential: no managed identity endpoint answered at http://127.0.0.1:1"))
    }

    @Test func environmentWithoutSecretOrCertificateSaysSo() async {
        let credential = EnvironmentCredential(environment: ["AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"])
        let error = await #expect(throws: AzureError.self) { try await credential.token(for: ["s/.default"]) }
        #expect(error?.message == "EnvironmentCredential: neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set")
    }

    @Test func aConfiguredCredentialThatFailsStopsTheChain() async throws {
        let transport = RecordingTransport.entra { _ in
            (400, #"{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'c' was not found in the directory 't'."}"#)
        }
        let environment = [
            "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "do-not-print",
            "AZURE_AUTHORITY_HOST": "https://login.example.test", "AZURE_POD_IDENTITY_AUTHORITY_HOST": closedIMDS,
            "PATH": "",
        ]
        var options = TokenCredentialOptions(transport: transport)
        options.retry = .noRetry
        let credential = DefaultAzureCredential(options: options, environment: environment)
        let error = await #expect(throws: AzureError.self) { try await credential.token(for: ["s/.default"]) }
        #expect(error?.code == .authentication)
        #expect(error?.message.contains("ClientSecretCredential authentication failed: AADSTS700016") == true)
        #expect(error?.message.contains("do-not-print") == false)
        // Managed identity was never tried.
        #expect(transport.requests.allSatisfy { $0.url.origin == "https://login.example.test" })
    }

    @Test func remembersTheFirstCredentialThatWorked() async throws {
        let transport = RecordingTransport { request in
            request.url.encodedPath.contains("/metadata/identity")
                ? (200, #"{"access_token":"from-imds","expires_in":3600}"#) : (500, "")
        }
        let credential = DefaultAzureCredential(
            options: options(transport),
            environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:9", "PATH": ""])
        #expect(try await credential.token(for: ["a/.default"]).token == "from-imds")
        #expect(try await credential.token(for: ["b/.default"]).token == "from-imds")
        #expect(credential.chain.selectedIndex == 2)
    }

    @Test func chainedCredentialTriesInOrder() async throws {
        let chain = ChainedTokenCredential(sources: [
            UnavailableCredential(error: AzureError(.credentialUnavailable, "First: not here")),
            StaticTokenCredential(token: "second"),
        ])
        #expect(try await chain.token(for: ["s"]).token == "second")
    }
}

@Suite struct TrustedTransportTests {
    @Test func unreadableCAFileIsNamed() {
        let error = #expect(throws: AzureError.self) {
            try AsyncHTTPClientTransport(trustingCertificateAuthorities: ["/nonexistent/ca.pem"])
        }
        #expect(error?.message.contains("/nonexistent/ca.pem") == true)
        #expect(throws: AzureError.self) { try AsyncHTTPClientTransport.fromEnvironment(["KUMO_CA_FILE": "/nonexistent/ca.pem"]) }
        #expect(throws: Never.self) { try AsyncHTTPClientTransport.fromEnvironment([:]) }
    }
}

@Suite struct BearerTokenPolicyTests {
    @Test(arguments: ["https://acct.blob.core.windows.net", "http://127.0.0.1:10000", "http://localhost:8080", "https://127.0.0.1:1"])
    func sendsTokensOverHTTPSOrToLoopback(_ origin: String) throws {
        try BearerTokenPolicy.requireSecureTransport(RequestURL(origin: origin, encodedPath: "/"))
    }

    @Test(arguments: ["http://acct.blob.core.windows.net", "http://127.0.0.1.example.com", "http://localhost.evil.test:80"])
    func refusesPlainHTTPElsewhere(_ origin: String) {
        let error = #expect(throws: AzureError.self) {
            try BearerTokenPolicy.requireSecureTransport(RequestURL(origin: origin, encodedPath: "/"))
        }
        #expect(error?.code == .authentication)
    }
}

/// `az` stand-ins on a private PATH: the real CLI is not installed here, and the credential's part is running
/// it with the right arguments and reading its JSON or its complaint.
@Suite struct AzureCLICredentialTests {
    static func fakeAz(_ script: String) throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        let path = directory.path + "/az"
        try ("#!/bin/sh\n" + script + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return directory
    }

    @Test func readsTheTokenTheCLIPrints() async throws {
        let bin = try Self.fakeAz(#"""
        [ "$1 $2 $3 $4 $5 $6" = "account get-access-token --scope https://vault.azure.net/.default --output json" ] || { echo "bad arguments: $*" >&2; exit 2; }
        echo '{"accessToken":"cli-token","expiresOn":"2030-01-01 00:00:00.000000","expires_on":1900000000,"tenant":"t","tokenType":"Bearer"}'
        """#)
        let credential = AzureCLICredential(environment: ["PATH": bin.path])
        let token = try await credential.token(for: ["https://vault.azure.net/.default"])
        #expect(token.token == "cli-token")
        #expect(token.expiresOn == Date(timeIntervalSince1970: 1_900_000_000))
    }

    @Test func notLoggedInIsUnavailable() async throws {
        let bin = try Self.fakeAz(#"echo "ERROR: Please run 'az login' to setup account." >&2; exit 1"#)
        let credential = AzureCLICredential(environment: ["PATH": bin.path])
        let error = await #expect(throws: AzureError.self) { try await credential.token(for: ["s/.default"]) }
        #expect(error?.code == .credentialUnavailable)
        #expect(error?.message == "AzureCLICredential: not logged in, run 'az login'")
    }

    @Test func defaultAzureCredentialFallsBackToTheCLI() async throws {
        let bin = try Self.fakeAz(#"echo '{"accessToken":"from-cli","expires_on":"1900000000"}'"#)
        let credential = DefaultAzureCredential(
            options: options(AsyncHTTPClientTransport()),
            environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": closedIMDS, "PATH": bin.path])
        #expect(try await credential.token(for: ["s/.default"]).token == "from-cli")
        #expect(credential.chain.selectedIndex == 3)
    }
}
