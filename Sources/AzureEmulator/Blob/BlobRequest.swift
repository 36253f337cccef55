import Foundation
import HTTPTypes

/// The parts of a Blob service request the emulator routes and authorises on.
struct BlobRequest {
    var method: HTTPRequest.Method
    /// The path as sent, still percent-encoded.
    var rawPath: String
    var account: String
    var container: String?
    var blob: String?
    /// Query parameters, percent-decoded, in request order.
    var query: [(name: String, value: String)]
    var headers: HTTPFields

    init(method: HTTPRequest.Method, target: String, headers: HTTPFields) throws(EmulatorError) {
        self.method = method
        self.headers = headers
        let pieces = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        rawPath = String(pieces.first ?? "/")
        query = []
        if pieces.count > 1 {
            for pair in pieces[1].split(separator: "&") where !pair.isEmpty {
                let nameValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = String(nameValue[0]).removingPercentEncoding,
                    let value = String(nameValue.count > 1 ? nameValue[1] : "").removingPercentEncoding
                else { throw EmulatorError.invalidQuery(String(nameValue[0])) }
                query.append((name, value))
            }
        }
        // Path-style addressing: /<account>/<container>/<blob name, which may contain slashes>.
        var segments = rawPath.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).dropFirst()
        account = String(segments.popFirst() ?? "")
        if let container = segments.popFirst(), !container.isEmpty {
            guard let decoded = String(container).removingPercentEncoding else { throw EmulatorError.invalidResourceName() }
            self.container = decoded
        }
        if let blob = segments.popFirst(), !blob.isEmpty {
            guard let decoded = String(blob).removingPercentEncoding else { throw EmulatorError.invalidResourceName() }
            self.blob = decoded
        }
    }

    func queryValue(_ name: String) -> String? {
        query.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    func header(_ name: String) -> String? {
        guard let field = HTTPField.Name(name) else { return nil }
        return headers[field]
    }

    /// `x-ms-meta-*` headers as metadata, names as the client wrote them.
    var metadata: [String: String] {
        var metadata: [String: String] = [:]
        for field in headers {
            let name = field.name.rawName
            if name.lowercased().hasPrefix("x-ms-meta-") {
                metadata[String(name.dropFirst("x-ms-meta-".count))] = field.value
            }
        }
        return metadata
    }
}

/// If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since, evaluated as the Blob service does.
struct AccessConditions {
    var ifMatch: String?
    var ifNoneMatch: String?
    var ifModifiedSince: Date?
    var ifUnmodifiedSince: Date?

    init(_ request: BlobRequest) throws(EmulatorError) {
        ifMatch = request.header("If-Match")
        ifNoneMatch = request.header("If-None-Match")
        if let text = request.header("If-Modified-Since") {
            guard let date = HTTPDate.parseRFC1123(text) else { throw .invalidHeader("If-Modified-Since") }
            ifModifiedSince = date
        }
        if let text = request.header("If-Unmodified-Since") {
            guard let date = HTTPDate.parseRFC1123(text) else { throw .invalidHeader("If-Unmodified-Since") }
            ifUnmodifiedSince = date
        }
    }

    private static func matches(_ condition: String, _ etag: String) -> Bool {
        let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return condition.split(separator: ",").contains {
            let candidate = $0.trimmingCharacters(in: .whitespaces)
            return candidate == "*" || candidate.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == bare
        }
    }

    /// Throws the service's answer when the conditions fail. Reads answer 304 where writes answer 412.
    func check(etag: String?, lastModified: Date?, isRead: Bool) throws(EmulatorError) {
        let exists = etag != nil
        let modified = lastModified.map { Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down)) }
        if let ifMatch {
            guard let etag, Self.matches(ifMatch, etag) else { throw .conditionNotMet() }
        }
        if let ifNoneMatch, let etag {
            if ifNoneMatch.trimmingCharacters(in: .whitespaces) == "*" {
                throw isRead ? .notModified() : .blobAlreadyExists()
            }
            if Self.matches(ifNoneMatch, etag) { throw isRead ? .notModified() : .conditionNotMet() }
        }
        if exists, let since = ifModifiedSince, let modified, modified <= since {
            throw isRead ? .notModified() : .conditionNotMet()
        }
        if exists, let since = ifUnmodifiedSince, let modified, modified > since {
            throw .conditionNotMet()
        }
    }

    var isEmpty: Bool { ifMatch == nil && ifNoneMatch == nil && ifModifiedSince == nil && ifUnmodifiedSince == nil }
}
