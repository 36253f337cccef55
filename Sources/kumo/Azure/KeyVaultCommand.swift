import ArgumentParser
import AzureCore
import AzureSecurityKeyVault
import Foundation

struct KeyVaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyvault",
        abstract: "Work with Azure Key Vault (or the local emulator's): secrets and keys.",
        discussion: """
            The vault comes from --vault or AZURE_KEYVAULT_URL; the identity from the environment \
            (DefaultAzureCredential: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...); extra trusted CAs \
            (the emulator's) from KUMO_CA_FILE.
            """,
        subcommands: [KeyVaultSecretCommand.self, KeyVaultKeyCommand.self])
}

struct VaultOptions: ParsableArguments {
    @Option(help: "The vault URL (default: $AZURE_KEYVAULT_URL).") var vault: String?
    @Flag(help: "Print JSON instead of text.") var json = false

    func vaultURL() throws -> URL {
        let text = vault ?? ProcessInfo.processInfo.environment["AZURE_KEYVAULT_URL"] ?? ""
        guard !text.isEmpty else { throw ValidationError("no vault: pass --vault or set AZURE_KEYVAULT_URL") }
        guard let url = URL(string: text), url.scheme == "https" else {
            throw ValidationError("the vault URL must be https://<vault>, not '\(text)'")
        }
        return url
    }

    func secrets() throws -> SecretClient {
        try SecretClient(vaultURL: try vaultURL(), credential: AzureAccess.credential, transport: AzureAccess.transport)
    }

    func keys() throws -> KeyClient {
        try KeyClient(vaultURL: try vaultURL(), credential: AzureAccess.credential, transport: AzureAccess.transport)
    }
}

struct KeyVaultSecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Set, get, list, delete and recover secrets.")

    enum Action: String, ExpressibleByArgument, CaseIterable { case set, get, list, versions, delete, recover }

    @OptionGroup var vault: VaultOptions
    @Argument(help: "set, get, list, versions, delete or recover.") var action: Action
    @Argument(help: "The secret's name.") var name: String?
    @Option(help: "The value for 'set' (default: read from standard input, so it stays out of shell history).")
    var value: String?
    @Option(help: "The version for 'get' (default: the latest).") var version: String?

    func validate() throws {
        if action != .list && (name ?? "").isEmpty { throw ValidationError("'\(action.rawValue)' needs a secret name") }
    }

    func run() async throws {
        let client = try vault.secrets()
        switch action {
        case .set:
            let secretValue = value ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .newlines)
            let secret = try await client.setSecret(name: name!, value: secretValue)
            print(vault.json ? try jsonLine(["id": secret.properties.id?.absoluteString ?? ""]) : "set \(secret.properties.id?.absoluteString ?? name!)")
        case .get:
            let secret = try await client.getSecret(name: name!, version: version)
            print(secret.value)
        case .list, .versions:
            let pages = action == .list ? client.listPropertiesOfSecrets() : client.listPropertiesOfSecretVersions(name: name!)
            var rows: [[String: String]] = []
            for try await properties in pages {
                rows.append(["name": properties.name, "version": properties.version ?? "", "id": properties.id?.absoluteString ?? ""])
            }
            if vault.json { try printJSON(rows) } else { rows.forEach { print(action == .list ? $0["name"]! : $0["id"]!) } }
        case .delete:
            let deleted = try await client.deleteSecret(name: name!)
            print(vault.json ? try jsonLine(["deleted": name!]) : "deleted \(name!) (recoverable until \(deleted.scheduledPurgeDate.map { "\($0)" } ?? "purged"))")
        case .recover:
            let recovered = try await client.recoverDeletedSecret(name: name!)
            print(vault.json ? try jsonLine(["recovered": recovered.name]) : "recovered \(recovered.name)")
        }
    }
}

struct KeyVaultKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Create, show, list, rotate, delete and recover keys (key material stays in the vault).")

    enum Action: String, ExpressibleByArgument, CaseIterable { case create, get, list, versions, rotate, delete, recover }
    enum KeyKind: String, ExpressibleByArgument, CaseIterable { case rsa = "RSA", oct }

    @OptionGroup var vault: VaultOptions
    @Argument(help: "create, get, list, versions, rotate, delete or recover.") var action: Action
    @Argument(help: "The key's name.") var name: String?
    @Option(help: "The key type for 'create': RSA or oct (AES; Managed HSM in Azure).") var type: KeyKind = .rsa
    @Option(help: "The key size in bits for 'create' (RSA: 2048, 3072, 4096; oct: 128, 192, 256).") var size: Int?

    func validate() throws {
        if action != .list && (name ?? "").isEmpty { throw ValidationError("'\(action.rawValue)' needs a key name") }
    }

    func run() async throws {
        let client = try vault.keys()
        switch action {
        case .create:
            let key = type == .rsa
                ? try await client.createRSAKey(name: name!, size: size ?? 3072)
                : try await client.createOctKey(name: name!, size: size ?? 256)
            print(vault.json ? try jsonLine(["id": (key.id?.absoluteString ?? name!), "type": key.keyType.rawValue]) : "created \((key.id?.absoluteString ?? name!)) (\(key.keyType.rawValue))")
        case .get, .rotate:
            let key = action == .get ? try await client.getKey(name: name!) : try await client.rotateKey(name: name!)
            print(vault.json ? try jsonLine(["id": (key.id?.absoluteString ?? name!), "type": key.keyType.rawValue]) : "\((key.id?.absoluteString ?? name!)) (\(key.keyType.rawValue))")
        case .list, .versions:
            let pages = action == .list ? client.listPropertiesOfKeys() : client.listPropertiesOfKeyVersions(name: name!)
            var rows: [[String: String]] = []
            for try await properties in pages {
                rows.append(["name": properties.name, "id": properties.id?.absoluteString ?? ""])
            }
            if vault.json { try printJSON(rows) } else { rows.forEach { print(action == .list ? $0["name"]! : $0["id"]!) } }
        case .delete:
            _ = try await client.deleteKey(name: name!)
            print(vault.json ? try jsonLine(["deleted": name!]) : "deleted \(name!) (recoverable)")
        case .recover:
            let recovered = try await client.recoverDeletedKey(name: name!)
            print(vault.json ? try jsonLine(["recovered": recovered.name]) : "recovered \(recovered.name)")
        }
    }
}

private func jsonLine(_ object: [String: String]) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}
