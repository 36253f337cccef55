import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The listings: List Containers and List Blobs (with prefixes, delimiters, markers, versions and deleted blobs).
extension BlobResponder {
    private func maxResults(_ request: BlobRequest) throws(EmulatorError) -> Int {
        guard let text = request.queryValue("maxresults") else { return 5000 }
        guard let value = Int(text), value > 0 else { throw .outOfRangeInput() }
        return min(value, 5000)
    }

    func listContainers(_ request: BlobRequest) async throws -> Response {
        let prefix = request.queryValue("prefix") ?? ""
        let marker = request.queryValue("marker")
        let limit = try maxResults(request)
        let includeMetadata = (request.queryValue("include") ?? "").split(separator: ",").contains("metadata")
        let (containers, next) = try await storage.listContainers(request.account, prefix: prefix, marker: marker, limit: limit)
        var xml = XMLWriter()
        xml.open("EnumerationResults", attributes: [("ServiceEndpoint", baseURL() + "/\(request.account)/")])
        if request.queryValue("prefix") != nil { xml.element("Prefix", prefix) }
        if let marker { xml.element("Marker", marker) }
        if request.queryValue("maxresults") != nil { xml.element("MaxResults", String(limit)) }
        xml.element("Containers") { xml in
            for container in containers {
                xml.element("Container") { xml in
                    xml.element("Name", container.name)
                    xml.element("Properties") { xml in
                        xml.element("Last-Modified", HTTPDate.rfc1123(container.lastModified))
                        xml.element("Etag", container.etag)
                        writeLease(container.lease, to: &xml)
                        xml.element("DefaultEncryptionScope", "$account-encryption-key")
                        xml.element("DenyEncryptionScopeOverride", "false")
                        xml.element("HasImmutabilityPolicy", "false")
                        xml.element("HasLegalHold", "false")
                    }
                    if includeMetadata { writeMetadata(container.metadata, to: &xml) }
                }
            }
        }
        xml.element("NextMarker", next)
        xml.close("EnumerationResults")
        return xmlResponse(xml)
    }

    func listBlobs(_ request: BlobRequest, _ container: String) async throws -> Response {
        let prefix = request.queryValue("prefix") ?? ""
        let delimiter = request.queryValue("delimiter")
        let marker = request.queryValue("marker")
        let limit = try maxResults(request)
        let include = Set((request.queryValue("include") ?? "").split(separator: ",").map(String.init))
        let (entries, next) = try await storage.listBlobs(
            request.account, container, prefix: prefix, delimiter: delimiter, marker: marker, limit: limit,
            include: .init(versions: include.contains("versions"), deleted: include.contains("deleted")))
        let now = storage.now()
        var xml = XMLWriter()
        xml.open("EnumerationResults", attributes: [("ServiceEndpoint", baseURL() + "/\(request.account)/"), ("ContainerName", container)])
        if request.queryValue("prefix") != nil { xml.element("Prefix", prefix) }
        if let marker { xml.element("Marker", marker) }
        if request.queryValue("maxresults") != nil { xml.element("MaxResults", String(limit)) }
        if let delimiter { xml.element("Delimiter", delimiter) }
        xml.element("Blobs") { xml in
            for entry in entries {
                switch entry {
                case .prefix(let name):
                    xml.element("BlobPrefix") { $0.element("Name", name) }
                case .blob(let blob, let kind):
                    xml.element("Blob") { xml in
                        xml.element("Name", blob.name)
                        if kind == .deleted || kind == .deletedVersion { xml.element("Deleted", "true") }
                        if let version = blob.versionID, kind != .deleted {
                            xml.element("VersionId", version)
                            if kind == .current { xml.element("IsCurrentVersion", "true") }
                        }
                        xml.element("Properties") { xml in
                            xml.element("Creation-Time", HTTPDate.rfc1123(blob.created))
                            xml.element("Last-Modified", HTTPDate.rfc1123(blob.lastModified))
                            xml.element("Etag", blob.etag)
                            xml.element("Content-Length", String(blob.size))
                            xml.element("Content-Type", blob.properties.contentType ?? "application/octet-stream")
                            xml.element("Content-Encoding", blob.properties.contentEncoding)
                            xml.element("Content-Language", blob.properties.contentLanguage)
                            xml.element("Content-CRC64", nil)
                            xml.element("Content-MD5", blob.properties.contentMD5)
                            xml.element("Cache-Control", blob.properties.cacheControl)
                            xml.element("Content-Disposition", blob.properties.contentDisposition)
                            xml.element("BlobType", "BlockBlob")
                            xml.element("AccessTier", "Hot")
                            xml.element("AccessTierInferred", "true")
                            writeLease(kind == .current ? blob.lease : nil, to: &xml)
                            xml.element("ServerEncrypted", "true")
                            if let deleted = blob.deletedTime {
                                xml.element("DeletedTime", HTTPDate.rfc1123(deleted))
                                if let purge = storage.purgeTime(of: blob) {
                                    let days = Int((purge.timeIntervalSince(now) / 86_400).rounded(.up))
                                    xml.element("RemainingRetentionDays", String(max(days, 0)))
                                }
                            }
                        }
                        if include.contains("metadata") { writeMetadata(blob.metadata, to: &xml) }
                    }
                }
            }
        }
        xml.element("NextMarker", next)
        xml.close("EnumerationResults")
        return xmlResponse(xml)
    }

    private func writeMetadata(_ metadata: [String: String], to xml: inout XMLWriter) {
        xml.element("Metadata") { xml in
            for key in metadata.keys.sorted() { xml.element(key, metadata[key]) }
        }
    }
}
