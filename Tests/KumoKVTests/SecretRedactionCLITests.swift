import Foundation
import Testing

@Suite("kumo never prints a SAS signature")
struct SecretRedactionCLITests {
    /// An unreachable target named by a URL with a SAS: the error names the endpoint so the operator can fix
    /// it, but the signature (a bearer credential for the container) never reaches the terminal or a log.
    @Test func unreachableTargetErrorNamesTheEndpointNotTheSignature() throws {
        let signature = "c2lnU0VDUkVUc2ln%2B%2F%3D"
        let url = "http://127.0.0.1:1/devstoreaccount1/c/p?sv=2023-11-03&sp=rl&sig=\(signature)"
        let result = try run(kumoExecutable, ["backup", "list", "--from", url])
        #expect(result.status != 0)
        #expect(result.stderr.contains("127.0.0.1:1"), "\(result.stderr)")
        for leaked in [signature, "c2lnU0VDUkVUc2ln", signature.removingPercentEncodingForTest] {
            #expect(!result.stderr.contains(leaked), "\(result.stderr)")
            #expect(!result.stdout.contains(leaked), "\(result.stdout)")
        }
    }
}

extension String {
    fileprivate var removingPercentEncodingForTest: String {
        replacingOccurrences(of: "%2B", with: "+").replacingOccurrences(of: "%2F", with: "/")
            .replacingOccurrences(of: "%3D", with: "=")
    }
}
