import AzureCore
import AzureEmulator
import AzureIdentity
import AzureMessagingEventHubs
import EmulatorTestSupport
import Foundation
import Synchronization
import Testing

/// Entra ID tokens (audience https://eventhubs.azure.net) put on `$cbs` as `jwt`, from the emulator's own
/// token issuer through AzureIdentity, as a production client with a managed identity or service principal does.
@Suite("Event Hubs with Entra ID tokens", .timeLimit(.minutes(3)))
struct EntraAuthorizationTests {
    /// Counts the tokens a credential hands out, so a test sees CBS renewals.
    final class CountingCredential: TokenCredential {
        let base: any TokenCredential
        private let issued = Mutex(0)
        init(_ base: any TokenCredential) { self.base = base }
        var count: Int { issued.withLock { $0 } }
        func token(for scopes: [String]) async throws -> AccessToken { try await token(for: scopes, tenantID: nil) }
        func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
            #expect(scopes == ["https://eventhubs.azure.net/.default"])
            let token = try await base.token(for: scopes, tenantID: tenantID)
            issued.withLock { $0 += 1 }
            return token
        }
    }

    @Test func entraTokensAuthorizeAndAreRenewedBeforeTheyExpire() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Tokens live 4 s, so the client must renew its CBS token while the test runs.
        let configuration = EmulatorConfiguration(
            blobPort: 0, dataDirectory: directory, tokenLifetime: .seconds(4),
            eventHubs: EventHubsConfiguration(amqpPort: 0, hubs: [EventHubDefinition(name: "orders", partitionCount: 1)]))
        try await withInProcessEmulator(configuration) { endpoints in
            let transport = try AsyncHTTPClientTransport(trustingCertificateAuthorities: [endpoints.caCertificatePath])
            let credential = CountingCredential(try ClientSecretCredential(
                tenantID: endpoints.tenantID, clientID: ServicePrincipal.development.clientID,
                clientSecret: ServicePrincipal.development.clientSecret ?? "",
                options: TokenCredentialOptions(authorityHost: URL(string: endpoints.authorityHost), transport: transport),
                environment: [:]))
            let port = try #require(endpoints.amqpPort)
            let producer = EventHubProducerClient(
                fullyQualifiedNamespace: "127.0.0.1", eventHubName: "orders", credential: credential, port: port, useTLS: false)
            try await producer.send([EventData(string: "with a token")], options: CreateBatchOptions(partitionID: "0"))
            let first = credential.count
            #expect(first >= 1)
            // Past the first token's lifetime the connection is still authorized: the client renewed it.
            try await Task.sleep(for: .seconds(6))
            #expect(credential.count > first)
            try await producer.send([EventData(string: "after renewal")], options: CreateBatchOptions(partitionID: "0"))
            #expect(try await producer.getPartitionProperties(partitionID: "0").lastEnqueuedSequenceNumber == 1)
            await producer.close()
        }
    }
}
