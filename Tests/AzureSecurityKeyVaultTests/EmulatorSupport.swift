import AzureCore
import AzureEmulator
import AzureIdentity
import AzureSecurityKeyVault
import EmulatorTestSupport
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
    return try await withInProcessEmulator(EmulatorConfiguration(blobPort: 0, dataDirectory: directory.path)) { endpoints in
        let transport = try AsyncHTTPClientTransport(trustingCertificateAuthorities: [endpoints.caCertificatePath])
        var options = TokenCredentialOptions(authorityHost: URL(string: endpoints.authorityHost)!, transport: transport)
        options.retry = .noRetry
        let credential = try ClientSecretCredential(
            tenantID: endpoints.tenantID, clientID: "kumo-dev", clientSecret: "kumo-dev-secret", options: options,
            environment: [:])
        return try await body(VaultFixture(endpoints: endpoints, transport: transport, credential: credential))
    }
}

func collect<T>(_ results: PagedResults<T>) async throws -> [T] {
    var items: [T] = []
    for try await item in results { items.append(item) }
    return items
}
