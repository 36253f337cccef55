import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Who may do what: Shared Key (with its 15-minute date window), a shared access signature, or a bearer token
/// from the emulator's Entra ID (or the configured static token).
extension BlobResponder {
    /// What an authorised request may do beyond what its operation needs.
    struct Grant {
        /// False for a SAS whose only write permission is `c` (create): it may write a new blob but, as Azure
        /// documents for Put Blob and Put Block List, not overwrite an existing one.
        var mayOverwrite = true
    }

    func authorize(_ request: BlobRequest, operation: BlobOperation, context: Context) throws(EmulatorError) -> Grant {
        guard let account = configuration.accounts.first(where: { $0.name == request.account }) else {
            throw .resourceNotFound()
        }
        guard let authorization = request.header("Authorization") else {
            guard let sas = SharedAccessSignature(query: request.query) else { throw .noAuthentication() }
            try sas.authorize(
                SharedAccessSignature.Context(
                    account: account, container: request.container, blob: request.blob, operation: operation,
                    request: request, clientIP: context.channel.remoteAddress?.ipAddress, isHTTPS: isHTTPS,
                    now: storage.now()))
            return Grant(mayOverwrite: sas["sp"].contains("w"))
        }
        if authorization.hasPrefix("Bearer ") {
            let token = String(authorization.dropFirst(7))
            if let accepted = configuration.staticBearerToken, SecretComparison.matches(token, accepted) { return Grant() }
            guard let tokenIssuer else { throw .authenticationFailed("The bearer token is not valid for this account.") }
            if case .rejected(let reason) = tokenIssuer.validate(token, audiences: Self.storageAudiences(account)) {
                throw .invalidAuthenticationInfo(reason.description, challenge: Self.challenge(tokenIssuer))
            }
            return Grant()
        }
        guard authorization.hasPrefix("SharedKey ") else {
            throw .authenticationFailed("The authorization scheme is not supported; use SharedKey or Bearer.")
        }
        let credential = authorization.dropFirst("SharedKey ".count)
        guard let colon = credential.lastIndex(of: ":"), credential[..<colon] == account.name else {
            throw .authenticationFailed("The Authorization header does not name account '\(account.name)'.")
        }
        let signature = String(credential[credential.index(after: colon)...])
        let signed = SharedKeyVerifier.SignedRequest(
            method: request.method.rawValue, path: request.rawPath, query: request.query,
            headers: request.headers.map { ($0.name.rawName, $0.value) })
        // Neither the sent nor the expected signature is echoed back; only the string that was signed.
        guard SharedKeyVerifier.isValid(signature: signature, for: signed, account: account.name, key: account.key) else {
            let shown = SharedKeyVerifier.stringToSign(signed, account: account.name).replacingOccurrences(of: "\n", with: "\\n")
            throw .authenticationFailed(
                "The MAC signature found in the HTTP request is not the same as any computed signature. Server used following string to sign: '\(shown)'.")
        }
        try Self.checkRequestDate(request, now: storage.now())
        return Grant()
    }

    /// Azure accepts a Shared Key request only within 15 minutes of its `x-ms-date` (or `Date`), so a captured
    /// request cannot be replayed later.
    static let allowedClockSkew: TimeInterval = 15 * 60

    static func checkRequestDate(_ request: BlobRequest, now: Date) throws(EmulatorError) {
        guard let text = request.header("x-ms-date") ?? request.header("Date") else {
            throw .authenticationFailed("Request date header not specified.")
        }
        guard let date = HTTPDate.parseRFC1123(text) else {
            throw .authenticationFailed("The date header '\(text)' is not a valid RFC 1123 date.")
        }
        if date < now.addingTimeInterval(-allowedClockSkew) {
            throw .authenticationFailed("Request date header too old: '\(text)'")
        }
        if date > now.addingTimeInterval(allowedClockSkew) {
            throw .authenticationFailed("Request date header too far in the future: '\(text)'")
        }
    }

    static func storageAudiences(_ account: StorageAccount) -> Set<String> {
        [
            "https://storage.azure.com", "https://storage.azure.com/", "https://\(account.name).blob.core.windows.net",
            "https://\(account.name).blob.core.windows.net/",
        ]
    }

    /// Azure names its authority and the storage resource so SDKs can fetch a fitting token.
    static func challenge(_ issuer: TokenIssuer) -> String {
        "Bearer authorization_uri=\(issuer.authorityHost)/\(issuer.tenantID)/oauth2/authorize resource_id=https://storage.azure.com"
    }
}
