import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// One Key Vault at the root of the HTTPS listener: secrets and keys with versions, soft delete
/// (recoverable for 90 days, purgeable), and the key operations. Every request needs a bearer token from the
/// emulator's Entra ID for `https://vault.azure.net`; without one it answers Key Vault's challenge, which is how
/// Microsoft's SDKs learn the authority and resource to ask for.
///
/// Secrets and keys share one lifecycle (versions, listing, soft delete, recovery, purge, backup), generic over
/// ``VaultVersion`` in `VaultObjectLifecycle.swift`; what only one kind does is in `KeyVaultResponder+Secrets.swift`,
/// `KeyVaultResponder+Keys.swift` and `KeyVaultResponder+CryptoOperations.swift`.
struct KeyVaultResponder: Sendable {
    let configuration: EmulatorConfiguration
    let issuer: TokenIssuer
    let store: KeyVaultStore

    static let collections: Set<String> = ["secrets", "keys", "deletedsecrets", "deletedkeys", "rng"]
    static let recoverableDays = 90
    static let recoveryLevel = "Recoverable+Purgeable"
    static let audiences: Set<String> = ["https://vault.azure.net", "https://vault.azure.net/"]

    /// Key Vault's data-plane versions: `7.x` and, since 2025, dates (`2025-07-01`), either with `-preview`.
    static func isSupported(apiVersion: String) -> Bool {
        var version = Substring(apiVersion)
        if version.hasSuffix("-preview") { version = version.dropLast("-preview".count) }
        if version.hasPrefix("7."), let minor = Int(version.dropFirst(2)), minor >= 0 { return true }
        let parts = version.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.map(\.count) == [4, 2, 2] && parts.allSatisfy { Int($0) != nil }
    }

    init(configuration: EmulatorConfiguration, issuer: TokenIssuer, store: KeyVaultStore) throws {
        self.configuration = configuration
        self.issuer = issuer
        self.store = store
    }

    var vaultURL: String { issuer.authorityHost }

    func respond(_ request: ServiceRequest) async throws -> Response {
        var response: Response
        do {
            try authorize(request)
            guard let version = request.query["api-version"], !version.isEmpty else {
                throw EmulatorError(
                    status: 400, code: "BadParameter", message: "The api-version query parameter is required.")
            }
            guard Self.isSupported(apiVersion: version) else {
                throw EmulatorError(
                    status: 400, code: "BadParameter",
                    message:
                        "The specified version (\(version)) is not recognized. Consider using the latest supported version (2025-07-01)."
                )
            }
            response = try await route(request)
        } catch let error as EmulatorError {
            var headers = HTTPFields()
            for (name, value) in error.headers { headers[HTTPField.Name(name)!] = value }
            var body: [String: Any] = ["code": error.code, "message": error.message]
            if let inner = error.details.first(where: { $0.0 == "innererror" }) {
                body["innererror"] = ["code": inner.1]
            }
            response = .json(.init(code: error.status), ["error": body], headers: headers)
        }
        response.headers[HTTPField.Name("x-ms-request-id")!] = UUID().uuidString.lowercased()
        response.headers[HTTPField.Name("x-ms-keyvault-service-version")!] = "1.9.0.0"
        response.headers[HTTPField.Name("x-ms-keyvault-region")!] = "local"
        if let client = request.header("x-ms-client-request-id") {
            response.headers[HTTPField.Name("x-ms-client-request-id")!] = client
        }
        return response
    }

    private func authorize(_ request: ServiceRequest) throws(EmulatorError) {
        let challenge =
            "Bearer authorization=\"\(issuer.authorityHost)/\(issuer.tenantID)\", resource=\"https://vault.azure.net\""
        guard let token = request.bearerToken else {
            throw EmulatorError(
                status: 401, code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token.",
                headers: [("WWW-Authenticate", challenge)])
        }
        if let accepted = configuration.staticBearerToken, SecretComparison.matches(token, accepted) { return }
        if case .rejected(let reason) = issuer.validate(token, audiences: Self.audiences) {
            let message: String
            switch reason {
            case .wrongAudience: message = "AKV10022: Invalid audience. Expected https://vault.azure.net."
            case .expired: message = "AKV10032: Token has expired."
            case .wrongIssuer: message = "AKV10032: Invalid issuer. Expected \(issuer.issuer)."
            default: message = "AKV10000: \(reason.description)"
            }
            throw EmulatorError(
                status: 401, code: "Unauthorized", message: message, headers: [("WWW-Authenticate", challenge)])
        }
    }

    // MARK: Routing

    private func route(_ request: ServiceRequest) async throws -> Response {
        let s = request.segments
        let method = request.method
        switch s.first {
        case "secrets":
            if let response = try await routeLifecycle(SecretVersion.self, request) { return response }
            switch (method, s.count) {
            case (.put, 2): return try await setSecret(request, name: s[1])
            case (.get, 2): return try await getSecret(name: s[1], version: "")
            case (.get, 3): return try await getSecret(name: s[1], version: s[2])
            default: break
            }
        case "deletedsecrets":
            if let response = try await routeDeleted(SecretVersion.self, request) { return response }
        case "keys":
            if let response = try await routeLifecycle(KeyVersion.self, request) { return response }
            switch (method, s.count) {
            case (.post, 3) where s[2] == "create": return try await createKey(request, name: s[1])
            case (.post, 3) where s[2] == "rotate": return try await rotateKey(name: s[1])
            case (.get, 2): return try await getKey(name: s[1], version: "")
            case (.get, 3) where s[2] == "rotationpolicy":
                return try await rotationPolicy(request, name: s[1], update: false)
            case (.put, 3) where s[2] == "rotationpolicy":
                return try await rotationPolicy(request, name: s[1], update: true)
            case (.put, 2): return try await importKey(request, name: s[1])
            case (.get, 3): return try await getKey(name: s[1], version: s[2])
            case (.post, 4):
                return try await keyOperation(request, name: s[1], version: s[2], operation: s[3].lowercased())
            case (.post, 3):
                return try await keyOperation(request, name: s[1], version: "", operation: s[2].lowercased())
            default: break
            }
        case "deletedkeys":
            if let response = try await routeDeleted(KeyVersion.self, request) { return response }
        case "rng" where method == .post && s.count == 1:
            return try randomBytes(request)
        default: break
        }
        throw EmulatorError(
            status: 405, code: "MethodNotAllowed",
            message: "The requested resource does not support http method '\(method.rawValue)'.")
    }
}
