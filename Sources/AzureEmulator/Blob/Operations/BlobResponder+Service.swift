import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Operations on the account's Blob service: Get and Set Blob Service Properties, Get Account Information and
/// Get User Delegation Key.
extension BlobResponder {
    /// The sections of Get Blob Service Properties, in Azure's order, with what an untouched account answers.
    private static let defaultServiceSections: [(String, @Sendable (inout XMLWriter) -> Void)] = [
        ("Logging", { xml in
            xml.element("Logging") { xml in
                xml.element("Version", "1.0"); xml.element("Read", "false"); xml.element("Write", "false")
                xml.element("Delete", "false")
                xml.element("RetentionPolicy") { $0.element("Enabled", "false") }
            }
        }),
        ("HourMetrics", { xml in
            xml.element("HourMetrics") { xml in
                xml.element("Version", "1.0"); xml.element("Enabled", "false")
                xml.element("RetentionPolicy") { $0.element("Enabled", "false") }
            }
        }),
        ("MinuteMetrics", { xml in
            xml.element("MinuteMetrics") { xml in
                xml.element("Version", "1.0"); xml.element("Enabled", "false")
                xml.element("RetentionPolicy") { $0.element("Enabled", "false") }
            }
        }),
        ("Cors", { xml in xml.element("Cors") { _ in } }),
        ("DefaultServiceVersion", { _ in }),
        ("DeleteRetentionPolicy", { _ in }),
        ("StaticWebsite", { xml in xml.element("StaticWebsite") { $0.element("Enabled", "false") } }),
    ]

    func serviceProperties(_ request: BlobRequest) async throws -> Response {
        let settings = try await storage.serviceSettings(request.account)
        var xml = XMLWriter()
        xml.element("StorageServiceProperties") { xml in
            for (name, writeDefault) in Self.defaultServiceSections {
                if name == "DeleteRetentionPolicy" {
                    xml.element("DeleteRetentionPolicy") { xml in
                        xml.element("Enabled", settings.deleteRetentionDays == nil ? "false" : "true")
                        if let days = settings.deleteRetentionDays {
                            xml.element("Days", String(days))
                            xml.element("AllowPermanentDelete", "false")
                        }
                    }
                } else if let stored = settings.sections[name] {
                    xml.raw(stored)
                } else {
                    writeDefault(&xml)
                }
            }
        }
        return xmlResponse(xml)
    }

    /// Set Blob Service Properties: sections the request contains replace the stored ones; the others stay.
    func setServiceProperties(_ request: BlobRequest, body: RequestBody) async throws -> Response {
        let root = try XMLNode.parse(try await readSmallBody(body))
        guard root.name == "StorageServiceProperties" else { throw EmulatorError.invalidXML() }
        var settings = try await storage.serviceSettings(request.account)
        for section in root.children {
            guard Self.defaultServiceSections.contains(where: { $0.0 == section.name }) else {
                throw EmulatorError.invalidXmlNodeValue(section.name)
            }
            if section.name == "DeleteRetentionPolicy" {
                switch section.value("Enabled")?.lowercased() {
                case "true":
                    guard let text = section.value("Days"), let days = Int(text), (1...365).contains(days) else {
                        throw EmulatorError.invalidXmlNodeValue("Days")
                    }
                    settings.deleteRetentionDays = days
                case "false": settings.deleteRetentionDays = nil
                default: throw EmulatorError.invalidXmlNodeValue("Enabled")
                }
                continue
            }
            var fragment = XMLWriter(declaration: false)
            section.write(to: &fragment)
            settings.sections[section.name] = fragment.text
        }
        try await storage.setServiceSettings(request.account, settings)
        return Response(status: .accepted)
    }

    func accountInformation() -> Response {
        var response = Response(status: .ok)
        response.headers[HTTPField.Name("x-ms-sku-name")!] = "Standard_LRS"
        response.headers[HTTPField.Name("x-ms-account-kind")!] = "StorageV2"
        response.headers[HTTPField.Name("x-ms-is-hns-enabled")!] = "false"
        return response
    }

    /// Get User Delegation Key: only an Entra ID caller gets one, for at most seven days; its value is derived
    /// from its fields (see ``UserDelegationKey``), so nothing is stored.
    func userDelegationKey(_ request: BlobRequest, body: RequestBody, version: String) async throws -> Response {
        guard let account = configuration.accounts.first(where: { $0.name == request.account }) else {
            throw EmulatorError.resourceNotFound()
        }
        guard let authorization = request.header("Authorization"), authorization.hasPrefix("Bearer ") else {
            throw EmulatorError.authenticationFailed("Only requests with an Entra ID bearer token may get a user delegation key.")
        }
        let token = String(authorization.dropFirst(7))
        var objectID = TokenIssuer.stableUUID("static-bearer-token")
        var tenantID = configuration.tenantID
        if !(configuration.staticBearerToken.map { SecretComparison.matches(token, $0) } ?? false) {
            guard let tokenIssuer else { throw EmulatorError.authenticationFailed("The bearer token is not valid for this account.") }
            switch tokenIssuer.validate(token, audiences: Self.storageAudiences(account)) {
            case .rejected(let reason):
                throw EmulatorError.invalidAuthenticationInfo(reason.description, challenge: Self.challenge(tokenIssuer))
            case .valid(let jwt):
                objectID = jwt.string("oid") ?? objectID
                tenantID = jwt.string("tid") ?? tenantID
            }
        }
        let root = try XMLNode.parse(try await readSmallBody(body))
        guard root.name == "KeyInfo" else { throw EmulatorError.invalidXML() }
        let now = storage.now()
        guard let expiryText = root.value("Expiry"), let expiry = HTTPDate.parseISO8601(expiryText) else {
            throw EmulatorError.invalidXmlNodeValue("Expiry")
        }
        let startText = root.value("Start") ?? HTTPDate.iso8601(now)
        guard let start = HTTPDate.parseISO8601(startText) else { throw EmulatorError.invalidXmlNodeValue("Start") }
        guard expiry > start, expiry <= now.addingTimeInterval(7 * 86400 + 300) else {
            throw EmulatorError.invalidXmlNodeValue("Expiry")
        }
        let value = UserDelegationKey.value(
            account: account, objectID: objectID, tenantID: tenantID, start: startText, expiry: expiryText, service: "b",
            version: version)
        var xml = XMLWriter()
        xml.element("UserDelegationKey") { xml in
            xml.element("SignedOid", objectID)
            xml.element("SignedTid", tenantID)
            xml.element("SignedStart", startText)
            xml.element("SignedExpiry", expiryText)
            xml.element("SignedService", "b")
            xml.element("SignedVersion", version)
            if let delegated = root.value("DelegatedUserTid") { xml.element("SignedDelegatedUserTid", delegated) }
            xml.element("Value", value)
        }
        return xmlResponse(xml)
    }
}
