@testable import AzureCore
import AzureEmulator
import AzureStorageBlobs
import Crypto
import Foundation
import NIOCore
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import AzureIdentity

/// Credentials against the emulator's Entra ID token issuer and managed identity endpoints, over real sockets
/// and its https listener; tokens are then used on the emulator's Blob service.
@Suite struct EmulatorIdentityTests {
    static let storageScope = ["https://storage.azure.com/.default"]

    /// A Blob round trip with `credential` over https: proves the token is accepted, not just issued.
    static func useOnBlob(_ credential: any TokenCredential, _ endpoints: EmulatorEndpoints,
                          _ transport: any HTTPTransport) async throws {
        var options = ClientOptions()
        options.retry = .noRetry
        let service = try BlobServiceClient(
            endpoint: URL(string: endpoints.blobHTTPSEndpoint())!, credential: .token(credential), options: options,
            transport: transport)
        let container = service.containerClient("c\(UUID().uuidString.prefix(8).lowercased())")
        try await container.create()
        try await container.blobClient("hello.txt").upload(Array("hi".utf8))
        var names: [String] = []
        for try await item in container.listBlobs() { names.append(item.name) }
        #expect(names == ["hello.txt"])
    }

    @Test func clientSecretCredentialGetsATokenTheBlobServiceAccepts() async throws {
        try await withEmulator { endpoints, transport in
            let credential = try ClientSecretCredential(
                tenantID: endpoints.tenantID, clientID: "kumo-dev", clientSecret: "kumo-dev-secret",
                options: emulatorOptions(endpoints, transport: transport), environment: [:])
            let token = try await credential.token(for: Self.storageScope)
            #expect(token.token.split(separator: ".").count == 3)
            #expect(token.expiresOn.timeIntervalSinceNow > 3000)
            try await Self.useOnBlob(credential, endpoints, transport)
        }
    }

    @Test func wrongSecretIsReportedWithEntrasReason() async throws {
        try await withEmulator { endpoints, transport in
            let credential = try ClientSecretCredential(
                tenantID: endpoints.tenantID, clientID: "kumo-dev", clientSecret: "not-the-secret",
                options: emulatorOptions(endpoints, transport: transport), environment: [:])
            let error = await #expect(throws: AzureError.self) { try await credential.token(for: Self.storageScope) }
            let text = String(describing: try #require(error))
            #expect(error?.code == .authentication)
            #expect(error?.errorCode == "invalid_client")
            #expect(text.contains("ClientSecretCredential authentication failed: AADSTS7000215"))
            #expect(!text.contains("not-the-secret"))

            let unknownTenant = try ClientSecretCredential(
                tenantID: "no-such-tenant", clientID: "kumo-dev", clientSecret: "kumo-dev-secret",
                options: emulatorOptions(endpoints, transport: transport), environment: [:])
            let tenantError = await #expect(throws: AzureError.self) { try await unknownTenant.token(for: Self.storageScope) }
            #expect(tenantError?.message.contains("ClientSecretCredential") == true)
        }
    }

    static func selfSignedCertificate(_ key: _RSA.Signing.PrivateKey) throws -> String {
        let name = try DistinguishedName { CommonName("kumo-test-client") }
        let privateKey = Certificate.PrivateKey(key)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: privateKey.publicKey,
            notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
            issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: Certificate.Extensions(), issuerPrivateKey: privateKey)
        return try certificate.serializeAsPEM().pemString
    }

    @Test(arguments: [ClientCertificateCredential.SignatureAlgorithm.rs256, .ps256])
    func clientCertificateCredentialSignsAnAssertionTheIssuerAccepts(
        algorithm: ClientCertificateCredential.SignatureAlgorithm
    ) async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let certificatePEM = try Self.selfSignedCertificate(key)
        let directory = TemporaryDirectory()
        let path = directory.path + "/client.pem"
        try (certificatePEM + "\n" + key.pemRepresentation).write(toFile: path, atomically: true, encoding: .utf8)
        try await withEmulator(configure: {
            $0.servicePrincipals.append(ServicePrincipal(clientID: "cert-app", certificatePEM: certificatePEM))
        }) { endpoints, transport in
            let credential = try ClientCertificateCredential(
                tenantID: endpoints.tenantID, clientID: "cert-app", certificatePath: path, signatureAlgorithm: algorithm,
                options: emulatorOptions(endpoints, transport: transport), environment: [:])
            try await Self.useOnBlob(credential, endpoints, transport)

            // A key the emulator does not know, under the same certificate thumbprint, is refused.
            let otherKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let forged = directory.path + "/forged.pem"
            try (certificatePEM + "\n" + otherKey.pkcs8PEMRepresentation).write(toFile: forged, atomically: true, encoding: .utf8)
            let impostor = try ClientCertificateCredential(
                tenantID: endpoints.tenantID, clientID: "cert-app", certificatePath: forged,
                options: emulatorOptions(endpoints, transport: transport), environment: [:])
            let error = await #expect(throws: AzureError.self) { try await impostor.token(for: Self.storageScope) }
            #expect(error?.message.contains("ClientCertificateCredential authentication failed: AADSTS700027") == true)
        }
    }

    @Test func workloadIdentityExchangesTheFederatedToken() async throws {
        let directory = TemporaryDirectory()
        try await withEmulator(configure: {
            $0.servicePrincipals.append(ServicePrincipal(clientID: "aks-app", federatedSubject: "system:serviceaccount:kumo:backup"))
        }) { endpoints, transport in
            // The emulator mints the federated token AKS would project into the pod.
            var url = try RequestURL(URL(string: "\(endpoints.authority)/federated-token")!)
            url.setQuery("sub", "system:serviceaccount:kumo:backup")
            let response = try await transport.send(AzureHTTPRequest(method: .post, url: url), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            let federated = try #require(
                (try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])?["access_token"] as? String)
            let tokenFile = directory.path + "/azure-identity-token"
            try federated.write(toFile: tokenFile, atomically: true, encoding: .utf8)

            let credential = try WorkloadIdentityCredential(
                options: emulatorOptions(endpoints, transport: transport),
                environment: [
                    "AZURE_TENANT_ID": endpoints.tenantID, "AZURE_CLIENT_ID": "aks-app",
                    "AZURE_FEDERATED_TOKEN_FILE": tokenFile,
                ])
            try await Self.useOnBlob(credential, endpoints, transport)
        }
    }

    @Test func managedIdentityThroughAppServiceAndIMDS() async throws {
        try await withEmulator { endpoints, transport in
            let appService = ManagedIdentityCredential(
                options: emulatorOptions(endpoints, transport: transport),
                environment: ["IDENTITY_ENDPOINT": endpoints.appServiceIdentityEndpoint,
                              "IDENTITY_HEADER": endpoints.identityHeader])
            try await Self.useOnBlob(appService, endpoints, transport)

            let imds = ManagedIdentityCredential(
                clientID: endpoints.managedIdentityClientID, options: emulatorOptions(endpoints, transport: transport),
                environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": endpoints.imdsEndpoint])
            try await Self.useOnBlob(imds, endpoints, transport)

            let wrongHeader = ManagedIdentityCredential(
                options: emulatorOptions(endpoints, transport: transport),
                environment: ["IDENTITY_ENDPOINT": endpoints.appServiceIdentityEndpoint, "IDENTITY_HEADER": "wrong"])
            let error = await #expect(throws: AzureError.self) { try await wrongHeader.token(for: Self.storageScope) }
            #expect(error?.statusCode == 401)
            #expect(error?.message.contains("ManagedIdentityCredential") == true)
            #expect(error?.message.contains("wrong") == false)

            let wrongIdentity = ManagedIdentityCredential(
                clientID: "someone-else", options: emulatorOptions(endpoints, transport: transport),
                environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": endpoints.imdsEndpoint])
            let unavailable = await #expect(throws: AzureError.self) { try await wrongIdentity.token(for: Self.storageScope) }
            #expect(unavailable?.code == .credentialUnavailable)
        }
    }

    @Test func defaultAzureCredentialPicksTheConfiguredLink() async throws {
        try await withEmulator { endpoints, transport in
            let fromEnvironment = DefaultAzureCredential(
                options: TokenCredentialOptions(transport: transport),
                environment: [
                    "AZURE_TENANT_ID": endpoints.tenantID, "AZURE_CLIENT_ID": "kumo-dev",
                    "AZURE_CLIENT_SECRET": "kumo-dev-secret", "AZURE_AUTHORITY_HOST": endpoints.authorityHost,
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST": closedIMDS, "PATH": "",
                ])
            try await Self.useOnBlob(fromEnvironment, endpoints, transport)
            #expect(fromEnvironment.chain.selectedIndex == 0)

            let onAVM = DefaultAzureCredential(
                options: TokenCredentialOptions(transport: transport),
                environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": endpoints.imdsEndpoint, "PATH": ""])
            try await Self.useOnBlob(onAVM, endpoints, transport)
            #expect(onAVM.chain.selectedIndex == 2)
        }
    }

    /// 16 concurrent requests through one credential against the real issuer.
    static func burst(_ container: BlobContainerClient, _ credential: ClientSecretCredential, round: Int) async throws -> Set<String> {
        try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<16 {
                group.addTask {
                    try await container.blobClient("r\(round)-b\(index)").upload(Array("x".utf8))
                    return try await credential.token(for: Self.storageScope).token
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
    }

    static func refreshFixture(
        _ endpoints: EmulatorEndpoints, _ transport: AsyncHTTPClientTransport
    ) async throws -> (CountingTransport, ClientSecretCredential, BlobContainerClient) {
        let counting = CountingTransport(transport)
        let credential = try ClientSecretCredential(
            tenantID: endpoints.tenantID, clientID: "kumo-dev", clientSecret: "kumo-dev-secret",
            options: emulatorOptions(endpoints, transport: counting), environment: [:])
        var options = ClientOptions()
        options.retry = .noRetry
        let service = try BlobServiceClient(
            endpoint: URL(string: endpoints.blobHTTPSEndpoint())!, credential: .token(credential), options: options,
            transport: transport)
        let container = service.containerClient("refresh")
        try await container.create()
        return (counting, credential, container)
    }

    @Test func concurrentCallersShareOneTokenRequest() async throws {
        // Hour-long tokens: however slow the machine, no refresh point is reached during the test.
        try await withEmulator { endpoints, transport in
            let (counting, credential, container) = try await Self.refreshFixture(endpoints, transport)
            let first = try await Self.burst(container, credential, round: 0)
            #expect(first.count == 1)
            #expect(counting.count(pathSuffix: "/oauth2/v2.0/token") == 1)
            let second = try await Self.burst(container, credential, round: 1)
            #expect(second == first, "a valid token is reused")
            #expect(counting.count(pathSuffix: "/oauth2/v2.0/token") == 1)
            #expect(counting.count(pathSuffix: "/openid-configuration") == 1)
        }
    }

    @Test func expiredTokensAreReplacedAndRequestsKeepSucceeding() async throws {
        // Six-second tokens (a token is refreshed at half its life, so each is used for at most three seconds,
        // time enough for a burst on a loaded machine): after a pause past expiry the cached token is never sent;
        // a new one is fetched.
        // How many refreshes happen during a burst depends on the machine's speed, so only the lower bound and
        // the change of token are checked (the cache's exact refresh rules are tested with a hand-moved clock).
        try await withEmulator(configure: { $0.tokenLifetime = .seconds(6) }) { endpoints, transport in
            let (counting, credential, container) = try await Self.refreshFixture(endpoints, transport)
            let first = try await Self.burst(container, credential, round: 0)
            let fetchedBefore = counting.count(pathSuffix: "/oauth2/v2.0/token")
            #expect(fetchedBefore >= 1)
            try await Task.sleep(for: .seconds(7))
            let later = try await Self.burst(container, credential, round: 1)
            #expect(later.isDisjoint(with: first), "no expired token is handed out")
            #expect(counting.count(pathSuffix: "/oauth2/v2.0/token") > fetchedBefore)
            #expect(counting.count(pathSuffix: "/openid-configuration") == 1)
        }
    }
}

@Suite struct PrivateCATests {
    @Test func kumoCAFileTrustsTheEmulatorsCAAndOnlyThen() async throws {
        try await withEmulator { endpoints, _ in
            let discovery = AzureHTTPRequest(
                method: .get,
                url: try RequestURL(URL(string: "\(endpoints.authority)/v2.0/.well-known/openid-configuration")!))
            let trusting = try AsyncHTTPClientTransport.fromEnvironment(["KUMO_CA_FILE": endpoints.caCertificatePath])
            #expect(try await trusting.send(discovery, timeout: .seconds(10)).statusCode == 200)
            // The same CA set shares one HTTP client.
            let again = try AsyncHTTPClientTransport(trustingCertificateAuthorities: [endpoints.caCertificatePath])
            #expect(again.client === trusting.client)

            let systemRootsOnly = try AsyncHTTPClientTransport.fromEnvironment([:])
            let error = await #expect(throws: AzureError.self) { try await systemRootsOnly.send(discovery, timeout: .seconds(10)) }
            #expect(error?.code == .transport)
        }
    }
}
