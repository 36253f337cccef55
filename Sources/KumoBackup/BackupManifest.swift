import Foundation

/// The record of one backup, written last: a backup exists only once its manifest does.
///
/// Stored as JSON at `rocksdb/<yyyy-MM-dd>/<id>/manifest.json`. `schema` is bumped on any incompatible
/// change; readers refuse schemas they do not know. See docs/backup.md for the format.
public struct BackupManifest: Codable, Sendable, Equatable {
    public static let currentSchema = 1

    /// One file of the backed-up database.
    public struct File: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case sst, manifest, current, options, wal, other }
        /// The file's name in the database directory.
        public var name: String
        public var kind: Kind
        /// The column family of an SST file.
        public var columnFamily: String?
        public var size: Int64
        /// Hex SHA-256 of the content.
        public var sha256: String
        /// Where the file is stored, relative to the target root.
        public var path: String
        /// Whether this backup uploaded it (false: an earlier backup had).
        public var uploaded: Bool
        /// Present when the stored object is encrypted (``EncryptedFileFormat``); `size` and `sha256` are
        /// the plaintext's.
        public var encryption: FileEncryption?
        /// Base64 MD5 of the stored bytes, when the target keeps one for each object (Blob Storage's
        /// Content-MD5): lets a later backup check a copy it reuses from a listing, without reading it.
        public var storedMD5: String?
    }

    /// How one stored file is encrypted: its own random data key, wrapped by a key-encryption key.
    public struct FileEncryption: Codable, Sendable, Equatable {
        /// `KUMOENC1` (chunked AES-256-GCM, see EncryptedFileFormat).
        public var format: String
        public var dataKey: WrappedKey
        /// The stored (encrypted) size.
        public var storedSize: Int64
    }

    /// Present on encrypted backups: an HMAC-SHA256 of the manifest's bytes under a random key wrapped by the
    /// key-encryption key, so no field can be changed, added or removed (encryption stripped, files swapped)
    /// without the key. See ``BackupManifest/sealed(macKey:wrappedKey:)``.
    public struct Authentication: Codable, Sendable, Equatable {
        /// `HMAC-SHA256`.
        public var algorithm: String
        /// The MAC key, wrapped like a data key.
        public var key: WrappedKey
        /// Hex HMAC of the encoded manifest with this value set to 64 zeros.
        public var manifestMAC: String
    }

    public var schema: Int
    public var id: String
    public var label: String?
    public var createdAt: Date
    /// The sequence number of the last write the backup contains.
    public var sequenceNumber: UInt64
    public var columnFamilies: [String]
    public var files: [File]
    public var kumoVersion: String
    public var rocksDBVersion: String
    public var sourceHost: String
    public var sourcePath: String
    public var durationSeconds: Double
    public var authentication: Authentication?

    public var totalBytes: Int64 { files.reduce(0) { $0 + $1.size } }
    public var uploadedBytes: Int64 { files.filter(\.uploaded).reduce(0) { $0 + $1.size } }

    /// The manifest's own path for a backup id and date.
    public static func path(id: String, createdAt: Date) -> String {
        "rocksdb/\(dayString(createdAt))/\(id)/manifest.json"
    }

    static func dayString(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: date)
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Self.timestamp.string(from: date))
        }
        return Array(try encoder.encode(self))
    }

    /// ISO 8601 in UTC with milliseconds: `2026-11-25T19:26:54.123Z`.
    static var timestamp: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }

    /// Decodes and validates (``validate(path:)``) a manifest read from `path`.
    /// - Throws: ``BackupError`` `.corrupt` naming `path` when it is too large, does not parse, has a newer
    ///   schema, or holds a name, path, id or size that is not allowed.
    public static func decode(_ bytes: [UInt8], path: String) throws -> BackupManifest {
        guard bytes.count <= maximumEncodedSize else {
            throw BackupError(.corrupt, "manifest \(path) has \(bytes.count) bytes; manifests are at most \(maximumEncodedSize)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Self.timestamp.date(from: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an ISO 8601 time"))
            }
            return date
        }
        let manifest: BackupManifest
        do {
            manifest = try decoder.decode(BackupManifest.self, from: Data(bytes))
        } catch {
            throw BackupError(.corrupt, "manifest \(path) does not parse (\(bytes.count) bytes): \(printable(String(describing: error)))")
        }
        guard manifest.schema <= currentSchema else {
            throw BackupError(.corrupt, "manifest \(path) has schema \(manifest.schema); this Kumo reads up to \(currentSchema)")
        }
        try manifest.validate(path: path)
        return manifest
    }
}
