import AzureCore
import AzureStorageBlobs
import Foundation
import KumoBackup
import KumoKV
import Testing

@Suite("Backup bad input: clear errors, no data lost")
struct BackupBadInputTests {
    @Test(arguments: [
        ("ftp://example.com/x", "unsupported backup target"),
        ("azure://", "needs AZURE_STORAGE_CONNECTION_STRING"),
        ("https://acct.blob.core.windows.net", "names no container"),
        ("https://acct.blob.core.windows.net/backups/p", "has no SAS"),
        ("https://acct.blob.core.windows.net/Backups/p", "is not a valid container name"),
        ("file://relative/dir", "not a file URL with an absolute path"),
    ])
    func malformedTargets(url: String, expected: String) {
        #expect {
            _ = try BackupTargets.open(url, environment: [:])
        } throws: { error in
            guard let error = error as? BackupError else { return false }
            return error.code == .invalidArgument && error.message.contains(expected)
        }
    }

    @Test func secretsStayOutOfTargetErrors() throws {
        let url = "https://acct.blob.core.windows.net?sv=2026-10-06&sig=TOPSECRET"
        do {
            _ = try BackupTargets.open(url, environment: [:])
            Issue.record("opened \(url)")
        } catch {
            #expect(!String(describing: error).contains("TOPSECRET"))
        }
        for url in ["http://127.0.0.1:1/?sv=1&sig=TOPSECRET", "http://127.0.0.1:1?sig=TOPSECRET"] {
            #expect(throws: BackupError.self) { _ = try BackupTargets.open(url, environment: [:]) }
            do { _ = try BackupTargets.open(url, environment: [:]) } catch { #expect(!String(describing: error).contains("TOPSECRET"), "\(error)") }
        }
        var error = BackupError(.corrupt, "copy of https://a.blob.core.windows.net/c/x?sv=1&sig=TOPSECRET failed")
        #expect(!error.message.contains("TOPSECRET"))
        error.message += " again: AccountKey=TOPSECRET;"
        #expect(!error.description.contains("TOPSECRET"), "a message changed later is redacted too")
    }

    @Test func unreachableEndpointMissingContainerAndWrongKey() async throws {
        let scratch = Scratch()
        let store = try await Store.open(at: scratch.path + "/db")
        try store.put(bytes("a"), bytes("b"))
        defer { try? store.close() }

        var fast = ClientOptions()
        fast.retry = .exponential(maxRetries: 1, delay: .milliseconds(5))
        fast.perTryTimeout = .seconds(5)
        let unreachable = try BackupTargets.open(
            "azure://backups/x", environment: ["AZURE_STORAGE_CONNECTION_STRING": connectionString(port: 9)], clientOptions: fast)
        let transport = try await #require(throws: AzureError.self) { try await BackupEngine(target: unreachable).create(store) }
        #expect(transport.code == .transport || transport.code == .timeout)

        try await withStartedEmulator(scratch.path + "/emulator") { port in
            let missing = try BackupTargets.open(
                "azure://no-such-container/x", environment: ["AZURE_STORAGE_CONNECTION_STRING": connectionString(port: port)], clientOptions: fast)
            let notFound = try await #require(throws: AzureError.self) { try await BackupEngine(target: missing).create(store) }
            #expect(notFound.statusCode == 404 && notFound.errorCode == "ContainerNotFound")

            let wrongKey = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=\(Data(repeating: 3, count: 64).base64EncodedString());BlobEndpoint=http://127.0.0.1:\(port)/devstoreaccount1;"
            let denied = try BackupTargets.open("azure://backups/x", environment: ["AZURE_STORAGE_CONNECTION_STRING": wrongKey], clientOptions: fast)
            let forbidden = try await #require(throws: AzureError.self) { try await BackupEngine(target: denied).create(store) }
            #expect(forbidden.statusCode == 403 && forbidden.errorCode == "AuthenticationFailed")
            #expect(try store.get(bytes("a")) == bytes("b"), "a failed backup leaves the store as it was")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.contains(".kumo-backup-") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func unknownBackupID() async throws {
        let scratch = Scratch()
        let engine = BackupEngine(target: try LocalDirectoryTarget(root: scratch.path + "/target"))
        for call in ["verify", "restore", "delete"] {
            let error = try await #require(throws: BackupError.self) {
                switch call {
                case "verify": _ = try await engine.verify("20990101T000000000Z-nothere")
                case "restore": _ = try await engine.restore("20990101T000000000Z-nothere", to: scratch.path + "/r")
                default: _ = try await engine.delete("20990101T000000000Z-nothere")
                }
            }
            #expect(error.code == .notFound && error.message.contains("nothere"), "\(call)")
        }
        let latest = try await #require(throws: BackupError.self) { try await engine.manifest("latest") }
        #expect(latest.code == .notFound)
    }
}
