import Crypto
import Foundation
import KumoKV

/// What `repair` found and did.
public struct RepairReport: Sendable, Codable {
    /// Stored objects the backups reference, each read back in full.
    public var filesChecked: Int
    /// Stored objects that are missing or whose content fails its check.
    public var damaged: [String]
    /// Damaged objects stored again from an identical file of the live store.
    public var repaired: [String]
    /// Backups that cannot be restored, with the damaged objects each still needs (and unreadable manifests).
    public var unrestorable: [String: [String]]
    public var dryRun: Bool
}

extension BackupEngine {
    /// Reads back every object the target's backups reference; stores damaged or missing ones again from the
    /// live `store` when it still has an identical file (same SHA-256), and names every backup the rest of the
    /// damage makes unrestorable. Encrypted objects are stored under a new data key, and every manifest that
    /// references them is rewritten and sealed again (this needs the engine's key-encryption key).
    /// - Throws: ``BackupError`` `.interrupted` when the task is cancelled, saying how far it got, after its
    ///   scratch directory and checkpoint are removed and the lock released.
    public func repair(from store: Store, dryRun: Bool = false) async throws -> RepairReport {
        let ledger = InterruptionLedger()
        let readBack = WorkTally()
        let storedAgain = WorkTally()
        return try await interruptible(ledger) {
            try await withTargetLock(ledger) {
                do {
                    return try await repair(from: store, dryRun: dryRun, ledger: ledger, readBack: readBack, storedAgain: storedAgain)
                } catch {
                    if storedAgain.current.started {
                        ledger.note("stored again \(storedAgain.text("damaged object"))")
                        ledger.note("manifests that reference re-encrypted objects may still name their old data keys; run repair again to finish")
                    } else {
                        ledger.note("read back \(readBack.text("stored file")); nothing was stored again")
                    }
                    throw error
                }
            }
        }
    }

    private func repair(
        from store: Store, dryRun: Bool, ledger: InterruptionLedger, readBack: WorkTally, storedAgain: WorkTally
    ) async throws -> RepairReport {
        let (stored, unreadable) = try await storedManifests()
        var unrestorable: [String: [String]] = [:]
        for entry in unreadable { unrestorable[entry.path] = ["manifest does not read: \(entry.error)"] }
        var manifests: [StoredManifest] = []
        for entry in stored {
            do {
                _ = try await authenticated(entry)
                manifests.append(entry)
            } catch let error as BackupError where error.code == .corrupt {
                unrestorable[entry.manifest.id] = [error.message]
            }
        }
        // Each distinct stored object once, with the entry that describes it.
        var byPath: [String: BackupManifest.File] = [:]
        for entry in manifests { for file in entry.manifest.files where byPath[file.path] == nil { byPath[file.path] = file } }
        let files = byPath.values.sorted { $0.path < $1.path }
        let scratch = try RestoreStaging.create(beside: RestoreStaging.scratchParent + "/kumo-repair")
        readBack.begin(total: files.count)
        let sound: [Bool]
        do {
            sound = try await boundedMap(files, limit: concurrency) { file in
                try Task.checkCancellation()
                let sound = try await self.readsBack(file, scratch: scratch.data + "/" + UUID().uuidString)
                readBack.add()
                return sound
            }
        } catch {
            ledger.note(scratch.removalNote("scratch directory"))
            throw error
        }
        scratch.remove()
        let damaged = zip(files, sound).filter { !$0.1 }.map(\.0)
        guard !damaged.isEmpty else {
            return RepairReport(filesChecked: files.count, damaged: [], repaired: [], unrestorable: unrestorable, dryRun: dryRun)
        }

        // Identical files of the live store, found by content.
        let checkpointPath = store.path + ".kumo-backup-repair-\(UUID().uuidString.prefix(8))"
        Self.beginCheckpoint(checkpointPath, of: store)
        do {
            let report = try await repair(
                damaged, files: files, manifests: manifests, unrestorable: unrestorable, from: store, checkpointPath: checkpointPath,
                dryRun: dryRun, storedAgain: storedAgain)
            Self.endCheckpoint(checkpointPath)
            return report
        } catch {
            if let removal = Self.endCheckpoint(checkpointPath) { ledger.note(removal) }
            throw error
        }
    }

    /// Stores `damaged` objects again from identical files of the live store, checkpointed at `checkpointPath`.
    private func repair(
        _ damaged: [BackupManifest.File], files: [BackupManifest.File], manifests: [StoredManifest], unrestorable: [String: [String]],
        from store: Store, checkpointPath: String, dryRun: Bool, storedAgain: WorkTally
    ) async throws -> RepairReport {
        let target = self.target
        var unrestorable = unrestorable
        _ = try await store.checkpoint(to: checkpointPath)
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpointPath)
        let hashed = try await boundedMap(names, limit: concurrency) { name in
            try Task.checkCancellation()
            return (name, try FileHashing.sha256(ofFileAt: checkpointPath + "/" + name))
        }
        var local: [String: String] = [:]
        for (name, digest) in hashed { local["\(digest.hex)/\(digest.size)"] = checkpointPath + "/" + name }

        var repaired: [String] = []
        var newEncryption: [String: (encryption: BackupManifest.FileEncryption, storedMD5: String?)] = [:]
        let sources = damaged.filter { local["\($0.sha256)/\($0.size)"] != nil && ($0.encryption == nil || keyEncryptionKey != nil) }
        if !dryRun { storedAgain.begin(total: sources.count) }
        for file in damaged {
            guard let source = local["\(file.sha256)/\(file.size)"], file.encryption == nil || keyEncryptionKey != nil else { continue }
            repaired.append(file.path)
            if dryRun { continue }
            try Task.checkCancellation()
            if let kek = keyEncryptionKey, file.encryption != nil {
                let dataKey = SymmetricKey(size: .bits256)
                let md5 = try await target.upload(encrypting: source, key: dataKey.withUnsafeBytes { Data($0) }, to: file.path)
                newEncryption[file.path] = (
                    .init(format: "KUMOENC1", dataKey: try await kek.wrap(dataKey),
                          storedSize: Int64(EncryptedFileFormat.encryptedSize(plaintextLength: UInt64(file.size)))),
                    md5.map { Data($0).base64EncodedString() })
            } else {
                _ = try await target.upload(file: source, to: file.path)
            }
            storedAgain.add()
        }
        // Manifests that reference a re-encrypted object now carry its new data key.
        if !newEncryption.isEmpty {
            for entry in manifests where entry.manifest.files.contains(where: { newEncryption[$0.path] != nil }) {
                try Task.checkCancellation()
                var manifest = entry.manifest
                for index in manifest.files.indices {
                    if let replaced = newEncryption[manifest.files[index].path] {
                        manifest.files[index].encryption = replaced.encryption
                        manifest.files[index].storedMD5 = replaced.storedMD5
                    }
                }
                manifest.authentication = nil
                try await target.write(try await Self.encode(manifest, sealedBy: keyEncryptionKey), to: entry.path, createOnly: false)
            }
        }
        let lost = Set(damaged.map(\.path)).subtracting(repaired)
        for entry in manifests {
            let needs = entry.manifest.files.map(\.path).filter(lost.contains)
            if !needs.isEmpty { unrestorable[entry.manifest.id] = needs }
        }
        return RepairReport(filesChecked: files.count, damaged: damaged.map(\.path), repaired: repaired, unrestorable: unrestorable, dryRun: dryRun)
    }

    /// Whether the stored object for `file` is present and reads back to its recorded SHA-256.
    func readsBack(_ file: BackupManifest.File, scratch: String) async throws -> Bool {
        let name = "\(file.name) (\(file.path))"
        do {
            if let encryption = file.encryption {
                let keyBytes = try await unwrap(encryption.dataKey, backupID: "", file: name).withUnsafeBytes { Data($0) }
                return try await target.withLocalFile(file.path, scratch: scratch, expectedSize: encryption.storedSize) { handle in
                    try EncryptedFileFormat.decryptAndHash(handle, storedSize: UInt64(encryption.storedSize), to: nil, key: SymmetricKey(data: keyBytes), name: name).sha256
                } == file.sha256
            }
            return try await target.withLocalFile(file.path, scratch: scratch, expectedSize: file.size) { handle in
                try FileHashing.sha256(of: handle, name: name).hex
            } == file.sha256
        } catch let error as BackupError where error.code == .corrupt || error.code == .notFound {
            return false
        }
    }
}
