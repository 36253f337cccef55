import Foundation
import NIOCore

/// Builds the Shared Key string-to-sign of the Storage REST documentation ("Authorize with Shared Key",
/// version 2009-09-19 and later, Blob and Queue services).
enum SharedKeySigner {
    static func stringToSign(_ request: AzureHTTPRequest, accountName: String) -> String {
        func header(_ name: String) -> String { request.headers[name] ?? "" }
        var contentLength = request.body.map { String($0.readableBytes) } ?? header("Content-Length")
        // Since version 2015-02-21 a zero Content-Length is signed as the empty string.
        if contentLength == "0" { contentLength = "" }
        var text = [
            request.method.rawValue, header("Content-Encoding"), header("Content-Language"), contentLength,
            header("Content-MD5"), header("Content-Type"), header("Date"), header("If-Modified-Since"),
            header("If-Match"), header("If-None-Match"), header("If-Unmodified-Since"), header("Range"),
        ].joined(separator: "\n")
        text += "\n"
        let msHeaders = request.headers.fields
            .map { (name: $0.name.lowercased(), value: $0.value) }
            .filter { $0.name.hasPrefix("x-ms-") }
            .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        for (name, value) in msHeaders {
            text += "\(name):\(value.trimmingCharacters(in: .whitespaces))\n"
        }
        text += "/\(accountName)\(request.url.encodedPath)"
        var grouped: [String: [String]] = [:]
        for item in request.url.query { grouped[item.name.lowercased(), default: []].append(item.value) }
        for name in grouped.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            text += "\n\(name):\(grouped[name]!.sorted().joined(separator: ","))"
        }
        return text
    }
}
