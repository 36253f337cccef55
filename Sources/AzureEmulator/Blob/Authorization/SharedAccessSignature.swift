import Crypto
import Foundation

/// A shared access signature carried in a request's query: a service SAS (`sr=c` or `sr=b`) or an account SAS
/// (`ss`/`srt`). Its string-to-sign follows "Create a service SAS" and "Create an account SAS" for signed
/// versions 2018-11-09 and later (the `ses` field from 2020-12-06). The signature itself is never echoed in an
/// error or a log line.
struct SharedAccessSignature {
    var fields: [String: String]
    var signature: String

    /// The SAS in `query`, or nil when the request has none (no `sig`).
    init?(query: [(name: String, value: String)]) {
        var fields: [String: String] = [:]
        for item in query where fields[item.name] == nil { fields[item.name] = item.value }
        guard let signature = fields.removeValue(forKey: "sig") else { return nil }
        self.fields = fields
        self.signature = signature
    }

    subscript(_ name: String) -> String { fields[name] ?? "" }

    var isAccountSAS: Bool { fields["ss"] != nil || fields["srt"] != nil }

    /// The string-to-sign of an account SAS for `account`.
    func accountStringToSign(account: String) -> String {
        var parts = [account, self["sp"], self["ss"], self["srt"], self["st"], self["se"], self["sip"], self["spr"], self["sv"]]
        if self["sv"] >= "2020-12-06" { parts.append(self["ses"]) }
        return parts.joined(separator: "\n") + "\n"
    }

    /// The string-to-sign of a service SAS; `resource` is the signed container or blob as
    /// `/blob/<account>/<container>[/<blob>]` (names unencoded). `snapshot` is the snapshot time or version id a
    /// `bs`/`bv` SAS signs.
    func serviceStringToSign(canonicalResource: String, snapshot: String) -> String {
        var parts = [self["sp"], self["st"], self["se"], canonicalResource, self["si"], self["sip"], self["spr"], self["sv"], self["sr"], snapshot]
        if self["sv"] >= "2020-12-06" { parts.append(self["ses"]) }
        parts += [self["rscc"], self["rscd"], self["rsce"], self["rscl"], self["rsct"]]
        return parts.joined(separator: "\n")
    }

    /// A user delegation SAS names the key it was signed with (`skoid` and friends) instead of an access policy.
    var isUserDelegation: Bool { fields["skoid"] != nil }

    /// The string-to-sign of a user delegation SAS: the service layout with the delegation key's fields in place
    /// of `si`, plus the fields each service version added.
    func userDelegationStringToSign(canonicalResource: String, snapshot: String) -> String {
        let version = self["sv"]
        var parts = [self["sp"], self["st"], self["se"], canonicalResource]
        parts += [self["skoid"], self["sktid"], self["skt"], self["ske"], self["sks"], self["skv"]]
        if version >= "2020-02-10" { parts += [self["saoid"], self["suoid"], self["scid"]] }
        if version >= "2025-07-05" { parts += [self["skdutid"], self["sduoid"]] }
        parts += [self["sip"], self["spr"], version, self["sr"], snapshot]
        if version >= "2020-12-06" { parts.append(self["ses"]) }
        // Signed request headers and query parameters (srh, srq): empty lines unless the SAS pins some.
        if version >= "2026-04-06" { parts += [self["srh"], self["srq"]] }
        parts += [self["rscc"], self["rscd"], self["rsce"], self["rscl"], self["rsct"]]
        return parts.joined(separator: "\n")
    }

    /// Whether `signature` is the HMAC-SHA256 of `stringToSign` under `key`, compared in constant time.
    static func matches(_ signature: String, stringToSign: String, key: String) -> Bool {
        guard let expected = SharedKeyVerifier.signature(stringToSign, key: key) else { return false }
        return SecretComparison.matches(signature, expected)
    }

    /// Everything about the request the SAS is checked against.
    struct Context {
        var account: StorageAccount
        var container: String?
        var blob: String?
        var operation: BlobOperation
        var request: BlobRequest
        var clientIP: String?
        var isHTTPS: Bool
        var now: Date
    }

    /// Throws Azure's answer when the SAS does not authorise the request.
    func authorize(_ context: Context) throws(EmulatorError) {
        for name in isAccountSAS ? ["sv", "ss", "srt", "sp", "se"] : ["sv", "sr", "sp", "se"] where self[name].isEmpty {
            if name == "sp" || name == "se", !isAccountSAS, !self["si"].isEmpty {
                continue  // may come from a stored access policy (rejected below)
            }
            throw .authenticationFailed("\(Self.fieldNames[name] ?? name) is mandatory. Cannot be empty")
        }
        guard self["sv"] >= "2018-11-09" else {
            throw .authenticationFailed("The signed version \(self["sv"]) is not supported by this emulator; use 2018-11-09 or later.")
        }
        if !isAccountSAS && !self["si"].isEmpty {
            throw .authenticationFailed("Stored access policies (si) are not supported by this emulator.")
        }

        let stringToSign: String
        if isAccountSAS {
            stringToSign = accountStringToSign(account: context.account.name)
        } else {
            var resource = "/blob/\(context.account.name)"
            switch self["sr"] {
            case "c":
                guard let container = context.container else { throw .resourceTypeMismatch() }
                resource += "/\(container)"
            case "b", "bs", "bv":
                guard let container = context.container, let blob = context.blob else { throw .resourceTypeMismatch() }
                resource += "/\(container)/\(blob)"
            default:
                throw .authenticationFailed("Signed resource \(self["sr"]) is not valid; use c, b, bs or bv.")
            }
            let snapshot = self["sr"] == "bv" ? (context.request.queryValue("versionid") ?? "")
                : (context.request.queryValue("snapshot") ?? "")
            stringToSign = isUserDelegation
                ? userDelegationStringToSign(canonicalResource: resource, snapshot: snapshot)
                : serviceStringToSign(canonicalResource: resource, snapshot: snapshot)
        }
        var signingKey = context.account.key
        if isUserDelegation {
            guard let keyStart = HTTPDate.parseISO8601(self["skt"]), let keyExpiry = HTTPDate.parseISO8601(self["ske"]),
                keyStart <= context.now, context.now < keyExpiry
            else {
                throw .authenticationFailed("The user delegation key is not valid at this time (skt \(self["skt"]), ske \(self["ske"])).")
            }
            signingKey = UserDelegationKey.value(
                account: context.account, objectID: self["skoid"], tenantID: self["sktid"], start: self["skt"],
                expiry: self["ske"], service: self["sks"], version: self["skv"])
        }
        guard Self.matches(signature, stringToSign: stringToSign, key: signingKey) else {
            let shown = stringToSign.replacingOccurrences(of: "\n", with: "\\n")
            throw .authenticationFailed("Signature did not match. String to sign used was \(shown)")
        }

        guard let expiry = HTTPDate.parseISO8601(self["se"]) else {
            throw .authenticationFailed("se is not in a valid ISO 8601 format: \(self["se"])")
        }
        var start: Date?
        if !self["st"].isEmpty {
            guard let parsed = HTTPDate.parseISO8601(self["st"]) else {
                throw .authenticationFailed("st is not in a valid ISO 8601 format: \(self["st"])")
            }
            start = parsed
        }
        if let start, expiry <= start {
            throw .authenticationFailed(
                "Signed expiry time [\(HTTPDate.rfc1123(expiry))] must be after signed start time [\(HTTPDate.rfc1123(start))]")
        }
        if context.now >= expiry || (start.map { context.now < $0 } ?? false) {
            throw .authenticationFailed(
                "Signature not valid in the specified time frame: Start [\(start.map(HTTPDate.rfc1123) ?? "")] - "
                    + "Expiry [\(HTTPDate.rfc1123(expiry))] - Current [\(HTTPDate.rfc1123(context.now))]")
        }

        if !self["sip"].isEmpty {
            guard let ip = context.clientIP, Self.ipAllowed(ip, range: self["sip"]) else {
                throw .sourceIPMismatch(context.clientIP ?? "unknown")
            }
        }
        if !self["spr"].isEmpty {
            let allowed = self["spr"].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard allowed.allSatisfy({ $0 == "https" || $0 == "http" }) else {
                throw .authenticationFailed("spr must be https or https,http; got \(self["spr"])")
            }
            guard allowed.contains(context.isHTTPS ? "https" : "http") else { throw .protocolMismatch() }
        }

        if isAccountSAS {
            guard self["ss"].contains("b") else { throw .serviceMismatch() }
            guard self["srt"].contains(context.operation.scope.rawValue) else { throw .resourceTypeMismatch() }
        } else {
            guard context.operation.allowedWithServiceSAS else { throw .permissionMismatch() }
            if self["sr"] == "c" && context.blob == nil && context.operation.scope != .container {
                throw .resourceTypeMismatch()
            }
        }
        let granted = Set(self["sp"])
        guard !granted.isDisjoint(with: context.operation.permissions(context.request)) else { throw .permissionMismatch() }
    }

    private static let fieldNames = [
        "sv": "sv (signed version)", "ss": "ss (signed services)", "srt": "srt (signed resource types)",
        "sp": "sp (signed permissions)", "se": "se (signed expiry)", "sr": "sr (signed resource)",
    ]

    /// Whether IPv4 `ip` is `range` (`a.b.c.d`) or inside it (`a.b.c.d-e.f.g.h`).
    static func ipAllowed(_ ip: String, range: String) -> Bool {
        func value(_ text: some StringProtocol) -> UInt32? {
            let octets = text.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
            guard octets.count == 4 else { return nil }
            return octets.reduce(0) { $0 << 8 | UInt32($1) }
        }
        let bounds = range.split(separator: "-", maxSplits: 1)
        guard let address = value(ip), let low = bounds.first.flatMap({ value($0) }) else { return ip == range }
        let high = bounds.count > 1 ? value(bounds[1]) : low
        guard let high else { return false }
        return low <= address && address <= high
    }
}

extension EmulatorError {
    static func permissionMismatch() -> Self {
        .init(status: 403, code: "AuthorizationPermissionMismatch", message: "This request is not authorized to perform this operation using this permission.")
    }
    static func resourceTypeMismatch() -> Self {
        .init(status: 403, code: "AuthorizationResourceTypeMismatch", message: "This request is not authorized to perform this operation using this resource type.")
    }
    static func serviceMismatch() -> Self {
        .init(status: 403, code: "AuthorizationServiceMismatch", message: "This request is not authorized to perform this operation using this service.")
    }
    static func sourceIPMismatch(_ ip: String) -> Self {
        .init(status: 403, code: "AuthorizationSourceIPMismatch", message: "This request is not authorized to perform this operation using this source IP \(ip).")
    }
    static func protocolMismatch() -> Self {
        .init(status: 403, code: "AuthorizationProtocolMismatch", message: "This request is not authorized to perform this operation using this protocol.")
    }
}

/// User delegation keys (Get User Delegation Key). The emulator keeps none: a key's value is an HMAC of its
/// fields under the account key, so the fields a SAS carries are enough to recompute it, and rotating the
/// account key revokes every delegation key, as in Azure.
enum UserDelegationKey {
    static func value(
        account: StorageAccount, objectID: String, tenantID: String, start: String, expiry: String, service: String,
        version: String
    ) -> String {
        let fields = ["user-delegation-key", objectID, tenantID, start, expiry, service, version].joined(separator: "\n")
        return SharedKeyVerifier.signature(fields, key: account.key) ?? ""
    }
}
