import ArgumentParser
import AzureCore
import AzureIdentity
import AzureSecurityKeyVault
import Foundation

/// How the CLI reaches Azure beyond Shared Key: Entra ID tokens from the environment (DefaultAzureCredential:
/// AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, workload or managed
/// identity) and, for private endpoints such as the emulator's, extra trusted CAs from KUMO_CA_FILE.
enum AzureAccess {
    static let transport: any HTTPTransport = {
        do {
            return try AsyncHTTPClientTransport.fromEnvironment()
        } catch {
            // A CA file that cannot be read (or a timeout that does not parse) must stop the command, not quietly
            // fall back to the system roots or a default; the error names its variable.
            // The library's message ends with the default it would fall back to; the command does not fall back.
            let message = ((error as? AzureError)?.message ?? String(describing: error)).replacingOccurrences(
                of: #"; using [0-9.]+ s$"#, with: "", options: .regularExpression)
            FileHandleOutput.writeToStandardError("Error: \(message)\n")
            exit(ExitStatus.usage.rawValue)
        }
    }()

    static let credential: any TokenCredential = {
        var options = TokenCredentialOptions()
        options.transport = transport
        return DefaultAzureCredential(options: options)
    }()

    /// A connection string from its option, else a Key Vault secret named by another option, else an environment
    /// variable; `missing` says what to do when none is given.
    static func connectionString(
        _ value: String?, secret: String?, secretOption: String = "--connection-string-secret", environmentVariable: String,
        missing: String
    ) async throws -> String {
        if let value { return value }
        if let secret { return try await Self.secret(at: secret, option: secretOption) }
        if let fromEnvironment = ProcessInfo.processInfo.environment[environmentVariable], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        throw ValidationError(missing)
    }

    /// Reads a secret named by its Key Vault URL (`https://<vault>/secrets/<name>[/<version>]`).
    static func secret(at reference: String, option: String) async throws -> String {
        guard let url = URL(string: reference), url.scheme == "https", let identifier = try? KeyVaultSecretIdentifier(url) else {
            throw ValidationError("\(option) must be a Key Vault secret URL (https://<vault>/secrets/<name>[/<version>]), not '\(reference)'")
        }
        let client = try SecretClient(vaultURL: identifier.vaultURL, credential: credential, transport: transport)
        do {
            return try await client.getSecret(name: identifier.name, version: identifier.version).value
        } catch {
            throw AzureAccessFailure(message: "cannot read the secret \(reference) (\(option)): \(Redaction.redact(String(describing: error)))")
        }
    }
}

/// A failure reaching Azure on the command's behalf (not a usage mistake, so no usage text follows it).
struct AzureAccessFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
