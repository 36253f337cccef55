import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension Response {
    /// A JSON response (Entra ID, managed identity and Key Vault all answer JSON, errors included).
    static func json(_ status: HTTPResponse.Status, _ object: Any, headers: HTTPFields = [:]) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store, no-cache"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The parts of a JSON-service request (Entra ID, managed identity, Key Vault) the emulator routes on.
struct ServiceRequest {
    var method: HTTPRequest.Method
    /// Path segments, percent-decoded; `/secrets/a/` gives `["secrets", "a", ""]`.
    var segments: [String]
    var query: [String: String]
    var headers: HTTPFields
    var body: Data

    init(_ request: Request, maxBody: Int = 1 << 20) async throws {
        method = request.method
        headers = request.headers
        let target = request.head.path ?? "/"
        let pieces = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        segments = pieces[0].split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            .map { String($0).removingPercentEncoding ?? String($0) }
        query = pieces.count > 1 ? Self.parseForm(String(pieces[1])) : [:]
        var body = Data()
        for try await buffer in request.body {
            body.append(contentsOf: buffer.readableBytesView)
            if body.count > maxBody { break }
        }
        self.body = body
    }

    init(method: HTTPRequest.Method, segments: [String], query: [String: String], headers: HTTPFields, body: Data) {
        self.method = method
        self.segments = segments
        self.query = query
        self.headers = headers
        self.body = body
    }

    func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { headers[$0] } }

    /// `application/x-www-form-urlencoded` (and query strings): `+` is a space, names are case-sensitive, the
    /// first occurrence of a name wins.
    static func parseForm(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") where !pair.isEmpty {
            let nameValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                let spaced = part.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decode(nameValue[0])
            if result[name] == nil { result[name] = nameValue.count > 1 ? decode(nameValue[1]) : "" }
        }
        return result
    }

    var form: [String: String] { Self.parseForm(String(decoding: body, as: UTF8.self)) }

    var jsonBody: [String: Any]? {
        guard !body.isEmpty else { return nil }
        return (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
    }

    /// The bearer token of the `Authorization` header, if it has one.
    var bearerToken: String? {
        guard let authorization = header("Authorization"), authorization.lowercased().hasPrefix("bearer ") else {
            return nil
        }
        return String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }
}
