import Foundation
import KumoKV

/// List Blobs over the `blobs` family, where all entries of one name (current, versions, soft-deleted) are
/// adjacent.
extension BlobStorage {
    /// One entry of a blob listing: a blob (current, a previous version, or soft-deleted), or a virtual
    /// directory when a delimiter is given.
    enum ListingEntry {
        case blob(BlobRecord, kind: ListingKind)
        case prefix(String)
    }

    enum ListingKind { case current, version, deleted, deletedVersion }

    /// What a listing shows besides current blobs.
    struct ListingInclude {
        var versions = false
        var deleted = false
    }

    /// List Blobs. Pages end between names, so with `include=versions` a page holds every version of its
    /// last name and may be longer than `limit`.
    func listBlobs(
        _ account: String, _ container: String, prefix: String, delimiter: String?, marker: String?, limit: Int,
        include: ListingInclude = ListingInclude()
    ) async throws -> ([ListingEntry], next: String?) {
        try requireContainer(account, container)
        let namePrefix = MetadataKey.prefix([account, container], partial: prefix)
        var lower = namePrefix
        if let marker, marker > prefix { lower = Self.key(account, container, marker) }
        let range = KeyRange(lower: lower, upper: KeyRange.prefix(namePrefix).upper)
        var entries: [ListingEntry] = []
        var lastPrefix: String?
        var groupName: String?
        var group: [(BlobRecord, ListingKind)] = []

        // Returns the next marker when the page is full before `name`.
        func flush() -> String? {
            guard let name = groupName else { return nil }
            defer { group = [] }
            var visible: [(BlobRecord, ListingKind)] = []
            for (record, kind) in group {
                switch kind {
                case .current: visible.append((record, kind))
                case .version: if include.versions { visible.append((record, kind)) }
                case .deleted, .deletedVersion: if include.deleted && !isExpired(record) { visible.append((record, kind)) }
                }
            }
            guard !visible.isEmpty else { return nil }
            if let lastPrefix, name.hasPrefix(lastPrefix) { return nil }
            if entries.count >= limit { return name }
            if let delimiter, !delimiter.isEmpty, let range = name.dropFirst(prefix.count).range(of: delimiter) {
                let directory = String(name[..<range.upperBound])
                entries.append(.prefix(directory))
                lastPrefix = directory
                return nil
            }
            // Versions oldest first with the current version in its place; the soft-deleted blob last.
            visible.sort { a, b in
                if (a.1 == .deleted) != (b.1 == .deleted) { return b.1 == .deleted }
                return (a.0.versionID ?? "") < (b.0.versionID ?? "")
            }
            for (record, kind) in visible { entries.append(.blob(record, kind: kind)) }
            return nil
        }

        for try await entry in store.scan(range, in: Self.blobs) {
            let parts = Self.parts(of: entry.key)
            guard parts.count >= 3, let record = try decode(BlobRecord.self, entry.value) else { continue }
            var kind: ListingKind = parts.count == 3 ? .current : (parts[3] == "d" ? .deleted : .version)
            if kind == .version && record.deletedTime != nil {
                // A soft-deleted version shows only when both versions and deleted blobs are asked for.
                guard include.versions else { continue }
                kind = .deletedVersion
            }
            if parts[2] != groupName {
                if let next = flush() { return (entries, next) }
                groupName = parts[2]
            }
            group.append((record, kind))
        }
        if let next = flush() { return (entries, next) }
        return (entries, nil)
    }
}
