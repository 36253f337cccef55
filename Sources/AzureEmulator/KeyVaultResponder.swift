import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// One Key Vault at the root of the HTTPS listener: secrets and keys with versions, soft delete
/// (recoverable for 90 days, purgeable), and the key operations. Every request needs a bearer token from the
/// emulator's Entra ID for `https://vault.azure.net`; without one it answers Key Vault's challenge, which is how
/// Microsoft's SDKs learn the authority and resource to ask for.
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
                throw BlobServiceError(
                    status: 400, code: "BadParameter", message: "The api-version query parameter is required.")
            }
            guard Self.isSupported(apiVersion: version) else {
                throw BlobServiceError(
                    status: 400, code: "BadParameter",
                    message:
                        "The specified version (\(version)) is not recognized. Consider using the latest supported version (2025-07-01)."
                )
            }
            response = try await route(request)
        } catch let error as BlobServiceError {
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

    private func authorize(_ request: ServiceRequest) throws(BlobServiceError) {
        let challenge =
            "Bearer authorization=\"\(issuer.authorityHost)/\(issuer.tenantID)\", resource=\"https://vault.azure.net\""
        guard let token = request.bearerToken else {
            throw BlobServiceError(
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
            throw BlobServiceError(
                status: 401, code: "Unauthorized", message: message, headers: [("WWW-Authenticate", challenge)])
        }
    }

    // MARK: Routing

    private func route(_ request: ServiceRequest) async throws -> Response {
        let s = request.segments
        let method = request.method
        switch s.first {
        case "secrets":
            switch (method, s.count) {
            case (.get, 1): return try await listSecrets(request, name: nil)
            case (.post, 2) where s[1] == "restore": return try await restore(request, kind: "secret")
            case (.post, 3) where s[2] == "backup": return try await backup(name: s[1], kind: "secret")
            case (.put, 2): return try await setSecret(request, name: s[1])
            case (.delete, 2): return try await deleteSecret(name: s[1])
            case (.get, 2): return try await getSecret(name: s[1], version: "")
            case (.get, 3) where s[2] == "versions": return try await listSecrets(request, name: s[1])
            case (.get, 3): return try await getSecret(name: s[1], version: s[2])
            case (.patch, 3): return try await updateSecret(request, name: s[1], version: s[2])
            case (.patch, 2): return try await updateSecret(request, name: s[1], version: "")
            default: break
            }
        case "deletedsecrets":
            switch (method, s.count) {
            case (.get, 1): return try await listDeletedSecrets(request)
            case (.get, 2): return try await getDeletedSecret(name: s[1])
            case (.delete, 2): return try await purgeSecret(name: s[1])
            case (.post, 3) where s[2] == "recover": return try await recoverSecret(name: s[1])
            default: break
            }
        case "keys":
            switch (method, s.count) {
            case (.get, 1): return try await listKeys(request, name: nil)
            case (.post, 3) where s[2] == "create": return try await createKey(request, name: s[1])
            case (.post, 3) where s[2] == "rotate": return try await rotateKey(name: s[1])
            case (.post, 3) where s[2] == "backup": return try await backup(name: s[1], kind: "key")
            case (.post, 2) where s[1] == "restore": return try await restore(request, kind: "key")
            case (.delete, 2): return try await deleteKey(name: s[1])
            case (.get, 2): return try await getKey(name: s[1], version: "")
            case (.get, 3) where s[2] == "versions": return try await listKeys(request, name: s[1])
            case (.get, 3) where s[2] == "rotationpolicy":
                return try await rotationPolicy(request, name: s[1], update: false)
            case (.put, 3) where s[2] == "rotationpolicy":
                return try await rotationPolicy(request, name: s[1], update: true)
            case (.put, 2): return try await importKey(request, name: s[1])
            case (.get, 3): return try await getKey(name: s[1], version: s[2])
            case (.patch, 2): return try await updateKey(request, name: s[1], version: "")
            case (.patch, 3): return try await updateKey(request, name: s[1], version: s[2])
            case (.post, 4):
                return try await keyOperation(request, name: s[1], version: s[2], operation: s[3].lowercased())
            case (.post, 3):
                return try await keyOperation(request, name: s[1], version: "", operation: s[2].lowercased())
            default: break
            }
        case "rng" where method == .post && s.count == 1:
            // Get Random Bytes: 1 to 128 bytes from the system's generator.
            let body = try body(request)
            guard let count = JSONWebToken.integer(body["count"]), (1...128).contains(count) else {
                throw BlobServiceError(
                    status: 400, code: "BadParameter", message: "Property 'count' must be between 1 and 128.")
            }
            var generator = SystemRandomNumberGenerator()
            let bytes = Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
            return .json(.ok, ["value": Base64URL.encode(bytes)])
        case "deletedkeys":
            switch (method, s.count) {
            case (.get, 1): return try await listDeletedKeys(request)
            case (.get, 2): return try await getDeletedKey(name: s[1])
            case (.delete, 2): return try await purgeKey(name: s[1])
            case (.post, 3) where s[2] == "recover": return try await recoverKey(name: s[1])
            default: break
            }
        default: break
        }
        throw BlobServiceError(
            status: 405, code: "MethodNotAllowed",
            message: "The requested resource does not support http method '\(method.rawValue)'.")
    }

    // MARK: Shared

    static func validateName(_ name: String, kind: String) throws(BlobServiceError) {
        let valid =
            (1...127).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45
            }
        guard valid else {
            throw BlobServiceError(
                status: 400, code: "BadParameter",
                message:
                    "The request URI contains an invalid name: \(name). \(kind) names may only contain alphanumeric characters and dashes, and must be between 1 and 127 characters long."
            )
        }
    }

    static func newVersion() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    static var now: Int { Int(Date().timeIntervalSince1970) }

    private func attributesJSON(_ attributes: VaultAttributes, exportable: Bool? = nil) -> [String: Any] {
        var json: [String: Any] = [
            "enabled": attributes.enabled, "created": attributes.created, "updated": attributes.updated,
            "recoveryLevel": Self.recoveryLevel, "recoverableDays": Self.recoverableDays,
        ]
        if let nbf = attributes.notBefore { json["nbf"] = nbf }
        if let exp = attributes.expires { json["exp"] = exp }
        if let exportable { json["exportable"] = exportable }
        return json
    }

    /// Applies `attributes` from a request body to stored attributes (only the members the body has).
    private static func apply(_ json: Any?, to attributes: inout VaultAttributes) throws(BlobServiceError) {
        guard let json else { return }
        guard let object = json as? [String: Any] else {
            throw BlobServiceError(
                status: 400, code: "BadParameter", message: "Property 'attributes' must be an object.")
        }
        if let enabled = object["enabled"] as? Bool { attributes.enabled = enabled }
        if object.keys.contains("nbf") { attributes.notBefore = try optionalInteger(object["nbf"], named: "nbf") }
        if object.keys.contains("exp") { attributes.expires = try optionalInteger(object["exp"], named: "exp") }
    }

    /// A member that is absent or null (nil), or an integer; anything else (a fraction, `1e300`, a string) is
    /// Key Vault's 400 BadParameter.
    static func optionalInteger(_ json: Any?, named name: String) throws(BlobServiceError) -> Int? {
        guard let json, !(json is NSNull) else { return nil }
        guard let value = JSONWebToken.integer(json), !(json is Bool) else {
            throw BlobServiceError(status: 400, code: "BadParameter", message: "Property '\(name)' must be an integer.")
        }
        return value
    }

    private static func tags(_ json: Any?) throws(BlobServiceError) -> [String: String]? {
        guard let json, !(json is NSNull) else { return nil }
        guard let tags = json as? [String: String] else {
            throw BlobServiceError(
                status: 400, code: "BadParameter", message: "Property 'tags' must map names to strings.")
        }
        guard tags.count <= 15 else {
            throw BlobServiceError(status: 400, code: "BadParameter", message: "The number of tags cannot exceed 15.")
        }
        return tags
    }

    private func body(_ request: ServiceRequest) throws(BlobServiceError) -> [String: Any] {
        guard let body = request.jsonBody else {
            throw BlobServiceError(
                status: 400, code: "BadParameter", message: "The request body is missing or is not a JSON object.")
        }
        return body
    }

    /// Paging of list operations: `maxresults` (1-25, Key Vault's limit) and an opaque `$skiptoken`.
    private func page<T>(_ items: [T], request: ServiceRequest, path: String) throws(BlobServiceError) -> (
        items: [T], nextLink: String?
    ) {
        var limit = 25
        if let text = request.query["maxresults"] {
            guard let value = Int(text), (1...25).contains(value) else {
                throw BlobServiceError(
                    status: 400, code: "BadParameter",
                    message: "Invalid value for maxresults: \(text). The value must be between 1 and 25.")
            }
            limit = value
        }
        var start = 0
        if let token = request.query["$skiptoken"] {
            guard let data = Base64URL.decode(token), let offset = Int(String(decoding: data, as: UTF8.self)),
                offset >= 0
            else {
                throw BlobServiceError(status: 400, code: "BadParameter", message: "The $skiptoken is not valid.")
            }
            start = min(offset, items.count)
        }
        let end = min(start + limit, items.count)
        var nextLink: String?
        if end < items.count {
            let version = request.query["api-version"] ?? "7.6"
            let token = Base64URL.encode(Data(String(end).utf8))
            nextLink = "\(vaultURL)\(path)?api-version=\(version)&$skiptoken=\(token)&maxresults=\(limit)"
        }
        return (Array(items[start..<end]), nextLink)
    }

    private static func notFound(_ kind: String, _ name: String, version: String = "") -> BlobServiceError {
        let code = kind == "secret" ? "SecretNotFound" : "KeyNotFound"
        let shown = version.isEmpty ? name : "\(name)/\(version)"
        return BlobServiceError(
            status: 404, code: code,
            message:
                "A \(kind) with (name/id) \(shown) was not found in this key vault. If you recently deleted this \(kind) you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        )
    }

    private static func deletedNotFound(_ kind: String, _ name: String) -> BlobServiceError {
        BlobServiceError(
            status: 404, code: kind == "secret" ? "SecretNotFound" : "KeyNotFound",
            message: "Deleted \(kind == "secret" ? "Secret" : "Key") not found: \(name)")
    }

    private static func deletedConflict(_ kind: String, _ name: String) -> BlobServiceError {
        BlobServiceError(
            status: 409, code: "Conflict",
            message:
                "\(kind == "secret" ? "Secret" : "Key") \(name) is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the \(kind) can only be recovered or purged.",
            details: [("innererror", "ObjectIsDeletedButRecoverable")])
    }

    private static func disabled(_ kind: String, operation: String) -> BlobServiceError {
        BlobServiceError(
            status: 403, code: "Forbidden", message: "Operation \(operation) is not allowed on a disabled \(kind).",
            details: [("innererror", kind == "secret" ? "SecretDisabled" : "KeyDisabled")])
    }

    private func deletionJSON(_ kind: String, _ name: String, _ deletion: Deletion) -> [String: Any] {
        [
            "recoveryId": "\(vaultURL)/deleted\(kind)s/\(name)", "deletedDate": deletion.deletedDate,
            "scheduledPurgeDate": deletion.scheduledPurgeDate,
        ]
    }

    private static func findVersion<V>(_ object: VaultObject<V>?, version: String, id: (V) -> String) -> V? {
        guard let object, object.deletion == nil else { return nil }
        if version.isEmpty { return object.versions.last }
        return object.versions.first { id($0) == version }
    }

    // MARK: Secrets

    private func secretJSON(_ name: String, _ secret: SecretVersion, includeValue: Bool) -> [String: Any] {
        var json: [String: Any] = [
            "id": "\(vaultURL)/secrets/\(name)/\(secret.version)", "attributes": attributesJSON(secret.attributes),
        ]
        if includeValue { json["value"] = secret.value }
        if let contentType = secret.contentType { json["contentType"] = contentType }
        if let tags = secret.tags { json["tags"] = tags }
        return json
    }

    private func setSecret(_ request: ServiceRequest, name: String) async throws -> Response {
        try Self.validateName(name, kind: "Secret")
        let body = try body(request)
        guard let value = body["value"] as? String else {
            throw BlobServiceError(
                status: 400, code: "BadParameter", message: "Property 'value' is required and must be a string.")
        }
        guard value.utf8.count <= 25 * 1024 else {
            throw BlobServiceError(
                status: 400, code: "BadParameter", message: "The secret value exceeds the 25 KB limit.")
        }
        let now = Self.now
        var attributes = VaultAttributes(created: now, updated: now)
        try Self.apply(body["attributes"], to: &attributes)
        let secret = SecretVersion(
            version: Self.newVersion(), value: value, contentType: body["contentType"] as? String,
            tags: try Self.tags(body["tags"]),
            attributes: attributes)
        try await store.update { state throws in
            if state.secrets[name]?.deletion != nil { throw Self.deletedConflict("secret", name) }
            state.secrets[name, default: VaultObject(versions: [])].versions.append(secret)
        }
        return .json(.ok, secretJSON(name, secret, includeValue: true))
    }

    private func getSecret(name: String, version: String) async throws -> Response {
        let secret = await store.read { Self.findVersion($0.secrets[name], version: version, id: \.version) }
        guard let secret else { throw Self.notFound("secret", name, version: version) }
        guard secret.attributes.enabled else { throw Self.disabled("secret", operation: "get") }
        return .json(.ok, secretJSON(name, secret, includeValue: true))
    }

    private func updateSecret(_ request: ServiceRequest, name: String, version: String) async throws -> Response {
        let body = try body(request)
        let tags = try Self.tags(body["tags"])
        let updated = try await store.update { state throws -> SecretVersion in
            guard var object = state.secrets[name], object.deletion == nil,
                let index = version.isEmpty
                    ? object.versions.indices.last : object.versions.firstIndex(where: { $0.version == version })
            else { throw Self.notFound("secret", name, version: version) }
            var secret = object.versions[index]
            try Self.apply(body["attributes"], to: &secret.attributes)
            if body.keys.contains("contentType") { secret.contentType = body["contentType"] as? String }
            if body.keys.contains("tags") { secret.tags = tags }
            secret.attributes.updated = Self.now
            object.versions[index] = secret
            state.secrets[name] = object
            return secret
        }
        return .json(.ok, secretJSON(name, updated, includeValue: false))
    }

    private func listSecrets(_ request: ServiceRequest, name: String?) async throws -> Response {
        let items: [[String: Any]]
        let path: String
        if let name {
            path = "/secrets/\(name)/versions"
            // Azure answers an empty list for a name it does not know, and orders versions by their ids.
            let versions = await store.read { state in
                (state.secrets[name].flatMap { $0.deletion == nil ? $0.versions : nil } ?? []).sorted {
                    $0.version < $1.version
                }
            }
            items = versions.map { secretItem(name, $0, withVersion: true) }
        } else {
            path = "/secrets"
            let latest = await store.read { state in
                state.secrets.filter { $0.value.deletion == nil }.compactMap { entry in
                    entry.value.versions.last.map { (entry.key, $0) }
                }
                .sorted { $0.0 < $1.0 }
            }
            items = latest.map { secretItem($0.0, $0.1, withVersion: false) }
        }
        let (slice, nextLink) = try page(items, request: request, path: path)
        return .json(.ok, ["value": slice, "nextLink": nextLink.map { $0 as Any } ?? NSNull()])
    }

    private func secretItem(_ name: String, _ secret: SecretVersion, withVersion: Bool) -> [String: Any] {
        var json: [String: Any] = [
            "id": withVersion ? "\(vaultURL)/secrets/\(name)/\(secret.version)" : "\(vaultURL)/secrets/\(name)",
            "attributes": attributesJSON(secret.attributes),
        ]
        if let contentType = secret.contentType { json["contentType"] = contentType }
        if let tags = secret.tags { json["tags"] = tags }
        return json
    }

    private func deleteSecret(name: String) async throws -> Response {
        let now = Self.now
        let (secret, deletion) = try await store.update { state throws -> (SecretVersion, Deletion) in
            guard var object = state.secrets[name], object.deletion == nil, let latest = object.versions.last else {
                throw Self.notFound("secret", name)
            }
            let deletion = Deletion(deletedDate: now, scheduledPurgeDate: now + Self.recoverableDays * 86400)
            object.deletion = deletion
            state.secrets[name] = object
            return (latest, deletion)
        }
        return .json(
            .ok, secretJSON(name, secret, includeValue: false).merging(deletionJSON("secret", name, deletion)) { $1 })
    }

    private func deletedSecretJSON(_ name: String, _ object: VaultObject<SecretVersion>, item: Bool) -> [String: Any]? {
        guard let deletion = object.deletion, let latest = object.versions.last else { return nil }
        let base = item ? secretItem(name, latest, withVersion: false) : secretJSON(name, latest, includeValue: false)
        return base.merging(deletionJSON("secret", name, deletion)) { $1 }
    }

    private func listDeletedSecrets(_ request: ServiceRequest) async throws -> Response {
        let deleted = await store.read { state in
            state.secrets.filter { $0.value.deletion != nil }.sorted { $0.key < $1.key }
        }
        let items = deleted.compactMap { deletedSecretJSON($0.key, $0.value, item: true) }
        let (slice, nextLink) = try page(items, request: request, path: "/deletedsecrets")
        return .json(.ok, ["value": slice, "nextLink": nextLink.map { $0 as Any } ?? NSNull()])
    }

    private func getDeletedSecret(name: String) async throws -> Response {
        let object = await store.read { $0.secrets[name] }
        guard let object, let json = deletedSecretJSON(name, object, item: false) else {
            throw Self.deletedNotFound("secret", name)
        }
        return .json(.ok, json)
    }

    private func recoverSecret(name: String) async throws -> Response {
        let secret = try await store.update { state throws -> SecretVersion in
            guard var object = state.secrets[name], object.deletion != nil, let latest = object.versions.last else {
                throw Self.deletedNotFound("secret", name)
            }
            object.deletion = nil
            state.secrets[name] = object
            return latest
        }
        return .json(.ok, secretJSON(name, secret, includeValue: false))
    }

    private func purgeSecret(name: String) async throws -> Response {
        try await store.update { state throws in
            guard state.secrets[name]?.deletion != nil else { throw Self.deletedNotFound("secret", name) }
            state.secrets[name] = nil
        }
        return Response(status: .noContent)
    }

    // MARK: Keys

    private func keyJSON(_ name: String, _ key: KeyVersion) throws -> [String: Any] {
        var jwk: [String: Any] = [
            "kid": "\(vaultURL)/keys/\(name)/\(key.version)", "kty": key.keyType, "key_ops": key.keyOperations,
        ]
        for (member, value) in try VaultKeyMaterial.publicMembers(of: key) { jwk[member] = value }
        var json: [String: Any] = ["key": jwk, "attributes": attributesJSON(key.attributes, exportable: false)]
        if let tags = key.tags { json["tags"] = tags }
        return json
    }

    private func keyItem(_ name: String, _ key: KeyVersion, withVersion: Bool) -> [String: Any] {
        var json: [String: Any] = [
            "kid": withVersion ? "\(vaultURL)/keys/\(name)/\(key.version)" : "\(vaultURL)/keys/\(name)",
            "attributes": attributesJSON(key.attributes, exportable: false),
        ]
        if let tags = key.tags { json["tags"] = tags }
        return json
    }

    private func createKey(_ request: ServiceRequest, name: String) async throws -> Response {
        try Self.validateName(name, kind: "Key")
        let body = try body(request)
        guard let keyType = body["kty"] as? String else {
            throw BlobServiceError(status: 400, code: "BadParameter", message: "Property 'kty' is required.")
        }
        let operations = body["key_ops"] as? [String]
        let now = Self.now
        var attributes = VaultAttributes(created: now, updated: now)
        try Self.apply(body["attributes"], to: &attributes)
        let key = try VaultKeyMaterial.generate(
            keyType: keyType, size: try Self.optionalInteger(body["key_size"], named: "key_size"), curve: body["crv"] as? String,
            operations: operations, version: Self.newVersion(), tags: try Self.tags(body["tags"]),
            attributes: attributes)
        try await store.update { state throws in
            if state.keys[name]?.deletion != nil { throw Self.deletedConflict("key", name) }
            state.keys[name, default: VaultObject(versions: [])].versions.append(key)
        }
        return .json(.ok, try keyJSON(name, key))
    }

    /// Import Key: a JWK with its private members (RSA `n e d p q`, EC `crv d`, oct `k`); only the public half
    /// is ever answered.
    private func importKey(_ request: ServiceRequest, name: String) async throws -> Response {
        try Self.validateName(name, kind: "Key")
        let body = try body(request)
        guard let jwk = body["key"] as? [String: Any], let keyType = jwk["kty"] as? String else {
            throw BlobServiceError(
                status: 400, code: "BadParameter", message: "Property 'key' must be a JSON web key with 'kty'.")
        }
        let now = Self.now
        var attributes = VaultAttributes(created: now, updated: now)
        try Self.apply(body["attributes"], to: &attributes)
        let key = try VaultKeyMaterial.importKey(
            jwk: jwk,
            keyType: (body["Hsm"] as? Bool ?? false) && !keyType.hasSuffix("-HSM") ? keyType + "-HSM" : keyType,
            version: Self.newVersion(), tags: try Self.tags(body["tags"]), attributes: attributes)
        try await store.update { state throws in
            if state.keys[name]?.deletion != nil { throw Self.deletedConflict("key", name) }
            state.keys[name, default: VaultObject(versions: [])].versions.append(key)
        }
        return .json(.ok, try keyJSON(name, key))
    }

    /// Get and Update Key Rotation Policy. Policies are kept but never acted on: rotation happens on request.
    private func rotationPolicy(_ request: ServiceRequest, name: String, update: Bool) async throws -> Response {
        let exists = await store.read { state in state.keys[name].map { $0.deletion == nil } ?? false }
        guard exists else { throw Self.notFound("key", name) }
        let id = "\(vaultURL)/keys/\(name)/rotationpolicy"
        let now = Self.now
        if update {
            var policy = try body(request)
            policy["id"] = id
            var attributes = policy["attributes"] as? [String: Any] ?? [:]
            attributes["updated"] = now
            attributes["created"] = attributes["created"] ?? now
            policy["attributes"] = attributes
            let data = try JSONSerialization.data(withJSONObject: policy)
            try await store.update { state throws in
                var policies = state.rotationPolicies ?? [:]
                policies[name] = data
                state.rotationPolicies = policies
            }
            return .json(.ok, policy)
        }
        if let stored = await store.read({ $0.rotationPolicies?[name] }),
            let policy = try? JSONSerialization.jsonObject(with: stored)
        {
            return .json(.ok, policy)
        }
        return .json(
            .ok,
            [
                "id": id,
                "lifetimeActions": [["trigger": ["timeBeforeExpiry": "P30D"], "action": ["type": "Notify"]]],
                "attributes": ["expiryTime": NSNull(), "created": NSNull(), "updated": NSNull()],
            ] as [String: Any])
    }

    private func rotateKey(name: String) async throws -> Response {
        let latest = await store.read { Self.findVersion($0.keys[name], version: "", id: \.version) }
        guard let latest else { throw Self.notFound("key", name) }
        let now = Self.now
        let key = try VaultKeyMaterial.generate(
            keyType: latest.keyType, size: latest.keySize, curve: latest.curve, operations: latest.keyOperations,
            version: Self.newVersion(), tags: latest.tags, attributes: VaultAttributes(created: now, updated: now))
        try await store.update { state throws in
            guard state.keys[name]?.deletion == nil, state.keys[name] != nil else { throw Self.notFound("key", name) }
            state.keys[name]!.versions.append(key)
        }
        return .json(.ok, try keyJSON(name, key))
    }

    private func getKey(name: String, version: String) async throws -> Response {
        let key = await store.read { Self.findVersion($0.keys[name], version: version, id: \.version) }
        guard let key else { throw Self.notFound("key", name, version: version) }
        return .json(.ok, try keyJSON(name, key))
    }

    private func updateKey(_ request: ServiceRequest, name: String, version: String) async throws -> Response {
        let body = try body(request)
        let tags = try Self.tags(body["tags"])
        let updated = try await store.update { state throws -> KeyVersion in
            guard var object = state.keys[name], object.deletion == nil,
                let index = version.isEmpty
                    ? object.versions.indices.last : object.versions.firstIndex(where: { $0.version == version })
            else { throw Self.notFound("key", name, version: version) }
            var key = object.versions[index]
            try Self.apply(body["attributes"], to: &key.attributes)
            if let operations = body["key_ops"] as? [String] { key.keyOperations = operations }
            if body.keys.contains("tags") { key.tags = tags }
            key.attributes.updated = Self.now
            object.versions[index] = key
            state.keys[name] = object
            return key
        }
        return .json(.ok, try keyJSON(name, updated))
    }

    private func listKeys(_ request: ServiceRequest, name: String?) async throws -> Response {
        let items: [[String: Any]]
        let path: String
        if let name {
            path = "/keys/\(name)/versions"
            // Azure answers an empty list for a name it does not know, and orders versions by their ids.
            let versions = await store.read { state in
                (state.keys[name].flatMap { $0.deletion == nil ? $0.versions : nil } ?? []).sorted {
                    $0.version < $1.version
                }
            }
            items = versions.map { keyItem(name, $0, withVersion: true) }
        } else {
            path = "/keys"
            let latest = await store.read { state in
                state.keys.filter { $0.value.deletion == nil }.compactMap { entry in
                    entry.value.versions.last.map { (entry.key, $0) }
                }
                .sorted { $0.0 < $1.0 }
            }
            items = latest.map { keyItem($0.0, $0.1, withVersion: false) }
        }
        let (slice, nextLink) = try page(items, request: request, path: path)
        return .json(.ok, ["value": slice, "nextLink": nextLink.map { $0 as Any } ?? NSNull()])
    }

    private func deleteKey(name: String) async throws -> Response {
        let now = Self.now
        let (key, deletion) = try await store.update { state throws -> (KeyVersion, Deletion) in
            guard var object = state.keys[name], object.deletion == nil, let latest = object.versions.last else {
                throw Self.notFound("key", name)
            }
            let deletion = Deletion(deletedDate: now, scheduledPurgeDate: now + Self.recoverableDays * 86400)
            object.deletion = deletion
            state.keys[name] = object
            return (latest, deletion)
        }
        return .json(.ok, try keyJSON(name, key).merging(deletionJSON("key", name, deletion)) { $1 })
    }

    private func listDeletedKeys(_ request: ServiceRequest) async throws -> Response {
        let deleted = await store.read { state in
            state.keys.filter { $0.value.deletion != nil }.sorted { $0.key < $1.key }
        }
        let items = deleted.compactMap { entry -> [String: Any]? in
            guard let deletion = entry.value.deletion, let latest = entry.value.versions.last else { return nil }
            return keyItem(entry.key, latest, withVersion: false).merging(deletionJSON("key", entry.key, deletion)) {
                $1
            }
        }
        let (slice, nextLink) = try page(items, request: request, path: "/deletedkeys")
        return .json(.ok, ["value": slice, "nextLink": nextLink.map { $0 as Any } ?? NSNull()])
    }

    private func getDeletedKey(name: String) async throws -> Response {
        let object = await store.read { $0.keys[name] }
        guard let object, let deletion = object.deletion, let latest = object.versions.last else {
            throw Self.deletedNotFound("key", name)
        }
        return .json(.ok, try keyJSON(name, latest).merging(deletionJSON("key", name, deletion)) { $1 })
    }

    private func recoverKey(name: String) async throws -> Response {
        let key = try await store.update { state throws -> KeyVersion in
            guard var object = state.keys[name], object.deletion != nil, let latest = object.versions.last else {
                throw Self.deletedNotFound("key", name)
            }
            object.deletion = nil
            state.keys[name] = object
            return latest
        }
        return .json(.ok, try keyJSON(name, key))
    }

    private func purgeKey(name: String) async throws -> Response {
        try await store.update { state throws in
            guard state.keys[name]?.deletion != nil else { throw Self.deletedNotFound("key", name) }
            state.keys[name] = nil
        }
        return Response(status: .noContent)
    }

    // MARK: Backup and restore

    private struct Backup: Codable {
        var kind: String
        var name: String
        var secret: VaultObject<SecretVersion>?
        var key: VaultObject<KeyVersion>?
    }

    /// Backup Secret / Backup Key: every version of the object, sealed with AES-GCM under the vault's backup key
    /// (Azure's backups are likewise opaque and open only in a vault of the same subscription).
    private func backup(name: String, kind: String) async throws -> Response {
        let backup = await store.read { state -> Backup? in
            if kind == "secret" {
                guard let object = state.secrets[name], object.deletion == nil else { return nil }
                return Backup(kind: kind, name: name, secret: object)
            }
            guard let object = state.keys[name], object.deletion == nil else { return nil }
            return Backup(kind: kind, name: name, key: object)
        }
        guard let backup else { throw Self.notFound(kind, name) }
        let sealed = try await store.sealBackup(try JSONEncoder().encode(backup))
        return .json(.ok, ["value": Base64URL.encode(sealed)])
    }

    private func restore(_ request: ServiceRequest, kind: String) async throws -> Response {
        let body = try body(request)
        guard let text = body["value"] as? String, let data = Base64URL.decode(text),
            let plain = await store.openBackup(data),
            let backup = try? JSONDecoder().decode(Backup.self, from: plain), backup.kind == kind
        else {
            throw BlobServiceError(
                status: 400, code: "BadParameter", message: "Backup blob contains invalid or corrupt version.")
        }
        let name = backup.name
        try await store.update { state throws in
            let exists = kind == "secret" ? state.secrets[name] != nil : state.keys[name] != nil
            if exists {
                throw BlobServiceError(
                    status: 409, code: "Conflict",
                    message:
                        "\(kind == "secret" ? "Secret" : "Key") \(name) already exists and cannot be restored over; delete and purge it first."
                )
            }
            if var secret = backup.secret { secret.deletion = nil; state.secrets[name] = secret }
            if var key = backup.key { key.deletion = nil; state.keys[name] = key }
        }
        if let latest = backup.secret?.versions.last {
            return .json(.ok, secretJSON(name, latest, includeValue: false))
        }
        guard let latest = backup.key?.versions.last else { throw Self.notFound(kind, name) }
        return .json(.ok, try keyJSON(name, latest))
    }

    // MARK: Key operations

    private static let operationNames: [String: String] = [
        "encrypt": "encrypt", "decrypt": "decrypt", "wrapkey": "wrapKey", "unwrapkey": "unwrapKey", "sign": "sign",
        "verify": "verify",
    ]

    private func keyOperation(_ request: ServiceRequest, name: String, version: String, operation: String) async throws
        -> Response
    {
        guard let operationName = Self.operationNames[operation] else {
            throw BlobServiceError(
                status: 405, code: "MethodNotAllowed",
                message: "The requested resource does not support http method 'POST'.")
        }
        let key = await store.read { Self.findVersion($0.keys[name], version: version, id: \.version) }
        guard let key else { throw Self.notFound("key", name, version: version) }
        guard key.attributes.enabled else { throw Self.disabled("key", operation: operationName) }
        guard key.keyOperations.contains(operationName) else {
            throw BlobServiceError(
                status: 403, code: "Forbidden", message: "Operation \(operationName) is not permitted on this key.",
                details: [("innererror", "KeyOperationForbidden")])
        }
        let body = try body(request)
        guard let algorithm = body["alg"] as? String else {
            throw BlobServiceError(status: 400, code: "BadParameter", message: "Property 'alg' is required.")
        }
        guard let valueText = body["value"] as? String, let value = Base64URL.decode(valueText) else {
            throw BlobServiceError(
                status: 400, code: "BadParameter", message: "Property 'value' is required and must be base64url.")
        }
        let kid = "\(vaultURL)/keys/\(name)/\(key.version)"
        switch operationName {
        case "verify":
            guard let signatureText = body["value"] as? String, let digestText = body["digest"] as? String,
                let signature = Base64URL.decode(signatureText), let digest = Base64URL.decode(digestText)
            else {
                throw BlobServiceError(
                    status: 400, code: "BadParameter", message: "Properties 'digest' and 'value' are required.")
            }
            let valid = try VaultKeyMaterial.verify(key, algorithm: algorithm, digest: digest, signature: signature)
            return .json(.ok, ["value": valid])
        case "sign":
            let signature = try VaultKeyMaterial.sign(key, algorithm: algorithm, digest: value)
            return .json(.ok, ["kid": kid, "value": Base64URL.encode(signature)])
        default:
            let parameters = VaultKeyMaterial.CipherParameters(
                iv: (body["iv"] as? String).flatMap(Base64URL.decode),
                aad: (body["aad"] as? String).flatMap(Base64URL.decode),
                tag: (body["tag"] as? String).flatMap(Base64URL.decode))
            let result = try VaultKeyMaterial.cipher(
                key, operation: operationName, algorithm: algorithm, value: value, parameters: parameters)
            var json: [String: Any] = ["kid": kid, "value": Base64URL.encode(result.value)]
            if let iv = result.parameters.iv { json["iv"] = Base64URL.encode(iv) }
            if let tag = result.parameters.tag { json["tag"] = Base64URL.encode(tag) }
            if let aad = result.parameters.aad { json["aad"] = Base64URL.encode(aad) }
            return .json(.ok, json)
        }
    }
}
