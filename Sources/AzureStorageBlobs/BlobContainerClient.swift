import AzureCore
import Foundation

/// What a blob listing includes besides the current blobs' properties.
public struct BlobListingDetails: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let metadata = BlobListingDetails(rawValue: 1 << 0)
    /// Earlier versions (accounts with versioning).
    public static let versions = BlobListingDetails(rawValue: 1 << 1)
    /// Soft-deleted blobs.
    public static let deleted = BlobListingDetails(rawValue: 1 << 2)
    public static let uncommittedBlobs = BlobListingDetails(rawValue: 1 << 3)

    var queryValue: String? {
        var parts: [String] = []
        if contains(.metadata) { parts.append("metadata") }
        if contains(.versions) { parts.append("versions") }
        if contains(.deleted) { parts.append("deleted") }
        if contains(.uncommittedBlobs) { parts.append("uncommittedblobs") }
        return parts.isEmpty ? nil : parts.joined(separator: ",")
    }
}

/// One container: create, delete, properties, metadata, listings, and clients for its blobs.
public struct BlobContainerClient: Sendable {
    public let url: RequestURL
    public let name: String
    let pipeline: BlobPipeline

    init(url: RequestURL, name: String, pipeline: BlobPipeline) {
        self.url = url
        self.name = name
        self.pipeline = pipeline
    }

    private func containerURL(comp: String? = nil) -> RequestURL {
        var url = self.url
        url.setQuery("restype", "container")
        url.setQuery("comp", comp)
        return url
    }

    public func blobClient(_ name: String) -> BlobClient {
        BlobClient(url: url.appendingPath(name), containerName: self.name, name: name, pipeline: pipeline)
    }

    /// Creates the container.
    /// - Throws: ``AzureError`` 409 `ContainerAlreadyExists` if it exists.
    public func create(metadata: [String: String] = [:]) async throws {
        var headers = HTTPHeaderFields()
        for (key, value) in metadata { headers["x-ms-meta-\(key)"] = value }
        _ = try await pipeline.send(.put, containerURL(), headers: headers, expected: [201])
    }

    /// Creates the container unless it exists. Returns whether it was created.
    @discardableResult
    public func createIfNotExists(metadata: [String: String] = [:]) async throws -> Bool {
        do {
            try await create(metadata: metadata)
            return true
        } catch let error as AzureError where error.errorCode == "ContainerAlreadyExists" {
            return false
        }
    }

    /// Deletes the container and every blob in it.
    public func delete(conditions: BlobRequestConditions = BlobRequestConditions()) async throws {
        var headers = HTTPHeaderFields()
        conditions.apply(to: &headers)
        _ = try await pipeline.send(.delete, containerURL(), headers: headers, expected: [202])
    }

    public func properties() async throws -> ContainerProperties {
        let response = try await pipeline.send(.get, containerURL(), expected: [200])
        return ContainerProperties(
            etag: response.headers["ETag"] ?? "", lastModified: response.headers["Last-Modified"].flatMap(HTTPDateFormat.parse),
            metadata: response.headers.metadata, leaseState: response.headers["x-ms-lease-state"].flatMap(LeaseState.init))
    }

    public func exists() async throws -> Bool {
        do {
            _ = try await properties()
            return true
        } catch let error as AzureError where error.statusCode == 404 {
            return false
        }
    }

    /// Replaces the container's metadata.
    public func setMetadata(_ metadata: [String: String], conditions: BlobRequestConditions = BlobRequestConditions()) async throws {
        var headers = HTTPHeaderFields()
        for (key, value) in metadata { headers["x-ms-meta-\(key)"] = value }
        conditions.apply(to: &headers)
        _ = try await pipeline.send(.put, containerURL(comp: "metadata"), headers: headers, expected: [200])
    }

    /// Every blob whose name starts with `prefix`, in name order, fetched page by page.
    public func listBlobs(prefix: String? = nil, include: BlobListingDetails = [], pageSize: Int? = nil)
        -> PagedResults<BlobItem>
    {
        let listing = listing(prefix: prefix, delimiter: nil, include: include, pageSize: pageSize)
        return PagedResults { marker in
            let page = try await listing(marker)
            return .init(items: page.items.compactMap { if case .blob(let blob) = $0 { blob } else { nil } },
                         continuationToken: page.continuationToken)
        }
    }

    /// One level of the virtual directory tree under `prefix`: blobs, and prefixes ending in `delimiter`.
    public func listBlobsByHierarchy(delimiter: String = "/", prefix: String? = nil, include: BlobListingDetails = [],
                                     pageSize: Int? = nil) -> PagedResults<BlobHierarchyItem> {
        PagedResults(fetch: listing(prefix: prefix, delimiter: delimiter, include: include, pageSize: pageSize))
    }

    private func listing(prefix: String?, delimiter: String?, include: BlobListingDetails, pageSize: Int?)
        -> @Sendable (String?) async throws -> PagedResults<BlobHierarchyItem>.Page
    {
        let base = containerURL(comp: "list")
        let pipeline = pipeline
        return { marker in
            var url = base
            url.setQuery("prefix", prefix)
            url.setQuery("delimiter", delimiter)
            url.setQuery("include", include.queryValue)
            url.setQuery("maxresults", pageSize.map(String.init))
            url.setQuery("marker", marker)
            let (xml, _) = try await pipeline.sendForXML(.get, url)
            var items: [BlobHierarchyItem] = []
            for node in xml.child("Blobs")?.children ?? [] {
                switch node.name {
                case "Blob":
                    let properties = BlobProperties(
                        xml: node.child("Properties") ?? XMLNode(name: "Properties", attributes: [:], children: [], text: ""),
                        metadata: BlobServiceClient.metadata(node.child("Metadata")), versionID: node.value("VersionId"),
                        isCurrentVersion: node.value("IsCurrentVersion").map { $0 == "true" },
                        deleted: node.value("Deleted") == "true")
                    items.append(.blob(BlobItem(name: node.value("Name") ?? "", properties: properties)))
                case "BlobPrefix":
                    items.append(.prefix(node.value("Name") ?? ""))
                default:
                    continue
                }
            }
            return .init(items: items, continuationToken: xml.value("NextMarker"))
        }
    }
}

extension BlobContainerClient {
    /// Azure's container naming rules: 3-63 characters of lowercase letters, digits and single hyphens,
    /// starting and ending with a letter or digit. Worth checking before a request: the service answers a bad
    /// name with ContainerNotFound or InvalidResourceName, which sends people looking for the wrong mistake.
    public static func isValidName(_ name: String) -> Bool {
        let allowed = name.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-")
        }
        return (3...63).contains(name.utf8.count) && allowed && !name.hasPrefix("-") && !name.hasSuffix("-") && !name.contains("--")
    }

    /// How ``isValidName(_:)`` is explained when a name breaks it.
    public static let nameRules = "Azure container names are 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
}
