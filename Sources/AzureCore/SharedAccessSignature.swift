import Foundation

/// Which protocols a SAS allows.
public enum SASProtocol: String, Sendable {
    case httpsOnly = "https"
    case httpsAndHTTP = "https,http"
}

/// Builds a service SAS for a container or blob, signed with the account key, as the Storage REST
/// documentation defines it ("Create a service SAS", version 2020-12-06 and later).
public struct BlobSASBuilder: Sendable {
    public struct Permissions: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let read = Permissions(rawValue: 1 << 0)
        public static let add = Permissions(rawValue: 1 << 1)
        public static let create = Permissions(rawValue: 1 << 2)
        public static let write = Permissions(rawValue: 1 << 3)
        public static let delete = Permissions(rawValue: 1 << 4)
        public static let deleteVersion = Permissions(rawValue: 1 << 5)
        public static let list = Permissions(rawValue: 1 << 6)
        public static let tag = Permissions(rawValue: 1 << 7)

        /// The `sp` value, letters in the documented order.
        var string: String {
            let letters: [(Permissions, Character)] = [
                (.read, "r"), (.add, "a"), (.create, "c"), (.write, "w"), (.delete, "d"), (.deleteVersion, "x"),
                (.list, "l"), (.tag, "t"),
            ]
            return String(letters.filter { contains($0.0) }.map(\.1))
        }
    }

    public var containerName: String
    /// A blob name for a blob SAS (`sr=b`); nil for a container SAS (`sr=c`).
    public var blobName: String?
    public var permissions: Permissions
    public var expiresOn: Date
    public var startsOn: Date?
    /// An IP address or range (`168.1.5.60-168.1.5.70`).
    public var ipRange: String?
    public var `protocol`: SASProtocol?
    public var version = "2026-10-06"

    public init(containerName: String, blobName: String? = nil, permissions: Permissions, expiresOn: Date) {
        self.containerName = containerName
        self.blobName = blobName
        self.permissions = permissions
        self.expiresOn = expiresOn
    }

    /// The string the signature covers.
    func stringToSign(accountName: String) -> String {
        var resource = "/blob/\(accountName)/\(containerName)"
        if let blobName { resource += "/\(blobName)" }
        let fields = [
            permissions.string, startsOn.map(HTTPDateFormat.iso8601) ?? "", HTTPDateFormat.iso8601(expiresOn), resource,
            "", ipRange ?? "", self.protocol?.rawValue ?? "", version, blobName == nil ? "c" : "b", "", "",
            "", "", "", "", "",
        ]
        return fields.joined(separator: "\n")
    }

    /// The SAS query string (no leading `?`).
    public func token(signedWith credential: StorageSharedKeyCredential) -> String {
        var query: [(String, String)] = [("sv", version)]
        if let startsOn { query.append(("st", HTTPDateFormat.iso8601(startsOn))) }
        query.append(("se", HTTPDateFormat.iso8601(expiresOn)))
        query.append(("sr", blobName == nil ? "c" : "b"))
        query.append(("sp", permissions.string))
        if let ipRange { query.append(("sip", ipRange)) }
        if let proto = self.protocol { query.append(("spr", proto.rawValue)) }
        query.append(("sig", credential.sign(stringToSign(accountName: credential.accountName))))
        return query.map { "\($0.0)=\(RequestURL.encodeQuery($0.1))" }.joined(separator: "&")
    }
}

/// Builds an account SAS, signed with the account key ("Create an account SAS", version 2020-12-06 and later).
public struct AccountSASBuilder: Sendable {
    public struct Permissions: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let read = Permissions(rawValue: 1 << 0)
        public static let write = Permissions(rawValue: 1 << 1)
        public static let delete = Permissions(rawValue: 1 << 2)
        public static let deleteVersion = Permissions(rawValue: 1 << 3)
        public static let list = Permissions(rawValue: 1 << 4)
        public static let add = Permissions(rawValue: 1 << 5)
        public static let create = Permissions(rawValue: 1 << 6)
        public static let update = Permissions(rawValue: 1 << 7)
        public static let process = Permissions(rawValue: 1 << 8)

        var string: String {
            let letters: [(Permissions, Character)] = [
                (.read, "r"), (.write, "w"), (.delete, "d"), (.deleteVersion, "x"), (.list, "l"), (.add, "a"),
                (.create, "c"), (.update, "u"), (.process, "p"),
            ]
            return String(letters.filter { contains($0.0) }.map(\.1))
        }
    }

    /// Services (`ss`): b blob, q queue, t table, f file.
    public var services: String = "b"
    /// Resource types (`srt`): s service, c container, o object.
    public var resourceTypes: String = "sco"
    public var permissions: Permissions
    public var expiresOn: Date
    public var startsOn: Date?
    public var ipRange: String?
    public var `protocol`: SASProtocol?
    public var version = "2026-10-06"

    public init(permissions: Permissions, expiresOn: Date) {
        self.permissions = permissions
        self.expiresOn = expiresOn
    }

    func stringToSign(accountName: String) -> String {
        [
            accountName, permissions.string, services, resourceTypes, startsOn.map(HTTPDateFormat.iso8601) ?? "",
            HTTPDateFormat.iso8601(expiresOn), ipRange ?? "", self.protocol?.rawValue ?? "", version, "", "",
        ].joined(separator: "\n")
    }

    public func token(signedWith credential: StorageSharedKeyCredential) -> String {
        var query: [(String, String)] = [("sv", version), ("ss", services), ("srt", resourceTypes), ("sp", permissions.string)]
        if let startsOn { query.append(("st", HTTPDateFormat.iso8601(startsOn))) }
        query.append(("se", HTTPDateFormat.iso8601(expiresOn)))
        if let ipRange { query.append(("sip", ipRange)) }
        if let proto = self.protocol { query.append(("spr", proto.rawValue)) }
        query.append(("sig", credential.sign(stringToSign(accountName: credential.accountName))))
        return query.map { "\($0.0)=\(RequestURL.encodeQuery($0.1))" }.joined(separator: "&")
    }
}
