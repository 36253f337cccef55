import Crypto
import Foundation

/// Decides whether a stored SST may be reused by a new backup: a copy damaged at rest, or replaced by someone
/// with write access, must not be referenced by one backup after another.
///
/// Where the target keeps a digest of each object (Blob Storage's Content-MD5, in the listing) the check costs
/// nothing extra: it is compared with the MD5 of the local file, or for an encrypted copy with the MD5 the
/// manifest recorded when it was uploaded. Where it keeps none (a local directory) the stored copy is read and
/// checked in full: its SHA-256, or for an encrypted copy every chunk's authentication and the plaintext's
/// SHA-256.
struct ReuseCheck {
    let engine: BackupEngine
    let target: any BackupTarget

    func isReusable(_ file: BackupManifest.File, stored: StoredObject, local: String) async throws -> Bool {
        let name = "\(file.name) (\(file.path))"
        if let encryption = file.encryption {
            guard let kek = engine.keyEncryptionKey, kek.canUnwrap(keyID: encryption.dataKey.kekID),
                stored.size == encryption.storedSize
            else { return false }
            if let storedMD5 = stored.contentMD5 {
                return encryption.storedMD5.flatMap { Data(base64Encoded: $0) }.map(Array.init) == storedMD5
            }
            let keyBytes = try await kek.unwrap(encryption.dataKey).withUnsafeBytes { Data($0) }
            return try await readsBack(file, scratch: local + ".reuse", storedSize: encryption.storedSize) { handle in
                try EncryptedFileFormat.decryptAndHash(
                    handle, storedSize: UInt64(encryption.storedSize), to: nil, key: SymmetricKey(data: keyBytes), name: name
                ).sha256
            }
        }
        guard stored.size == file.size else { return false }
        if let storedMD5 = stored.contentMD5 {
            return try await LocalFileIO.run { try FileHashing.md5(ofFileAt: local) } == storedMD5
        }
        return try await readsBack(file, scratch: local + ".reuse", storedSize: file.size) { handle in
            try FileHashing.sha256(of: handle, name: name).hex
        }
    }

    /// Whether the stored copy reads back to the recorded SHA-256; a damaged copy is an answer, not an error.
    private func readsBack(
        _ file: BackupManifest.File, scratch: String, storedSize: Int64, _ hash: @escaping @Sendable (FileHandle) throws -> String
    ) async throws -> Bool {
        do {
            return try await target.withLocalFile(file.path, scratch: scratch, expectedSize: storedSize, hash) == file.sha256
        } catch let error as BackupError where error.code == .corrupt {
            return false
        }
    }
}
