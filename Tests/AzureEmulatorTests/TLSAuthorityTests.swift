import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

@testable import AzureEmulator

/// The emulator's CA can vouch for no DNS name but `localhost`, lives a year, and is replaced when it cannot.
@Suite("Emulator certificate authority")
struct TLSAuthorityTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kumo-tls-\(UUID().uuidString)").path
    }

    @Test func caPermitsOnlyLoopbackNames() throws {
        let made = try TLSMaterial.generate(now: Self.now)
        let ca = try Certificate(pemEncoded: made.caCertificatePEM)
        #expect(ca.extensions[oid: .X509ExtensionID.nameConstraints]?.critical == true)
        let constraints = try #require(try ca.extensions.nameConstraints)
        // Exactly one permitted subtree; IP ranges would make BoringSSL refuse the emulator's own certificate.
        #expect(constraints.permittedSubtrees == [.dnsName("localhost")])
        #expect(constraints.excludedSubtrees.isEmpty)
        #expect(ca.notValidAfter.timeIntervalSince(Self.now) == 365 * 86_400)
        let server = try Certificate(pemEncoded: made.serverCertificatePEM)
        #expect(server.notValidAfter <= ca.notValidAfter)
    }

    /// A certificate for `names` signed with the emulator CA's key, as a stolen `ca-key.pem` would allow.
    static func leaf(_ names: [GeneralName], signedBy made: TLSMaterial.Generated) throws -> Certificate {
        let ca = try Certificate(pemEncoded: made.caCertificatePEM)
        let caKey = Certificate.PrivateKey(try P256.Signing.PrivateKey(pemRepresentation: made.caKeyPEM))
        let key = Certificate.PublicKey(P256.Signing.PrivateKey().publicKey)
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key,
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(86_400),
            issuer: ca.subject, subject: try DistinguishedName { CommonName("leaf") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: caKey)
    }

    static func verifies(_ leaf: Certificate, _ made: TLSMaterial.Generated) async throws -> Bool {
        let ca = try Certificate(pemEncoded: made.caCertificatePEM)
        var verifier = Verifier(rootCertificates: CertificateStore([ca])) { RFC5280Policy(validationTime: now) }
        if case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore()) { return true }
        return false
    }

    @Test func aVerifierRefusesCertificatesForOtherNames() async throws {
        let made = try TLSMaterial.generate(now: Self.now)
        let accepted: [[GeneralName]] = [
            [.dnsName("localhost")], [.ipAddress(ASN1OctetString(contentBytes: [127, 9, 8, 7]))],
        ]
        let refused: [[GeneralName]] = [
            [.dnsName("login.microsoftonline.com")], [.dnsName("localhost.evil.example")],
            [.dnsName("localhost"), .dnsName("example.com")],
        ]
        let server = try Certificate(pemEncoded: made.serverCertificatePEM)
        #expect(try await Self.verifies(server, made))
        for names in accepted {
            let leaf = try Self.leaf(names, signedBy: made)
            #expect(try await Self.verifies(leaf, made), "\(names)")
        }
        for names in refused {
            let leaf = try Self.leaf(names, signedBy: made)
            let verified = try await Self.verifies(leaf, made)
            #expect(!verified, "\(names)")
        }
    }

    @Test func storedMaterialIsKeptUntilItMustBeRenewed() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var reasons: [String] = []
        let first = try TLSMaterial.loadOrCreate(in: directory, now: Self.now) { reasons.append($0) }
        let again = try TLSMaterial.loadOrCreate(in: directory, now: Self.now.addingTimeInterval(300 * 86_400)) { reasons.append($0) }
        #expect(again.caCertificatePEM == first.caCertificatePEM)
        #expect(reasons.isEmpty)
        // Within 30 days of expiry it is made anew, and says so.
        let renewed = try TLSMaterial.loadOrCreate(in: directory, now: Self.now.addingTimeInterval(340 * 86_400)) { reasons.append($0) }
        #expect(renewed.caCertificatePEM != first.caCertificatePEM)
        #expect(reasons.count == 1 && reasons[0].contains("the CA expires"))
        #expect(try String(contentsOfFile: directory + "/tls/ca.pem", encoding: .utf8) == renewed.caCertificatePEM)
    }

    @Test func anUnconstrainedCAFromAnOlderEmulatorIsReplaced() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try TLSMaterial.loadOrCreate(in: directory, now: Self.now)
        // An unconstrained, ten-year CA such as older emulators made.
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("Kumo Emulator Local CA") }
        let old = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Self.now, notValidAfter: Self.now.addingTimeInterval(10 * 365 * 86_400), issuer: name,
            subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0)) },
            issuerPrivateKey: .init(key))
        try old.serializeAsPEM().pemString.write(toFile: directory + "/tls/ca.pem", atomically: true, encoding: .utf8)
        var reasons: [String] = []
        let renewed = try TLSMaterial.loadOrCreate(in: directory, now: Self.now) { reasons.append($0) }
        #expect(reasons.count == 1 && reasons[0].contains("not limited to localhost"))
        #expect(try Certificate(pemEncoded: renewed.caCertificatePEM).extensions.nameConstraints != nil)
    }
}
