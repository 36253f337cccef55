import Foundation
import Hummingbird

/// What Key Vault requests share: object names, new version ids, `attributes` and `tags` in request bodies, and
/// paging of list operations.
extension KeyVaultResponder {
    static func validateName(_ name: String, kind: VaultObjectKind) throws(EmulatorError) {
        let valid =
            (1...127).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45
            }
        guard valid else {
            throw EmulatorError(
                status: 400, code: "BadParameter",
                message:
                    "The request URI contains an invalid name: \(name). \(kind.title) names may only contain alphanumeric characters and dashes, and must be between 1 and 127 characters long."
            )
        }
    }

    static func newVersion() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    static var now: Int { Int(Date().timeIntervalSince1970) }

    /// Applies `attributes` from a request body to stored attributes (only the members the body has).
    static func apply(_ json: Any?, to attributes: inout VaultAttributes) throws(EmulatorError) {
        guard let json else { return }
        guard let object = json as? [String: Any] else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "Property 'attributes' must be an object.")
        }
        if let enabled = object["enabled"] as? Bool { attributes.enabled = enabled }
        if object.keys.contains("nbf") { attributes.notBefore = try optionalInteger(object["nbf"], named: "nbf") }
        if object.keys.contains("exp") { attributes.expires = try optionalInteger(object["exp"], named: "exp") }
    }

    /// A member that is absent or null (nil), or an integer; anything else (a fraction, `1e300`, a string) is
    /// Key Vault's 400 BadParameter.
    static func optionalInteger(_ json: Any?, named name: String) throws(EmulatorError) -> Int? {
        guard let json, !(json is NSNull) else { return nil }
        guard let value = JSONWebToken.integer(json), !(json is Bool) else {
            throw EmulatorError(status: 400, code: "BadParameter", message: "Property '\(name)' must be an integer.")
        }
        return value
    }

    static func tags(_ json: Any?) throws(EmulatorError) -> [String: String]? {
        guard let json, !(json is NSNull) else { return nil }
        guard let tags = json as? [String: String] else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "Property 'tags' must map names to strings.")
        }
        guard tags.count <= 15 else {
            throw EmulatorError(status: 400, code: "BadParameter", message: "The number of tags cannot exceed 15.")
        }
        return tags
    }

    func body(_ request: ServiceRequest) throws(EmulatorError) -> [String: Any] {
        guard let body = request.jsonBody else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "The request body is missing or is not a JSON object.")
        }
        return body
    }

    /// Paging of list operations: `maxresults` (1-25, Key Vault's limit) and an opaque `$skiptoken`.
    func page<T>(_ items: [T], request: ServiceRequest, path: String) throws(EmulatorError) -> (
        items: [T], nextLink: String?
    ) {
        var limit = 25
        if let text = request.query["maxresults"] {
            guard let value = Int(text), (1...25).contains(value) else {
                throw EmulatorError(
                    status: 400, code: "BadParameter",
                    message: "Invalid value for maxresults: \(text). The value must be between 1 and 25.")
            }
            limit = value
        }
        var start = 0
        if let token = request.query["$skiptoken"] {
            guard let data = Base64URL.decode(token), let offset = Int(String(decoding: data, as: UTF8.self)),
                offset >= 0
            else {
                throw EmulatorError(status: 400, code: "BadParameter", message: "The $skiptoken is not valid.")
            }
            start = min(offset, items.count)
        }
        let end = min(start + limit, items.count)
        var nextLink: String?
        if end < items.count {
            let version = request.query["api-version"] ?? "7.6"
            let token = Base64URL.encode(Data(String(end).utf8))
            nextLink = "\(vaultURL)\(path)?api-version=\(version)&$skiptoken=\(token)&maxresults=\(limit)"
        }
        return (Array(items[start..<end]), nextLink)
    }
}
