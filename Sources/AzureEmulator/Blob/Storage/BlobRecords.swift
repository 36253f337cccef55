import Foundation

/// A container as the emulator keeps it.
struct ContainerRecord: Codable, Sendable {
    var name: String
    var etag: String
    var lastModified: Date
    var metadata: [String: String]
    var lease: LeaseRecord? = nil
}

/// The HTTP properties a blob carries (set by Put Blob, Put Block List and Set Blob Properties).
struct BlobHTTPProperties: Codable, Sendable, Equatable {
    var contentType: String?
    var contentEncoding: String?
    var contentLanguage: String?
    var contentDisposition: String?
    var cacheControl: String?
    /// Base64 MD5 of the whole content.
    var contentMD5: String?
}

/// One data file and how many of its bytes belong to the blob.
struct DataPart: Codable, Sendable, Equatable {
    var file: String
    var length: Int64
}

/// A block staged by Put Block or committed by Put Block List.
struct BlockRecord: Codable, Sendable, Equatable {
    var id: String
    var part: DataPart
    /// When Put Block staged it; uncommitted blocks are discarded a week after a blob's last Put Block.
    /// Absent in records written before this was kept.
    var staged: Date? = nil
}

/// A committed block blob: its content is the concatenation of `parts`.
struct BlobRecord: Codable, Sendable {
    var name: String
    var created: Date
    var lastModified: Date
    var etag: String
    var properties: BlobHTTPProperties
    var metadata: [String: String]
    var parts: [DataPart]
    /// The committed block list (empty for a blob written by Put Blob).
    var committedBlocks: [BlockRecord]
    /// The lease on the current blob (never on versions or soft-deleted blobs).
    var lease: LeaseRecord? = nil
    /// Azure's version id (the write time, `2023-01-12T02:30:38.1593995Z`) when the account keeps versions.
    var versionID: String? = nil
    /// For a soft-deleted blob: when it was deleted, and for how many days it is kept.
    var deletedTime: Date? = nil
    var retentionDays: Int? = nil

    var size: Int64 { parts.reduce(0) { $0 + $1.length } }
}
