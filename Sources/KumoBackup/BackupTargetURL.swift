import AzureCore
import AzureStorageBlobs
import Foundation
import KumoKV

/// Opens a backup target from a URL:
/// - `file:///var/backups/kumo` (or a plain path): a local directory;
/// - `azure://<container>/<prefix>`: the account from `AZURE_STORAGE_CONNECTION_STRING`;
/// - `https://<account>.blob.core.windows.net/<container>/<prefix>[?<SAS>]` (or the emulator's
///   `http://127.0.0.1:10000/devstoreaccount1/<container>/<prefix>`): a SAS in the URL, or else the key from
///   `AZURE_STORAGE_CONNECTION_STRING` when it names the same account, or else an Entra ID token from
///   `tokenCredential` (https only, as Azure requires for bearer tokens).
///
/// `connectionString`, when given (for example read from a Key Vault secret), takes the place of
/// `AZURE_STORAGE_CONNECTION_STRING`. A local directory is created only with `createIfMissing` (commands that
/// write a backup); a command that only reads refuses a directory that does not exist rather than making one.
public enum BackupTargets {
    public static func open(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            createIfMissing: Bool = true,
                            connectionString: String? = nil, tokenCredential: (any TokenCredential)? = nil,
                            clientOptions: ClientOptions = ClientOptions(),
                            transport: any HTTPTransport = AsyncHTTPClientTransport()) throws -> any BackupTarget {
        let connection = connectionString ?? environment["AZURE_STORAGE_CONNECTION_STRING"]
        if url.hasPrefix("file://") {
            var path = String(url.dropFirst("file://".count))
            if path.hasPrefix("localhost/") { path.removeFirst("localhost".count) }
            guard path.hasPrefix("/") else {
                // file://backups/x would name host "backups"; reading it as a relative path would surprise someone.
                throw BackupError(.invalidArgument, "'\(url)' is not a file URL with an absolute path: write file:///absolute/path, or give a relative directory as a plain path ('\(path)')")
            }
            return try LocalDirectoryTarget(root: path, create: createIfMissing)
        }
        if !url.contains("://") {
            guard !url.isEmpty else { throw BackupError(.invalidArgument, "the backup target is empty") }
            return try LocalDirectoryTarget(root: Store.absolutePath((url as NSString).expandingTildeInPath), create: createIfMissing)
        }
        if url.hasPrefix("azure://") {
            guard let connection, !connection.isEmpty else {
                throw BackupError(.invalidArgument, "\(url) needs AZURE_STORAGE_CONNECTION_STRING (or a connection string secret) to name the account")
            }
            let rest = url.dropFirst("azure://".count)
            let (container, prefix) = split(rest)
            guard !container.isEmpty else { throw BackupError(.invalidArgument, "\(url) names no container (azure://<container>/<prefix>)") }
            try validateContainerName(container, in: url)
            let service = try BlobServiceClient(connectionString: connection, options: clientOptions, transport: transport)
            return AzureBlobTarget(container: service.containerClient(container), prefix: prefix)
        }
        if url.hasPrefix("https://") || url.hasPrefix("http://") {
            guard var components = URLComponents(string: url), let host = components.host else {
                throw BackupError(.invalidArgument, "'\(Redaction.redact(url))' is not a URL")
            }
            let sas = components.percentEncodedQuery
            components.query = nil
            var segments = components.path.split(separator: "/").map(String.init)
            // Path-style (emulator) URLs carry the account as the first segment.
            let pathStyle = host == "127.0.0.1" || host == "localhost" || !host.contains(".blob.")
            var accountName = host.split(separator: ".").first.map(String.init) ?? ""
            var endpoint = "\(components.scheme!)://\(host)" + (components.port.map { ":\($0)" } ?? "")
            if pathStyle {
                guard !segments.isEmpty else { throw BackupError(.invalidArgument, "\(Redaction.redact(url)) names no account") }
                accountName = segments.removeFirst()
                endpoint += "/\(accountName)"
            }
            guard !segments.isEmpty else { throw BackupError(.invalidArgument, "\(Redaction.redact(url)) names no container") }
            let container = segments.removeFirst()
            try validateContainerName(container, in: Redaction.redact(url))
            let prefix = segments.joined(separator: "/")
            let credential: StorageCredential
            if let sas, !sas.isEmpty {
                credential = .sas(sas)
            } else if let connection, let parsed = try? StorageConnectionString(connection), parsed.accountName == accountName,
                let key = parsed.accountKey
            {
                credential = .sharedKey(try StorageSharedKeyCredential(accountName: accountName, accountKey: key))
            } else if let tokenCredential {
                guard components.scheme == "https" else {
                    throw BackupError(.invalidArgument, "\(Redaction.redact(url)): Entra ID tokens are only sent over https")
                }
                credential = .token(tokenCredential)
            } else {
                throw BackupError(.invalidArgument, "\(Redaction.redact(url)) has no SAS, the connection string has no key for account '\(accountName)', and no token credential was given")
            }
            let service = try BlobServiceClient(
                endpoint: URL(string: endpoint)!, credential: credential, options: clientOptions, transport: transport)
            return AzureBlobTarget(container: service.containerClient(container), prefix: prefix)
        }
        throw BackupError(.invalidArgument, "unsupported backup target '\(Redaction.redact(url))' (use file://, azure:// or https://)")
    }

    /// Refuses a container name Azure would not accept, before any request (see
    /// ``BlobContainerClient/isValidName(_:)``).
    static func validateContainerName(_ name: String, in url: String) throws {
        guard BlobContainerClient.isValidName(name) else {
            throw BackupError(.invalidArgument, "'\(BackupManifest.printable(name))' in \(url) is not a valid container name: \(BlobContainerClient.nameRules)")
        }
    }

    private static func split(_ text: Substring) -> (String, String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts.first ?? ""), parts.count > 1 ? String(parts[1]) : "")
    }
}
