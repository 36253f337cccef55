import Foundation

/// A storage connection string, parsed as Azure defines it: `Key=Value` pairs separated by `;`.
///
/// Understands `DefaultEndpointsProtocol`, `AccountName`, `AccountKey`, `EndpointSuffix`, explicit service
/// endpoints (`BlobEndpoint`, `QueueEndpoint`, `TableEndpoint`, `FileEndpoint`), `SharedAccessSignature`,
/// and `UseDevelopmentStorage=true` (the emulator's `devstoreaccount1` at http://127.0.0.1:10000).
public struct StorageConnectionString: Sendable, Equatable {
    public var accountName: String?
    /// The base64 account key, when the string has one.
    public var accountKey: String?
    /// A SAS token (without a leading `?`), when the string has one.
    public var sharedAccessSignature: String?
    public var blobEndpoint: URL?
    public var queueEndpoint: URL?

    /// The development account and key every Azure storage emulator accepts.
    public static let developmentAccountName = "devstoreaccount1"
    public static let developmentAccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    private static let knownKeys: Set<String> = [
        "defaultendpointsprotocol", "accountname", "accountkey", "endpointsuffix", "blobendpoint", "queueendpoint",
        "tableendpoint", "filesendpoint", "fileendpoint", "sharedaccesssignature", "usedevelopmentstorage",
        "developmentstorageproxyuri", "blobsecondaryendpoint", "queuesecondaryendpoint",
    ]

    /// Parses `text`.
    /// - Throws: ``AzureError`` `.invalidArgument` naming the part that is wrong (never echoing a key or SAS).
    public init(_ text: String) throws {
        var settings: [String: String] = [:]
        for (index, segment) in text.split(separator: ";", omittingEmptySubsequences: true).enumerated() {
            let trimmed = segment.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw Self.invalid("segment \(index + 1) has no '=' (expected Key=Value)")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = String(trimmed[trimmed.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw Self.invalid("segment \(index + 1) has an empty key") }
            guard Self.knownKeys.contains(key.lowercased()) else {
                throw Self.invalid("unknown setting '\(key)'")
            }
            guard settings[key.lowercased()] == nil else { throw Self.invalid("setting '\(key)' appears twice") }
            settings[key.lowercased()] = value
        }
        guard !settings.isEmpty else { throw Self.invalid("it is empty") }

        if let development = settings["usedevelopmentstorage"] {
            guard development.lowercased() == "true" else {
                throw Self.invalid("UseDevelopmentStorage must be 'true', not '\(development)'")
            }
            var host = "http://127.0.0.1"
            if let proxy = settings["developmentstorageproxyuri"] {
                guard let url = URL(string: proxy), url.scheme != nil, let proxyHost = url.host else {
                    throw Self.invalid("DevelopmentStorageProxyUri is not a URL")
                }
                host = "\(url.scheme!)://\(proxyHost)"
            }
            accountName = Self.developmentAccountName
            accountKey = Self.developmentAccountKey
            blobEndpoint = URL(string: "\(host):10000/\(Self.developmentAccountName)")
            queueEndpoint = URL(string: "\(host):10001/\(Self.developmentAccountName)")
            return
        }

        accountName = settings["accountname"]
        if let key = settings["accountkey"] {
            guard let decoded = Data(base64Encoded: key), !decoded.isEmpty else {
                throw Self.invalid("AccountKey is not valid base64")
            }
            accountKey = key
        }
        if let sas = settings["sharedaccesssignature"] {
            let token = sas.hasPrefix("?") ? String(sas.dropFirst()) : sas
            guard token.contains("sig=") else { throw Self.invalid("SharedAccessSignature has no 'sig' parameter") }
            sharedAccessSignature = token
        }
        if accountKey != nil && accountName == nil { throw Self.invalid("AccountKey is given but AccountName is missing") }
        if accountKey == nil && sharedAccessSignature == nil {
            throw Self.invalid("it has neither AccountKey nor SharedAccessSignature")
        }

        let scheme = settings["defaultendpointsprotocol"]?.lowercased() ?? "https"
        guard scheme == "https" || scheme == "http" else {
            throw Self.invalid("DefaultEndpointsProtocol must be 'http' or 'https', not '\(scheme)'")
        }
        let suffix = settings["endpointsuffix"] ?? "core.windows.net"
        guard !suffix.isEmpty, !suffix.contains("/") else { throw Self.invalid("EndpointSuffix '\(suffix)' is not a host suffix") }

        func endpoint(_ key: String, _ name: String, service: String) throws -> URL? {
            if let explicit = settings[key] {
                guard let url = URL(string: explicit), let urlScheme = url.scheme?.lowercased(),
                    urlScheme == "http" || urlScheme == "https", url.host != nil
                else { throw Self.invalid("\(name) '\(explicit)' is not an http(s) URL") }
                return url
            }
            guard let accountName else { return nil }
            return URL(string: "\(scheme)://\(accountName).\(service).\(suffix)")
        }
        blobEndpoint = try endpoint("blobendpoint", "BlobEndpoint", service: "blob")
        queueEndpoint = try endpoint("queueendpoint", "QueueEndpoint", service: "queue")
        if blobEndpoint == nil && queueEndpoint == nil {
            throw Self.invalid("it names no AccountName and no service endpoint")
        }
    }

    private static func invalid(_ reason: String) -> AzureError {
        AzureError(.invalidArgument, "malformed storage connection string: \(reason)")
    }
}
