import Crypto
import Foundation

/// Checks the tokens clients put on `$cbs`: SAS tokens signed with one of the namespace's keys, and Entra ID
/// tokens from the emulator's own issuer for Event Hubs' audience.
struct EventHubsAuthorizer: Sendable {
    let keys: [String: String]
    let issuer: TokenIssuer

    /// Tokens for the Event Hubs data plane name this audience (with or without the slash).
    static let audiences: Set<String> = ["https://eventhubs.azure.net", "https://eventhubs.azure.net/"]

    enum Outcome: Equatable {
        /// Valid until the date.
        case authorized(expiresOn: Date)
        /// Refused, with the reason the real hub gives (`InvalidSignature: …`).
        case refused(String)
    }

    /// Checks `token` of `type` for the audience `name` (`sb://host/hub[/...]`).
    func check(token: String, type: String, audience name: String, now: Date = Date()) -> Outcome {
        switch type {
        case "servicebus.windows.net:sastoken":
            return checkSharedAccessSignature(token, audience: name, now: now)
        case "jwt":
            switch issuer.validate(token, audiences: Self.audiences, now: now) {
            case .valid(let jwt):
                return .authorized(expiresOn: jwt.date("exp") ?? now.addingTimeInterval(3600))
            case .rejected(let reason):
                return .refused("InvalidToken: the token was refused: \(reason.description)")
            }
        default:
            return .refused("InvalidTokenType: token type '\(type)' is not supported; use jwt or servicebus.windows.net:sastoken")
        }
    }

    private func checkSharedAccessSignature(_ token: String, audience: String, now: Date) -> Outcome {
        let prefix = "SharedAccessSignature "
        guard token.hasPrefix(prefix) else { return .refused("InvalidSignature: the token is not a SharedAccessSignature") }
        var fields: [String: String] = [:]
        for pair in token.dropFirst(prefix.count).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[String(parts[0])] = String(parts[1])
        }
        guard let resource = fields["sr"], let signature = fields["sig"], let expiry = fields["se"], let keyName = fields["skn"] else {
            return .refused("InvalidSignature: the token lacks sr, sig, se or skn")
        }
        guard let seconds = Double(expiry) else { return .refused("InvalidSignature: se is not a number") }
        let expiresOn = Date(timeIntervalSince1970: seconds)
        guard expiresOn > now else { return .refused("ExpiredToken: the token expired at \(Int(seconds))") }
        guard let key = keys[keyName.removingPercentEncoding ?? keyName] else {
            return .refused("InvalidSignature: the token is signed with an unknown key")
        }
        // The string to sign holds the resource exactly as the token carries it (URL-encoded).
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(resource)\n\(expiry)".utf8), using: SymmetricKey(data: Data(key.utf8)))
        let expected = Data(mac).base64EncodedString()
        guard SecretComparison.matches(expected, signature.removingPercentEncoding ?? signature) else {
            return .refused("InvalidSignature: The token has an invalid signature.")
        }
        let scope = (resource.removingPercentEncoding ?? resource).lowercased()
        guard Self.covers(scope: scope, audience: audience.lowercased()) else {
            return .refused("InvalidAudience: the token's resource \(scope) does not cover \(audience)")
        }
        return .authorized(expiresOn: expiresOn)
    }

    /// Whether a token for `scope` (a namespace or an entity URI) may be used for `audience`. Schemes and a
    /// port are ignored: clients write `sb://`, `amqps://` or `https://`, with or without the emulator's port.
    static func covers(scope: String, audience: String) -> Bool {
        func path(_ uri: String) -> [Substring] {
            var rest = Substring(uri)
            if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
            var parts = rest.split(separator: "/")
            if !parts.isEmpty { parts.removeFirst() }  // the host, with or without its port
            return parts
        }
        let scopePath = path(scope)
        let audiencePath = path(audience)
        return audiencePath.starts(with: scopePath)
    }

    /// The entity path of an audience or address, lower-cased: `sb://host:5672/Hub/ConsumerGroups/G` gives
    /// `hub/consumergroups/g`.
    static func entityPath(_ uri: String) -> String? {
        var rest = Substring(uri)
        if let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            rest = rest[rest.index(after: slash)...]
        }
        let parts = rest.split(separator: "/")
        return parts.isEmpty ? nil : parts.joined(separator: "/").lowercased()
    }

    /// The hub an audience or address names: its first path segment.
    static func hubName(in uri: String) -> String? {
        var rest = Substring(uri)
        if let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            rest = rest[rest.index(after: slash)...]
        }
        return rest.split(separator: "/").first.map(String.init)
    }
}
