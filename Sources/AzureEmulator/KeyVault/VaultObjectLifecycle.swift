import Foundation
import Hummingbird

/// The kinds of object the vault keeps versions of.
enum VaultObjectKind: String, Sendable {
    case secret
    case key

    /// `Secret` or `Key`, as Key Vault's messages and error codes name the kind.
    var title: String {
        switch self {
        case .secret: "Secret"
        case .key: "Key"
        }
    }

    /// The collection under the vault URL (`secrets`, `keys`); deleted objects are under `deleted<collection>`.
    var collection: String { "\(rawValue)s" }
}

/// One version of a secret or a key. Secrets and keys share their lifecycle (versions, listing, update, soft
/// delete, recovery, purge, backup); this is what that lifecycle needs of each kind.
protocol VaultVersion: Codable, Sendable {
    static var kind: VaultObjectKind { get }
    /// Where the vault keeps the objects of this kind, by name.
    static var objects: WritableKeyPath<VaultState, [String: VaultObject<Self>]> { get }
    /// Where a backup of this kind carries its object.
    static var backupObject: WritableKeyPath<VaultBackup, VaultObject<Self>?> { get }

    var version: String { get }
    var attributes: VaultAttributes { get set }
    var tags: [String: String]? { get set }

    /// The bundle Key Vault answers for this version: a secret without its value, a key with its public members.
    func bundle(name: String, vaultURL: String) throws -> [String: Any]
    /// This version as an item of a list: its id names the version when `withVersion`, else only the object.
    func item(name: String, vaultURL: String, withVersion: Bool) -> [String: Any]
    /// Applies the members of an Update request body only this kind has (a secret's `contentType`, a key's
    /// `key_ops`).
    mutating func update(from body: [String: Any])
}

extension VaultAttributes {
    /// The `attributes` member of a bundle or item.
    func json(exportable: Bool? = nil) -> [String: Any] {
        var json: [String: Any] = [
            "enabled": enabled, "created": created, "updated": updated,
            "recoveryLevel": KeyVaultResponder.recoveryLevel, "recoverableDays": KeyVaultResponder.recoverableDays,
        ]
        if let notBefore { json["nbf"] = notBefore }
        if let expires { json["exp"] = expires }
        if let exportable { json["exportable"] = exportable }
        return json
    }
}

/// The operations secrets and keys answer alike: list, list versions, update, delete, backup, restore, and on
/// the deleted collection get, list, recover and purge.
extension KeyVaultResponder {
    /// Routes a request under `secrets` or `keys` that either kind answers the same way; nil for the others.
    func routeLifecycle<V: VaultVersion>(_ type: V.Type, _ request: ServiceRequest) async throws -> Response? {
        let s = request.segments
        switch (request.method, s.count) {
        case (.get, 1): return try await list(V.self, request, name: nil)
        case (.post, 2) where s[1] == "restore": return try await restore(V.self, request)
        case (.post, 3) where s[2] == "backup": return try await backup(V.self, name: s[1])
        case (.delete, 2): return try await delete(V.self, name: s[1])
        case (.get, 3) where s[2] == "versions": return try await list(V.self, request, name: s[1])
        case (.patch, 2): return try await update(V.self, request, name: s[1], version: "")
        case (.patch, 3): return try await update(V.self, request, name: s[1], version: s[2])
        default: return nil
        }
    }

    /// Routes a request under `deletedsecrets` or `deletedkeys`; nil for one neither answers.
    func routeDeleted<V: VaultVersion>(_ type: V.Type, _ request: ServiceRequest) async throws -> Response? {
        let s = request.segments
        switch (request.method, s.count) {
        case (.get, 1): return try await listDeleted(V.self, request)
        case (.get, 2): return try await getDeleted(V.self, name: s[1])
        case (.delete, 2): return try await purge(V.self, name: s[1])
        case (.post, 3) where s[2] == "recover": return try await recover(V.self, name: s[1])
        default: return nil
        }
    }

    /// `version` of a live object, or its latest version when `version` is empty.
    static func findVersion<V: VaultVersion>(_ object: VaultObject<V>?, version: String) -> V? {
        guard let object, object.deletion == nil else { return nil }
        if version.isEmpty { return object.versions.last }
        return object.versions.first { $0.version == version }
    }

    /// Adds `newVersion` as the latest version of `name` (Set Secret, Create Key, Import Key); the name of a
    /// deleted object cannot be reused until it is recovered or purged.
    func addVersion<V: VaultVersion>(_ newVersion: V, name: String) async throws {
        try await store.update { state throws in
            if state[keyPath: V.objects][name]?.deletion != nil { throw Self.deletedConflict(V.kind, name) }
            state[keyPath: V.objects][name, default: VaultObject(versions: [])].versions.append(newVersion)
        }
    }

    /// Get Secrets / Get Keys (the latest version of every live object, by name), or with `name` Get Secret
    /// Versions / Get Key Versions.
    func list<V: VaultVersion>(_ type: V.Type, _ request: ServiceRequest, name: String?) async throws -> Response {
        let items: [[String: Any]]
        let path: String
        if let name {
            path = "/\(V.kind.collection)/\(name)/versions"
            // Azure answers an empty list for a name it does not know, and orders versions by their ids.
            let versions = await store.read { state in
                (state[keyPath: V.objects][name].flatMap { $0.deletion == nil ? $0.versions : nil } ?? []).sorted {
                    $0.version < $1.version
                }
            }
            items = versions.map { $0.item(name: name, vaultURL: vaultURL, withVersion: true) }
        } else {
            path = "/\(V.kind.collection)"
            let latest = await store.read { state in
                state[keyPath: V.objects].filter { $0.value.deletion == nil }.compactMap { entry in
                    entry.value.versions.last.map { (entry.key, $0) }
                }
                .sorted { $0.0 < $1.0 }
            }
            items = latest.map { $0.1.item(name: $0.0, vaultURL: vaultURL, withVersion: false) }
        }
        let (slice, nextLink) = try page(items, request: request, path: path)
        return .json(.ok, ["value": slice, "nextLink": nextLink.map { $0 as Any } ?? NSNull()])
    }

    /// Update Secret / Update Key: attributes, tags and the kind's own members of one version (the latest when
    /// `version` is empty).
    func update<V: VaultVersion>(
        _ type: V.Type, _ request: ServiceRequest, name: String, version: String
    ) async throws -> Response {
        let body = try body(request)
        let tags = try Self.tags(body["tags"])
        let updated = try await store.update { state throws -> V in
            guard var object = state[keyPath: V.objects][name], object.deletion == nil,
                let index = version.isEmpty
                    ? object.versions.indices.last : object.versions.firstIndex(where: { $0.version == version })
            else { throw Self.notFound(V.kind, name, version: version) }
            var changed = object.versions[index]
            try Self.apply(body["attributes"], to: &changed.attributes)
            changed.update(from: body)
            if body.keys.contains("tags") { changed.tags = tags }
            changed.attributes.updated = Self.now
            object.versions[index] = changed
            state[keyPath: V.objects][name] = object
            return changed
        }
        return .json(.ok, try updated.bundle(name: name, vaultURL: vaultURL))
    }

    // MARK: Soft delete

    /// Delete Secret / Delete Key: the object stays recoverable for ``recoverableDays``.
    func delete<V: VaultVersion>(_ type: V.Type, name: String) async throws -> Response {
        let now = Self.now
        let (latest, deletion) = try await store.update { state throws -> (V, Deletion) in
            guard var object = state[keyPath: V.objects][name], object.deletion == nil,
                let latest = object.versions.last
            else { throw Self.notFound(V.kind, name) }
            let deletion = Deletion(deletedDate: now, scheduledPurgeDate: now + Self.recoverableDays * 86400)
            object.deletion = deletion
            state[keyPath: V.objects][name] = object
            return (latest, deletion)
        }
        return .json(
            .ok, try latest.bundle(name: name, vaultURL: vaultURL).merging(deletionJSON(V.kind, name, deletion)) { $1 })
    }

    /// Get Deleted Secrets / Get Deleted Keys.
    func listDeleted<V: VaultVersion>(_ type: V.Type, _ request: ServiceRequest) async throws -> Response {
        let deleted = await store.read { state in
            state[keyPath: V.objects].filter { $0.value.deletion != nil }.sorted { $0.key < $1.key }
        }
        let items = deleted.compactMap { entry -> [String: Any]? in
            guard let deletion = entry.value.deletion, let latest = entry.value.versions.last else { return nil }
            return latest.item(name: entry.key, vaultURL: vaultURL, withVersion: false)
                .merging(deletionJSON(V.kind, entry.key, deletion)) { $1 }
        }
        let (slice, nextLink) = try page(items, request: request, path: "/deleted\(V.kind.collection)")
        return .json(.ok, ["value": slice, "nextLink": nextLink.map { $0 as Any } ?? NSNull()])
    }

    /// Get Deleted Secret / Get Deleted Key.
    func getDeleted<V: VaultVersion>(_ type: V.Type, name: String) async throws -> Response {
        let object = await store.read { $0[keyPath: V.objects][name] }
        guard let object, let deletion = object.deletion, let latest = object.versions.last else {
            throw Self.deletedNotFound(V.kind, name)
        }
        return .json(
            .ok, try latest.bundle(name: name, vaultURL: vaultURL).merging(deletionJSON(V.kind, name, deletion)) { $1 })
    }

    /// Recover Deleted Secret / Recover Deleted Key.
    func recover<V: VaultVersion>(_ type: V.Type, name: String) async throws -> Response {
        let latest = try await store.update { state throws -> V in
            guard var object = state[keyPath: V.objects][name], object.deletion != nil,
                let latest = object.versions.last
            else { throw Self.deletedNotFound(V.kind, name) }
            object.deletion = nil
            state[keyPath: V.objects][name] = object
            return latest
        }
        return .json(.ok, try latest.bundle(name: name, vaultURL: vaultURL))
    }

    /// Purge Deleted Secret / Purge Deleted Key.
    func purge<V: VaultVersion>(_ type: V.Type, name: String) async throws -> Response {
        try await store.update { state throws in
            guard state[keyPath: V.objects][name]?.deletion != nil else { throw Self.deletedNotFound(V.kind, name) }
            state[keyPath: V.objects][name] = nil
        }
        return Response(status: .noContent)
    }

    private func deletionJSON(_ kind: VaultObjectKind, _ name: String, _ deletion: Deletion) -> [String: Any] {
        [
            "recoveryId": "\(vaultURL)/deleted\(kind.collection)/\(name)", "deletedDate": deletion.deletedDate,
            "scheduledPurgeDate": deletion.scheduledPurgeDate,
        ]
    }
}
