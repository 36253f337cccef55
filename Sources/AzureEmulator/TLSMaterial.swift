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
struct TLSMaterial: Sendable {
    let caCertificatePEM: String
    let serverCertificatePEM: String
    let serverKeyPEM: String
    let caCertificatePath: String

    static func loadOrCreate(in dataDirectory: String) throws -> TLSMaterial {
        let directory = URL(fileURLWithPath: dataDirectory).appendingPathComponent("tls")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let caURL = directory.appendingPathComponent("ca.pem")
        let caKeyURL = directory.appendingPathComponent("ca-key.pem")
        let serverURL = directory.appendingPathComponent("server.pem")
        let serverKeyURL = directory.appendingPathComponent("server-key.pem")
        let fileManager = FileManager.default
        if [caURL, caKeyURL, serverURL, serverKeyURL].allSatisfy({ fileManager.fileExists(atPath: $0.path) }) {
            return TLSMaterial(
                caCertificatePEM: try String(contentsOf: caURL, encoding: .utf8),
                serverCertificatePEM: try String(contentsOf: serverURL, encoding: .utf8),
                serverKeyPEM: try String(contentsOf: serverKeyURL, encoding: .utf8),
                caCertificatePath: caURL.path)
        }
        let made = try generate()
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
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                caIdentifier
                // Self-signed, so the authority is itself; some strict verifiers want the extension on every cert.
                AuthorityKeyIdentifier(keyIdentifier: caIdentifier.keyIdentifier)
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
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(395 * 86400),
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

    func serverConfiguration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(serverCertificatePEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(serverKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.applicationProtocols = ["http/1.1"]
        return configuration
    }
}

/// Files holding private key material: written atomically and readable by the owner only.
enum SecretFile {
    static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    static func write(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).\(UUID().uuidString)")
        guard
            FileManager.default.createFile(
                atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o600])
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: temporary.path)
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
    }
}
