import AzureCore
import Foundation

/// The entry point to a storage account's Blob service: containers and account-level operations.
///
/// ```swift
/// let service = try BlobServiceClient(connectionString: "UseDevelopmentStorage=true")
/// let container = service.containerClient("backups")
/// try await container.createIfNotExists()
/// ```
public struct BlobServiceClient: Sendable {
    /// The account endpoint, e.g. `https://<account>.blob.core.windows.net` or
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    public let url: RequestURL
    let pipeline: BlobPipeline

    /// A client for `endpoint` authenticated by `credential`.
    public init(endpoint: URL, credential: StorageCredential, options: ClientOptions = ClientOptions(),
                transport: any HTTPTransport = AsyncHTTPClientTransport()) throws {
        url = try RequestURL(endpoint)
        pipeline = BlobPipeline(
            pipeline: .standard(credential: credential, options: options, transport: transport), credential: credential)
    }

    /// A client from a storage connection string (see ``StorageConnectionString``).
    public init(connectionString: String, options: ClientOptions = ClientOptions(),
                transport: any HTTPTransport = AsyncHTTPClientTransport()) throws {
        let parsed = try StorageConnectionString(connectionString)
        guard let endpoint = parsed.blobEndpoint else {
            throw AzureError(.invalidArgument, "the connection string has no Blob endpoint")
        }
        let credential: StorageCredential
        if let name = parsed.accountName, let key = parsed.accountKey {
            credential = .sharedKey(try StorageSharedKeyCredential(accountName: name, accountKey: key))
        } else if let sas = parsed.sharedAccessSignature {
            credential = .sas(sas)
        } else {
            credential = .anonymous
        }
        try self.init(endpoint: endpoint, credential: credential, options: options, transport: transport)
    }

    init(url: RequestURL, pipeline: BlobPipeline) {
        self.url = url
        self.pipeline = pipeline
    }

    public func containerClient(_ name: String) -> BlobContainerClient {
        BlobContainerClient(url: url.appendingPath(name), name: name, pipeline: pipeline)
    }

    /// Every container whose name starts with `prefix`, in name order, fetched page by page.
    public func listContainers(prefix: String? = nil, includeMetadata: Bool = false, pageSize: Int? = nil)
        -> PagedResults<ContainerItem>
    {
        let base = url
        let pipeline = pipeline
        return PagedResults { marker in
            var url = base
            url.setQuery("comp", "list")
            url.setQuery("prefix", prefix)
            url.setQuery("include", includeMetadata ? "metadata" : nil)
            url.setQuery("maxresults", pageSize.map(String.init))
            url.setQuery("marker", marker)
            let (xml, _) = try await pipeline.sendForXML(.get, url)
            let items = xml.child("Containers")?.children("Container").map { node -> ContainerItem in
                let properties = node.child("Properties")
                return ContainerItem(
                    name: node.value("Name") ?? "",
                    properties: ContainerProperties(
                        etag: properties?.value("Etag") ?? "",
                        lastModified: properties?.value("Last-Modified").flatMap(HTTPDateFormat.parse),
                        metadata: Self.metadata(node.child("Metadata")),
                        leaseState: properties?.value("LeaseState").flatMap(LeaseState.init)))
            } ?? []
            return .init(items: items, continuationToken: xml.value("NextMarker"))
        }
    }

    static func metadata(_ node: XMLNode?) -> [String: String] {
        var metadata: [String: String] = [:]
        for child in node?.children ?? [] { metadata[child.name] = child.text }
        return metadata
    }
}
