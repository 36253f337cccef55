import AzureCore
import Foundation
import NIOCore

/// Soft delete for blobs: how long deleted blobs stay restorable (Set Blob Service Properties).
public struct DeleteRetentionPolicy: Sendable, Equatable {
    public var enabled: Bool
    /// 1 to 365 days; ignored when disabled.
    public var days: Int?

    public init(enabled: Bool, days: Int? = nil) {
        self.enabled = enabled
        self.days = days
    }

    public static let disabled = DeleteRetentionPolicy(enabled: false)
    public static func days(_ days: Int) -> DeleteRetentionPolicy { DeleteRetentionPolicy(enabled: true, days: days) }
}

extension BlobServiceClient {
    private var servicePropertiesURL: RequestURL {
        var url = self.url
        url.setQuery("restype", "service")
        url.setQuery("comp", "properties")
        return url
    }

    /// The account's blob soft-delete policy.
    public func deleteRetentionPolicy() async throws -> DeleteRetentionPolicy {
        let (xml, _) = try await pipeline.sendForXML(.get, servicePropertiesURL)
        guard let policy = xml.child("DeleteRetentionPolicy") else { return .disabled }
        return DeleteRetentionPolicy(
            enabled: policy.value("Enabled") == "true", days: policy.value("Days").flatMap(Int.init))
    }

    /// Sets the account's blob soft-delete policy, leaving its other service properties as they are.
    public func setDeleteRetentionPolicy(_ policy: DeleteRetentionPolicy) async throws {
        if policy.enabled {
            guard let days = policy.days, (1...365).contains(days) else {
                throw AzureError(.invalidArgument, "soft delete keeps blobs 1 to 365 days, not \(policy.days.map(String.init) ?? "none")")
            }
        }
        var body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><StorageServiceProperties><DeleteRetentionPolicy>"
        body += "<Enabled>\(policy.enabled)</Enabled>"
        if policy.enabled, let days = policy.days { body += "<Days>\(days)</Days>" }
        body += "</DeleteRetentionPolicy></StorageServiceProperties>"
        var headers = HTTPHeaderFields()
        headers["Content-Type"] = "application/xml"
        _ = try await pipeline.send(.put, servicePropertiesURL, headers: headers, body: ByteBuffer(string: body), expected: [202])
    }
}
