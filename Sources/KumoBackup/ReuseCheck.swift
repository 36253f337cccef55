import Crypto
import Foundation

/// Decides whether a stored SST may be reused by a new backup: a copy damaged at rest, or replaced by someone
/// with write access, must not be referenced by one backup after another.
///
/// Where the target keeps a digest of each object (Blob Storage's Content-MD5, in the listing) the check costs
/// nothing extra: it is compared with the MD5 the manifest recorded when the object was uploaded (for a plain
/// copy recorded by an older Kumo, with the MD5 of the local file). Where the target keeps none (a local
/// directory) the stored copy is read and checked in full: its SHA-256, or for an encrypted copy every chunk's
/// authentication and the plaintext's SHA-256.
struct ReuseCheck {
    let engine: BackupEngine
    let target: any BackupTarget

    func isReusable(_ file: BackupManifest.File, stored: StoredObject, local: String) async throws -> Bool {
        if let encryption = file.encryption {
            guard let kek = engine.keyEncryptionKey, kek.canUnwrap(keyID: encryption.dataKey.kekID),
                stored.size == encryption.storedSize
            else { return false }
            if let storedMD5 = stored.contentMD5 { return recordedMD5(file) == storedMD5 }
        } else {
            guard stored.size == file.size else { return false }
            if let storedMD5 = stored.contentMD5 {
                if let recorded = recordedMD5(file) { return recorded == storedMD5 }
                return try await LocalFileIO.run { try FileHashing.md5(ofFileAt: local) } == storedMD5
            }
        }
        return try await engine.readsBack(file, scratch: local + ".reuse")
    }

    private func recordedMD5(_ file: BackupManifest.File) -> [UInt8]? {
        file.storedMD5.flatMap { Data(base64Encoded: $0) }.map(Array.init)
    }
}
