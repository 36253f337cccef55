import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The emulator's own certificate authority and the server certificate it signs for the HTTPS listener.
///
/// Both are made on first start and kept in `<dataDirectory>/tls/` (`ca.pem` is what clients trust), so a client
/// configured once keeps working across restarts. The server certificate names `localhost`, `127.0.0.1` and `::1`,
/// and carries the authority and subject key identifiers that strict verifiers (Python 3.13's
/// `VERIFY_X509_STRICT`) insist on.
///
/// A developer adds `ca.pem` to trust stores, so its key must not be able to vouch for other hosts: the CA
/// carries a critical name constraint permitting only the DNS name `localhost` (``permittedDNSDomains``) and
/// lives one year. It constrains no IP addresses: BoringSSL, which SwiftNIO SSL and so every Swift client here
/// uses, refuses any chain whose CA has IP-address constraints while its leaf names an IP address, and the
/// server certificate must name 127.0.0.1 and ::1. Material that is unconstrained, unreadable, or within
/// ``renewalWindow`` of expiry is made anew on start.
struct TLSMaterial: Sendable {
    let caCertificatePEM: String
    let serverCertificatePEM: String
    let serverKeyPEM: String
    let caCertificatePath: String

    /// How long the CA and the server certificate are valid (a leaf may not exceed 398 days).
    static let lifetime: TimeInterval = 365 * 86_400
    /// Material with less than this left is replaced on start.
    static let renewalWindow: TimeInterval = 30 * 86_400
    /// The only DNS names the CA may certify: `localhost` and names below it.
    static let permittedDNSDomains = ["localhost"]

    /// Loads the material in `<dataDirectory>/tls/`, or makes it when it is missing or ``renewalReason(now:)``
    /// finds a reason; `renewed` hears that reason (the emulator logs it, since clients must trust the new CA).
    static func loadOrCreate(
        in dataDirectory: String, now: Date = Date(), renewed: (String) -> Void = { _ in }
    ) throws -> TLSMaterial {
        let directory = URL(fileURLWithPath: dataDirectory).appendingPathComponent("tls")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let caURL = directory.appendingPathComponent("ca.pem")
        let caKeyURL = directory.appendingPathComponent("ca-key.pem")
        let serverURL = directory.appendingPathComponent("server.pem")
        let serverKeyURL = directory.appendingPathComponent("server-key.pem")
        let fileManager = FileManager.default
        if [caURL, caKeyURL, serverURL, serverKeyURL].allSatisfy({ fileManager.fileExists(atPath: $0.path) }) {
            let stored = TLSMaterial(
                caCertificatePEM: try String(contentsOf: caURL, encoding: .utf8),
                serverCertificatePEM: try String(contentsOf: serverURL, encoding: .utf8),
                serverKeyPEM: try String(contentsOf: serverKeyURL, encoding: .utf8),
                caCertificatePath: caURL.path)
            guard let reason = stored.renewalReason(now: now) else { return stored }
            renewed("TLS material in \(directory.path) is made anew (\(reason)); clients must trust the new \(caURL.path)")
        }
        let made = try generate(now: now)
        try SecretFile.write(made.caKeyPEM, to: caKeyURL)
        try SecretFile.write(made.serverKeyPEM, to: serverKeyURL)
        try Data(made.serverCertificatePEM.utf8).write(to: serverURL, options: .atomic)
        // The CA certificate is written last: its presence marks a complete set.
        try Data(made.caCertificatePEM.utf8).write(to: caURL, options: .atomic)
        return TLSMaterial(
            caCertificatePEM: made.caCertificatePEM, serverCertificatePEM: made.serverCertificatePEM,
            serverKeyPEM: made.serverKeyPEM, caCertificatePath: caURL.path)
    }

    struct Generated {
        var caCertificatePEM: String
        var caKeyPEM: String
        var serverCertificatePEM: String
        var serverKeyPEM: String
    }

    static func generate(now: Date = Date()) throws -> Generated {
        let caKey = P256.Signing.PrivateKey()
        let caPrivate = Certificate.PrivateKey(caKey)
        let caPublic = caPrivate.publicKey
        let caName = try DistinguishedName {
            OrganizationName("Kumo")
            CommonName("Kumo Emulator Local CA")
        }
        let caIdentifier = SubjectKeyIdentifier(hash: caPublic)
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: caPublic,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(lifetime),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                caIdentifier
                // Self-signed, so the authority is itself; some strict verifiers want the extension on every cert.
                AuthorityKeyIdentifier(keyIdentifier: caIdentifier.keyIdentifier)
                Critical(NameConstraints(permittedDNSDomains: permittedDNSDomains))
            },
            issuerPrivateKey: caPrivate)

        let serverKey = P256.Signing.PrivateKey()
        let serverPublic = Certificate.PublicKey(serverKey.publicKey)
        let serverName = try DistinguishedName {
            OrganizationName("Kumo")
            CommonName("localhost")
        }
        let server = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: serverPublic,
            // Kept under 398 days, the longest validity Apple's and browsers' verifiers accept for a leaf.
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(lifetime),
            issuer: caName, subject: serverName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectKeyIdentifier(hash: serverPublic)
                AuthorityKeyIdentifier(keyIdentifier: caIdentifier.keyIdentifier)
                SubjectAlternativeNames([
                    .dnsName("localhost"),
                    .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                    .ipAddress(ASN1OctetString(contentBytes: ArraySlice(Array(repeating: 0, count: 15) + [1]))),
                ])
            },
            issuerPrivateKey: caPrivate)
        return Generated(
            caCertificatePEM: try ca.serializeAsPEM().pemString,
            caKeyPEM: caKey.pemRepresentation,
            serverCertificatePEM: try server.serializeAsPEM().pemString,
            serverKeyPEM: serverKey.pemRepresentation)
    }

    /// Why stored material must be replaced, or nil when it is fine: unreadable, a CA without the `localhost`
    /// name constraints (made by an older emulator), or a certificate within ``renewalWindow`` of expiry.
    func renewalReason(now: Date) -> String? {
        guard let ca = try? Certificate(pemEncoded: caCertificatePEM),
            let server = try? Certificate(pemEncoded: serverCertificatePEM)
        else { return "the certificates cannot be read" }
        let expected = NameConstraints(permittedDNSDomains: Self.permittedDNSDomains)
        guard let constraints = try? ca.extensions.nameConstraints, constraints == expected,
            ca.extensions[oid: .X509ExtensionID.nameConstraints]?.critical == true
        else { return "the CA is not limited to localhost" }
        let deadline = now.addingTimeInterval(Self.renewalWindow)
        if ca.notValidAfter < deadline { return "the CA expires \(HTTPDate.iso8601(ca.notValidAfter))" }
        if server.notValidAfter < deadline {
            return "the server certificate expires \(HTTPDate.iso8601(server.notValidAfter))"
        }
        return nil
    }

    func serverConfiguration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(serverCertificatePEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(serverKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.applicationProtocols = ["http/1.1"]
        return configuration
    }
}
