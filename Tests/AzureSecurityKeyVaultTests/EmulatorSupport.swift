import AzureCore
import AzureEmulator
import AzureIdentity
import AzureSecurityKeyVault
import Foundation

final class TemporaryDirectory: Sendable {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kumo-vault-\(UUID().uuidString.prefix(12))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// What a Key Vault test gets: the emulator's endpoints, a transport trusting its CA, and a credential for the
/// development service principal.
struct VaultFixture: Sendable {
    let endpoints: EmulatorEndpoints
    let transport: AsyncHTTPClientTransport
    let credential: ClientSecretCredential
    var vaultURL: URL { URL(string: endpoints.keyVaultURL)! }

    var options: ClientOptions {
        var options = ClientOptions()
        options.retry = .noRetry
        return options
    }

    func secretClient() throws -> SecretClient {
        try SecretClient(vaultURL: vaultURL, credential: credential, options: options, transport: transport)
    }

    func keyClient() throws -> KeyClient {
        try KeyClient(vaultURL: vaultURL, credential: credential, options: options, transport: transport)
    }

    func cryptographyClient(_ keyID: URL) throws -> CryptographyClient {
        try CryptographyClient(keyID: keyID, credential: credential, options: options, transport: transport)
    }
}

/// Runs the emulator in this process on free ports for the duration of `body`.
func withVault<T: Sendable>(_ body: @Sendable (VaultFixture) async throws -> T) async throws -> T {
    let directory = TemporaryDirectory()
    let (stream, continuation) = AsyncStream<EmulatorEndpoints>.makeStream()
    let configuration = EmulatorConfiguration(blobPort: 0, dataDirectory: directory.path)
    let server = Task {
        // A run that fails before listening ends the stream, so the wait below cannot hang.
        defer { continuation.finish() }
        try await BlobEmulator(configuration: configuration).run { (endpoints: EmulatorEndpoints) in
            continuation.yield(endpoints)
        }
    }
    // Waiting for the emulator to stop (its RocksDB store closed) keeps the test process from exiting under it.
    func stopServer() async {
        server.cancel()
        _ = await server.result
    }
    var iterator = stream.makeAsyncIterator()
    guard let endpoints = await iterator.next() else {
        await stopServer()
        throw AzureError(.transport, "the emulator did not start")
    }
    let outcome: Result<T, any Error>
    do {
        let transport = try AsyncHTTPClientTransport(trustingCertificateAuthorities: [endpoints.caCertificatePath])
        var options = TokenCredentialOptions(authorityHost: URL(string: endpoints.authorityHost)!, transport: transport)
        options.retry = .noRetry
        let credential = try ClientSecretCredential(
            tenantID: endpoints.tenantID, clientID: "kumo-dev", clientSecret: "kumo-dev-secret", options: options,
            environment: [:])
        outcome = .success(try await body(VaultFixture(endpoints: endpoints, transport: transport, credential: credential)))
    } catch {
        outcome = .failure(error)
    }
    await stopServer()
    return try outcome.get()
}

func collect<T>(_ results: PagedResults<T>) async throws -> [T] {
    var items: [T] = []
    for try await item in results { items.append(item) }
    return items
}
