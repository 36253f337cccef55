import HTTPTypes

/// The Blob service operation a request asks for, named as the REST reference names it (kebab-case, as
/// `--fault-operations` takes them). Routing, fault injection and SAS permission checks all start here.
enum BlobOperation: String, CaseIterable, Sendable {
    case listContainers = "list-containers"
    case getServiceProperties = "get-service-properties"
    case setServiceProperties = "set-service-properties"
    case getAccountInformation = "get-account-information"
    case createContainer = "create-container"
    case getContainerProperties = "get-container-properties"
    case setContainerMetadata = "set-container-metadata"
    case getContainerACL = "get-container-acl"
    case setContainerACL = "set-container-acl"
    case deleteContainer = "delete-container"
    case leaseContainer = "lease-container"
    case listBlobs = "list-blobs"
    case putBlob = "put-blob"
    case putBlock = "put-block"
    case putBlockList = "put-block-list"
    case getBlockList = "get-block-list"
    case getBlob = "get-blob"
    case getBlobProperties = "get-blob-properties"
    case getBlobMetadata = "get-blob-metadata"
    case setBlobMetadata = "set-blob-metadata"
    case setBlobProperties = "set-blob-properties"
    case deleteBlob = "delete-blob"
    case leaseBlob = "lease-blob"
    case undeleteBlob = "undelete-blob"

    /// What an account SAS's `srt` must allow: `s`ervice, `c`ontainer or `o`bject.
    enum Scope: Character { case service = "s", container = "c", object = "o" }

    init(_ request: BlobRequest) throws(EmulatorError) {
        let restype = request.queryValue("restype")
        let comp = request.queryValue("comp")
        let method = request.method
        if request.container == nil {
            switch (method, restype, comp) {
            case (.get, _, "list"): self = .listContainers
            case (.get, "service", "properties"), (.head, "service", "properties"): self = .getServiceProperties
            case (.put, "service", "properties"): self = .setServiceProperties
            case (.get, "account", "properties"), (.head, "account", "properties"): self = .getAccountInformation
            default: throw .unsupportedOperation()
            }
            return
        }
        if request.blob == nil {
            guard restype == "container" else { throw .unsupportedOperation() }
            switch (method, comp) {
            case (.put, nil): self = .createContainer
            case (.put, "metadata"): self = .setContainerMetadata
            case (.put, "acl"): self = .setContainerACL
            case (.put, "lease"): self = .leaseContainer
            case (.get, nil), (.head, nil), (.get, "metadata"), (.head, "metadata"): self = .getContainerProperties
            case (.get, "acl"): self = .getContainerACL
            case (.get, "list"): self = .listBlobs
            case (.delete, nil): self = .deleteContainer
            default: throw .unsupportedOperation()
            }
            return
        }
        switch (method, comp) {
        case (.put, nil): self = .putBlob
        case (.put, "block"): self = .putBlock
        case (.put, "blocklist"): self = .putBlockList
        case (.put, "metadata"): self = .setBlobMetadata
        case (.put, "properties"): self = .setBlobProperties
        case (.put, "lease"): self = .leaseBlob
        case (.put, "undelete"): self = .undeleteBlob
        case (.get, nil): self = .getBlob
        case (.head, nil): self = .getBlobProperties
        case (.get, "metadata"), (.head, "metadata"): self = .getBlobMetadata
        case (.get, "blocklist"): self = .getBlockList
        case (.delete, nil): self = .deleteBlob
        default: throw .unsupportedOperation()
        }
    }

    var scope: Scope {
        switch self {
        case .listContainers, .getServiceProperties, .setServiceProperties, .getAccountInformation: .service
        case .createContainer, .getContainerProperties, .setContainerMetadata, .getContainerACL, .setContainerACL,
            .deleteContainer, .leaseContainer, .listBlobs:
            .container
        default: .object
        }
    }

    /// SAS permission letters of which any one allows the operation (the permission tables of "Create a
    /// service SAS" and "Create an account SAS"). `request` decides the cases that depend on parameters.
    func permissions(_ request: BlobRequest) -> Set<Character> {
        switch self {
        case .listContainers, .listBlobs: ["l"]
        case .getServiceProperties, .getAccountInformation, .getContainerProperties, .getContainerACL, .getBlockList,
            .getBlob, .getBlobProperties, .getBlobMetadata:
            ["r"]
        case .setServiceProperties, .setContainerMetadata, .setContainerACL, .setBlobMetadata, .setBlobProperties,
            .undeleteBlob, .leaseContainer:
            ["w"]
        case .createContainer, .putBlob, .putBlock, .putBlockList: ["c", "w"]
        case .deleteContainer: ["d"]
        // Deleting a version needs the delete-version permission; breaking or releasing a lease is also allowed
        // with delete.
        case .deleteBlob: request.queryValue("versionid") != nil ? ["x"] : ["d"]
        case .leaseBlob:
            ["break", "release"].contains(request.header("x-ms-lease-action")?.lowercased() ?? "") ? ["w", "d"] : ["w"]
        }
    }

    /// Whether a service SAS (which names one container or blob) can authorise the operation at all; the
    /// container's own lifecycle and settings need the account key or an account SAS.
    var allowedWithServiceSAS: Bool {
        switch scope {
        case .service: false
        case .container: [.getContainerProperties, .listBlobs].contains(self)
        case .object: true
        }
    }

    /// The actions fault injection can single out (`lease-blob:renew`): the `x-ms-lease-action` values of the
    /// lease operations.
    var faultActions: [String] {
        switch self {
        case .leaseBlob, .leaseContainer: ["acquire", "renew", "change", "release", "break"]
        default: []
        }
    }

    /// The action of `request` that ``faultActions`` names, if the operation has one.
    func faultAction(_ request: BlobRequest) -> String? {
        guard !faultActions.isEmpty else { return nil }
        return request.header("x-ms-lease-action")?.lowercased()
    }

    /// Whether the operation changes state (fault injection may then also fail it before the change).
    var isRead: Bool {
        [.listContainers, .getServiceProperties, .getAccountInformation, .getContainerProperties, .getContainerACL,
         .listBlobs, .getBlockList, .getBlob, .getBlobProperties, .getBlobMetadata].contains(self)
    }
}
