import AzureCore
import Foundation

/// Uses the account signed in to the Azure CLI (`az login`) by running
/// `az account get-access-token --scope <scope> --output json`; for developers' machines.
public struct AzureCLICredential: TokenCredential, CustomStringConvertible {
    let environment: [String: String]
    let tenantID: String?
    private let cache = TokenCache()

    public init(tenantID: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.tenantID = tenantID
        self.environment = environment
    }

    /// The `az` executable on `PATH`, if any.
    static func executablePath(environment: [String: String]) -> String? {
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/az"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// - Throws: ``AzureError`` `.credentialUnavailable` when `az` is not installed or not logged in;
    ///   `.authentication` for other CLI failures (with the CLI's first error line).
    public func token(for scopes: [String]) async throws -> AccessToken {
        guard scopes.count == 1, let scope = scopes.first,
            scope.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_.:/".unicodeScalars.contains($0) })
        else {
            throw AzureError(.invalidArgument, "AzureCLICredential: exactly one scope of URL characters is required")
        }
        guard let az = Self.executablePath(environment: environment) else {
            throw AzureError(.credentialUnavailable, "AzureCLICredential: the Azure CLI (az) is not on the PATH")
        }
        var arguments = ["account", "get-access-token", "--scope", scope, "--output", "json"]
        if let tenantID { arguments += ["--tenant", tenantID] }
        let environment = environment
        let commandArguments = arguments
        return try await cache.token(for: scopes) {
            let (status, output, errorOutput) = try await Self.run(az, commandArguments, environment: environment)
            guard status == 0 else {
                let firstLine = errorOutput.split(separator: "\n").first.map(String.init) ?? "exit status \(status)"
                let notLoggedIn = errorOutput.contains("az login") || errorOutput.contains("az account set")
                throw AzureError(
                    notLoggedIn ? .credentialUnavailable : .authentication,
                    "AzureCLICredential: \(notLoggedIn ? "not logged in, run 'az login'" : firstLine)")
            }
            guard var object = try? JSONSerialization.jsonObject(with: output) as? [String: Any] else {
                throw AzureError(.invalidResponse, "AzureCLICredential: 'az account get-access-token' printed no JSON")
            }
            // Older CLIs give only expiresOn, a local time "2026-11-25 21:59:10.000000".
            if object["expires_on"] == nil, let local = object["expiresOn"] as? String {
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSSSS"
                if let date = formatter.date(from: local) { object["expires_on"] = date.timeIntervalSince1970 }
            }
            return try TokenResponse.parse(object, credentialName: "AzureCLICredential")
        }
    }

    private static func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws
        -> (Int32, Data, String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in
                let out = output.fileHandleForReading.readDataToEndOfFile()
                let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                continuation.resume(returning: (finished.terminationStatus, out, err))
            }
            do {
                try process.run()
            } catch {
                continuation.resume(
                    throwing: AzureError(.credentialUnavailable, "AzureCLICredential: cannot run \(executable): \(error)"))
            }
        }
    }

    public var description: String { "AzureCLICredential(tenantID: \(tenantID ?? "default"))" }
}
