import AzureCore
import Foundation

/// Conditions on a request, checked by the service against the resource's current state.
public struct BlobRequestConditions: Sendable, Equatable {
    /// Proceed only if the ETag matches (`*` for "exists").
    public var ifMatch: String?
    /// Proceed only if the ETag does not match (`*` for "does not exist").
    public var ifNoneMatch: String?
    public var ifModifiedSince: Date?
    public var ifUnmodifiedSince: Date?
    /// The active lease id, required for writes to a leased blob.
    public var leaseID: String?

    public init(ifMatch: String? = nil, ifNoneMatch: String? = nil, ifModifiedSince: Date? = nil,
                ifUnmodifiedSince: Date? = nil, leaseID: String? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
        self.ifUnmodifiedSince = ifUnmodifiedSince
        self.leaseID = leaseID
    }

    /// Create only: fail with 409 `BlobAlreadyExists` if the blob exists.
    public static let ifNotExists = BlobRequestConditions(ifNoneMatch: "*")

    func apply(to headers: inout HTTPHeaderFields) {
        if let ifMatch { headers["If-Match"] = ifMatch }
        if let ifNoneMatch { headers["If-None-Match"] = ifNoneMatch }
        if let ifModifiedSince { headers["If-Modified-Since"] = HTTPDateFormat.rfc1123(ifModifiedSince) }
        if let ifUnmodifiedSince { headers["If-Unmodified-Since"] = HTTPDateFormat.rfc1123(ifUnmodifiedSince) }
        if let leaseID { headers["x-ms-lease-id"] = leaseID }
    }
}

/// The standard HTTP properties of a blob.
public struct BlobHTTPHeaders: Sendable, Equatable {
    public var contentType: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var contentDisposition: String?
    public var cacheControl: String?
    /// The MD5 of the whole content (16 bytes), stored with the blob.
    public var contentMD5: [UInt8]?

    public init(contentType: String? = nil, contentEncoding: String? = nil, contentLanguage: String? = nil,
                contentDisposition: String? = nil, cacheControl: String? = nil, contentMD5: [UInt8]? = nil) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.contentLanguage = contentLanguage
        self.contentDisposition = contentDisposition
        self.cacheControl = cacheControl
        self.contentMD5 = contentMD5
    }

    func apply(to headers: inout HTTPHeaderFields) {
        if let contentType { headers["x-ms-blob-content-type"] = contentType }
        if let contentEncoding { headers["x-ms-blob-content-encoding"] = contentEncoding }
        if let contentLanguage { headers["x-ms-blob-content-language"] = contentLanguage }
        if let contentDisposition { headers["x-ms-blob-content-disposition"] = contentDisposition }
        if let cacheControl { headers["x-ms-blob-cache-control"] = cacheControl }
        if let contentMD5 { headers["x-ms-blob-content-md5"] = Data(contentMD5).base64EncodedString() }
    }
}

/// Lease state of a blob or container.
public enum LeaseState: String, Sendable { case available, leased, expired, breaking, broken }

/// Properties of a container.
public struct ContainerProperties: Sendable {
    public var etag: String
    public var lastModified: Date?
    public var metadata: [String: String]
    public var leaseState: LeaseState?
}

/// A container in a listing.
public struct ContainerItem: Sendable {
    public var name: String
    public var properties: ContainerProperties
}

/// Properties of a blob.
public struct BlobProperties: Sendable {
    public var contentLength: Int64
    public var etag: String
    public var lastModified: Date?
    public var createdOn: Date?
    public var blobType: String?
    public var httpHeaders: BlobHTTPHeaders
    public var metadata: [String: String]
    public var leaseState: LeaseState?
    /// The version id, on accounts with versioning enabled.
    public var versionID: String?
    public var isCurrentVersion: Bool?
    /// Soft-deleted blobs in a listing that includes them.
    public var isDeleted: Bool
    public var accessTier: String?
}

/// A blob in a listing.
public struct BlobItem: Sendable {
    public var name: String
    public var properties: BlobProperties
    public var versionID: String? { properties.versionID }
}

/// An entry of a listing by hierarchy: a blob, or a virtual directory ending in the delimiter.
public enum BlobHierarchyItem: Sendable {
    case blob(BlobItem)
    case prefix(String)
}

/// A block of a block list.
public struct BlockInfo: Sendable, Equatable {
    /// The block id as sent (base64).
    public var id: String
    public var size: Int64
}

/// Committed and uncommitted blocks of a blob.
public struct BlockList: Sendable, Equatable {
    public var committed: [BlockInfo]
    public var uncommitted: [BlockInfo]
}

/// What a write returned.
public struct BlobWriteResult: Sendable {
    public var etag: String
    public var lastModified: Date?
    public var versionID: String?
    /// The MD5 the service computed over the request body, when it sent one.
    public var contentMD5: [UInt8]?
    /// The blob's Content-MD5 as this upload set it: the MD5 of the whole content, computed by the client (for
    /// an upload in blocks, not what the service returns for the block list).
    public var blobContentMD5: [UInt8]?
}

extension BlobProperties {
    init(headers: HTTPHeaderFields) {
        contentLength = headers["x-ms-blob-content-length"].flatMap(Int64.init)
            ?? headers["Content-Range"].flatMap { $0.split(separator: "/").last.flatMap { Int64($0) } }
            ?? headers["Content-Length"].flatMap(Int64.init) ?? 0
        etag = headers["ETag"] ?? ""
        lastModified = headers["Last-Modified"].flatMap(HTTPDateFormat.parse)
        createdOn = headers["x-ms-creation-time"].flatMap(HTTPDateFormat.parse)
        blobType = headers["x-ms-blob-type"]
        let md5 = headers["x-ms-blob-content-md5"] ?? (headers["Content-Range"] == nil ? headers["Content-MD5"] : nil)
        httpHeaders = BlobHTTPHeaders(
            contentType: headers["Content-Type"], contentEncoding: headers["Content-Encoding"],
            contentLanguage: headers["Content-Language"], contentDisposition: headers["Content-Disposition"],
            cacheControl: headers["Cache-Control"], contentMD5: md5.flatMap { Data(base64Encoded: $0) }.map(Array.init))
        metadata = headers.metadata
        leaseState = headers["x-ms-lease-state"].flatMap(LeaseState.init)
        versionID = headers["x-ms-version-id"]
        isCurrentVersion = headers["x-ms-is-current-version"].map { $0 == "true" }
        isDeleted = false
        accessTier = headers["x-ms-access-tier"]
    }

    init(xml: XMLNode, metadata: [String: String], versionID: String?, isCurrentVersion: Bool?, deleted: Bool) {
        let properties = xml
        contentLength = properties.value("Content-Length").flatMap(Int64.init) ?? 0
        etag = properties.value("Etag") ?? ""
        lastModified = properties.value("Last-Modified").flatMap(HTTPDateFormat.parse)
        createdOn = properties.value("Creation-Time").flatMap(HTTPDateFormat.parse)
        blobType = properties.value("BlobType")
        httpHeaders = BlobHTTPHeaders(
            contentType: properties.value("Content-Type"), contentEncoding: properties.value("Content-Encoding"),
            contentLanguage: properties.value("Content-Language"),
            contentDisposition: properties.value("Content-Disposition"), cacheControl: properties.value("Cache-Control"),
            contentMD5: properties.value("Content-MD5").flatMap { Data(base64Encoded: $0) }.map(Array.init))
        self.metadata = metadata
        leaseState = properties.value("LeaseState").flatMap(LeaseState.init)
        self.versionID = versionID
        self.isCurrentVersion = isCurrentVersion
        isDeleted = deleted
        accessTier = properties.value("AccessTier")
    }
}

extension BlobWriteResult {
    init(headers: HTTPHeaderFields) {
        etag = headers["ETag"] ?? ""
        lastModified = headers["Last-Modified"].flatMap(HTTPDateFormat.parse)
        versionID = headers["x-ms-version-id"]
        contentMD5 = headers["Content-MD5"].flatMap { Data(base64Encoded: $0) }.map(Array.init)
        blobContentMD5 = nil
    }
}
