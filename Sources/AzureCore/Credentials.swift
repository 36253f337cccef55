import Crypto
import Foundation

/// An account name and key, for Shared Key authorization and for signing SAS tokens.
public struct StorageSharedKeyCredential: Sendable {
    public let accountName: String
    private let key: Data

    /// - Throws: ``AzureError`` `.invalidArgument` when `accountKey` is not base64.
    public init(accountName: String, accountKey: String) throws {
        guard !accountName.isEmpty else { throw AzureError(.invalidArgument, "the account name is empty") }
        guard let data = Data(base64Encoded: accountKey), !data.isEmpty else {
            throw AzureError(.invalidArgument, "the account key for '\(accountName)' is not valid base64")
        }
        self.accountName = accountName
        self.key = data
    }

    /// Base64 HMAC-SHA256 of `text` with the account key.
    public func sign(_ text: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: key))).base64EncodedString()
    }
}

/// An OAuth access token. Its `description` shows only the expiry, so a logged token leaks nothing.
public struct AccessToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var token: String
    public var expiresOn: Date

    public init(token: String, expiresOn: Date) {
        self.token = token
        self.expiresOn = expiresOn
    }

    public var description: String { "AccessToken(token: REDACTED, expiresOn: \(expiresOn))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["expiresOn": expiresOn]) }
}

/// Something that produces Entra ID (Azure AD) bearer tokens for a set of scopes.
public protocol TokenCredential: Sendable {
    func token(for scopes: [String]) async throws -> AccessToken
    /// A token from the tenant `tenantID` (nil: the credential's own), as Key Vault's challenge names the vault's
    /// tenant. Credentials without tenants ignore it; Entra credentials accept only their own tenant or an
    /// additionally allowed one.
    func token(for scopes: [String], tenantID: String?) async throws -> AccessToken
}

extension TokenCredential {
    public func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
        try await token(for: scopes)
    }
}

/// A fixed token, for tests and for tokens obtained elsewhere.
public struct StaticTokenCredential: TokenCredential {
    public let accessToken: AccessToken

    public init(token: String, expiresOn: Date = .distantFuture) {
        accessToken = AccessToken(token: token, expiresOn: expiresOn)
    }

    public func token(for scopes: [String]) async throws -> AccessToken { accessToken }
}

/// How a client authenticates its requests.
public enum StorageCredential: Sendable {
    /// Shared Key: every request signed with the account key.
    case sharedKey(StorageSharedKeyCredential)
    /// A SAS token (query string without the leading `?`) appended to every request.
    case sas(String)
    /// An Entra ID bearer token.
    case token(any TokenCredential)
    /// No authentication (public containers).
    case anonymous
}
