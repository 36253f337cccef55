import AzureCore
import Foundation

/// An Event Hubs connection string, parsed as Microsoft's SDKs accept it: `Key=Value` pairs separated by `;`.
///
/// ```
/// Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=<key>;EntityPath=orders
/// Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=…&sig=…&se=…&skn=…
/// Endpoint=sb://localhost:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true
/// ```
///
/// Keys are case-insensitive, whitespace around keys and values and empty segments (a trailing `;`) are ignored,
/// values may contain `=`, and settings this type does not use are ignored, as Microsoft's parsers do. With
/// `UseDevelopmentEmulator=true` the connection is plain AMQP (default port 5672); otherwise AMQP over TLS
/// (default port 5671). `description` shows every part but the key and signature.
public struct EventHubConnectionString: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// How the connection authenticates.
    public enum Credential: Sendable, Hashable {
        /// A shared access policy's name and key (`SharedAccessKeyName` + `SharedAccessKey`); tokens are signed
        /// locally and renewed as they near expiry.
        case sharedKey(EventHubsSharedKeyCredential)
        /// A ready-made token (`SharedAccessSignature`); it cannot be renewed, so the connection ends when it
        /// expires.
        case sharedAccessSignature(EventHubsSharedAccessSignature)
    }

    /// The namespace's host name, e.g. `contoso.servicebus.windows.net` (without a port).
    public var fullyQualifiedNamespace: String
    /// The AMQP port: the endpoint's explicit port, else 5671 (TLS) or 5672 (development emulator).
    public var port: Int
    /// Whether the connection uses TLS; false only for the development emulator.
    public var useTLS: Bool
    /// The event hub the string is scoped to (`EntityPath`), when it names one.
    public var eventHubName: String?
    public var credential: Credential
    /// Whether the string targets a local development emulator (`UseDevelopmentEmulator=true`).
    public var isDevelopmentEmulator: Bool

    /// The AMQP port of Event Hubs over TLS.
    public static let tlsPort = 5671
    /// The plain AMQP port, which the development emulator listens on.
    public static let plainPort = 5672

    /// Parses `text`.
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` naming the missing or malformed part: no `Endpoint`, an
    ///   endpoint that is not an `sb://` URL, a key name without a key (or the reverse), both a key and a
    ///   signature, neither, a malformed signature, a repeated setting. The message never contains a key or a
    ///   signature.
    public init(_ text: String) throws {
        var settings: [String: String] = [:]
        var index = 0
        for segment in text.split(separator: ";", omittingEmptySubsequences: true) {
            let trimmed = segment.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            index += 1
            guard let equals = trimmed.firstIndex(of: "=") else {
                // The segment itself is not quoted: it may be a key pasted without its name.
                throw Self.invalid("segment \(index) has no '=' (expected Key=Value)")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw Self.invalid("segment \(index) has no key before '='") }
            let known = Self.knownKeys[key.lowercased()]
            guard let known else { continue }
            guard !value.isEmpty else { throw Self.invalid("\(known) has no value") }
            guard settings[known] == nil else { throw Self.invalid("\(known) appears twice") }
            settings[known] = value
        }
        guard !settings.isEmpty || index > 0 else { throw Self.invalid("it is empty") }

        switch settings["UseDevelopmentEmulator"]?.lowercased() {
        case nil, "false": isDevelopmentEmulator = false
        case "true": isDevelopmentEmulator = true
        case let other?: throw Self.invalid("UseDevelopmentEmulator must be 'true' or 'false', not '\(other)'")
        }

        guard let endpoint = settings["Endpoint"] else { throw Self.invalid("it has no Endpoint") }
        guard let components = URLComponents(string: endpoint), components.scheme?.lowercased() == "sb" else {
            throw Self.invalid("Endpoint '\(endpoint)' is not an sb:// URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw Self.invalid("Endpoint '\(endpoint)' has no host")
        }
        guard components.user == nil, components.password == nil, components.query == nil else {
            throw Self.invalid("Endpoint '\(components.host ?? "")' must be sb://host[:port]/ with no user or query")
        }
        if let explicitPort = components.port {
            guard (1...65535).contains(explicitPort) else {
                throw Self.invalid("Endpoint port \(explicitPort) is not between 1 and 65535")
            }
            port = explicitPort
        } else {
            port = isDevelopmentEmulator ? Self.plainPort : Self.tlsPort
        }
        fullyQualifiedNamespace = host
        useTLS = !isDevelopmentEmulator
        eventHubName = settings["EntityPath"]

        let keyName = settings["SharedAccessKeyName"]
        let key = settings["SharedAccessKey"]
        let signature = settings["SharedAccessSignature"]
        if signature != nil && (key != nil || keyName != nil) {
            throw Self.invalid(
                "it has both SharedAccessSignature and \(key != nil ? "SharedAccessKey" : "SharedAccessKeyName"); "
                    + "give a signature or a key name and key")
        }
        if let signature {
            credential = .sharedAccessSignature(try Self.parseSignature(signature))
        } else {
            switch (keyName, key) {
            case (let keyName?, let key?):
                credential = .sharedKey(try EventHubsSharedKeyCredential(keyName: keyName, key: key))
            case (.some, nil): throw Self.invalid("it has SharedAccessKeyName without SharedAccessKey")
            case (nil, .some): throw Self.invalid("it has SharedAccessKey without SharedAccessKeyName")
            case (nil, nil):
                throw Self.invalid("it has neither SharedAccessKeyName and SharedAccessKey nor SharedAccessSignature")
            }
        }
    }

    /// The event hub to use when a caller may give one both here (`EntityPath`) and as a separate parameter, as
    /// Microsoft's clients allow: either one alone, or both if they match (case-insensitively, as the service
    /// treats names).
    ///
    /// - Throws: ``AzureError`` `.invalidArgument` when neither names an event hub, or they name different ones.
    public func resolvedEventHubName(_ explicitName: String? = nil) throws -> String {
        let explicitName = explicitName.flatMap { $0.isEmpty ? nil : $0 }
        switch (explicitName, eventHubName) {
        case (let explicit?, let entityPath?):
            guard explicit.lowercased() == entityPath.lowercased() else {
                throw AzureError(
                    .invalidArgument,
                    "the event hub '\(explicit)' differs from the connection string's EntityPath '\(entityPath)'")
            }
            return entityPath
        case (let explicit?, nil): return explicit
        case (nil, let entityPath?): return entityPath
        case (nil, nil):
            throw AzureError(
                .invalidArgument, "no event hub named: the connection string has no EntityPath and none was given")
        }
    }

    /// The endpoint as Microsoft's SDKs report it: `sb://<namespace>/`, with the port when it is not the default.
    public var endpoint: String {
        let defaultPort = isDevelopmentEmulator ? Self.plainPort : Self.tlsPort
        return port == defaultPort ? "sb://\(fullyQualifiedNamespace)/" : "sb://\(fullyQualifiedNamespace):\(port)/"
    }

    /// The string with the key or signature replaced by `REDACTED`.
    public var description: String {
        var parts = ["Endpoint=\(endpoint)"]
        switch credential {
        case .sharedKey(let key): parts += ["SharedAccessKeyName=\(key.keyName)", "SharedAccessKey=REDACTED"]
        case .sharedAccessSignature: parts.append("SharedAccessSignature=REDACTED")
        }
        if let eventHubName { parts.append("EntityPath=\(eventHubName)") }
        if isDevelopmentEmulator { parts.append("UseDevelopmentEmulator=true") }
        return parts.joined(separator: ";")
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["redacted": description]) }

    /// The settings this type reads, by lower-cased key, with their canonical spelling for messages.
    private static let knownKeys: [String: String] = Dictionary(
        uniqueKeysWithValues: [
            "Endpoint", "SharedAccessKeyName", "SharedAccessKey", "SharedAccessSignature", "EntityPath",
            "UseDevelopmentEmulator",
        ].map { ($0.lowercased(), $0) })

    private static func parseSignature(_ value: String) throws -> EventHubsSharedAccessSignature {
        do {
            return try EventHubsSharedAccessSignature(parsing: value)
        } catch let error as AzureError {
            throw invalid("SharedAccessSignature is malformed (\(error.message))")
        }
    }

    private static func invalid(_ reason: String) -> AzureError {
        AzureError(.invalidArgument, "malformed Event Hubs connection string: \(reason)")
    }
}
