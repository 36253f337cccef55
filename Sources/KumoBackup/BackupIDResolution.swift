import Foundation

extension BackupEngine {
    /// The full id of the one backup `reference` names: `latest`, a full id, a unique prefix of one
    /// (`20261204T0312`), or a unique prefix of the random part after the dash (`866bce`), which is what people
    /// copy from a listing.
    /// - Throws: ``BackupError`` `.notFound` when nothing matches (naming the target and the newest backups),
    ///   `.invalidArgument` when several backups match (naming them).
    public func resolveID(_ reference: String) async throws -> String {
        let ids = try await manifestPaths().compactMap { path -> String? in
            let directory = (path as NSString).deletingLastPathComponent
            let id = (directory as NSString).lastPathComponent
            return BackupManifest.isValidID(id) ? id : nil
        }
        if reference == "latest" {
            guard let newest = ids.last else { throw BackupError(.notFound, "there are no backups in \(target.description)") }
            return newest
        }
        if ids.contains(reference) { return reference }
        let text = BackupManifest.printable(reference)
        let matches = reference.isEmpty ? [] : ids.filter { id in
            id.hasPrefix(reference) || id.split(separator: "-").last.map { $0.hasPrefix(reference) } == true
        }
        switch matches.count {
        case 1:
            return matches[0]
        case 0:
            let newest = ids.suffix(3).reversed().joined(separator: ", ")
            let known = ids.isEmpty ? "there are no backups there" : "\(ids.count == 1 ? "the only backup is" : "the newest are") \(newest)"
            throw BackupError(.notFound, "backup '\(text)' not found in \(target.description) (\(known); 'kumo backup list' shows them all)")
        default:
            let shown = matches.prefix(5).joined(separator: ", ") + (matches.count > 5 ? ", ..." : "")
            throw BackupError(.invalidArgument, "'\(text)' matches \(matches.count) backups in \(target.description): \(shown); give more of the id")
        }
    }
}
