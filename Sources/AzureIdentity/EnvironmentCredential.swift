import AzureCore
import Foundation

/// A service principal configured by environment variables, as in every Azure SDK:
/// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, and either `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH`;
/// `AZURE_AUTHORITY_HOST` for another cloud.
public struct EnvironmentCredential: TokenCredential, CustomStringConvertible {
    private enum Configuration: Sendable {
        case secret(ClientSecretCredential)
        case certificate(ClientCertificateCredential)
        case unavailable(String)
        case invalid(AzureError)
    }

    private let configuration: Configuration

    /// Reads the variables from `environment`. Never throws: a missing variable makes ``token(for:)`` throw
    /// `.credentialUnavailable`, so the credential can sit in a chain.
    public init(options: TokenCredentialOptions = .init(),
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let tenantID = value("AZURE_TENANT_ID") else {
            configuration = .unavailable("AZURE_TENANT_ID is not set")
            return
        }
        guard let clientID = value("AZURE_CLIENT_ID") else {
            configuration = .unavailable("AZURE_CLIENT_ID is not set")
            return
        }
        do {
            if let secret = value("AZURE_CLIENT_SECRET") {
                configuration = .secret(try ClientSecretCredential(
                    tenantID: tenantID, clientID: clientID, clientSecret: secret, options: options,
                    environment: environment))
            } else if let path = value("AZURE_CLIENT_CERTIFICATE_PATH") {
                configuration = .certificate(try ClientCertificateCredential(
                    tenantID: tenantID, clientID: clientID, certificatePath: path, options: options,
                    environment: environment))
            } else {
                configuration = .unavailable("neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set")
            }
        } catch let error as AzureError {
            configuration = .invalid(error)
        } catch {
            configuration = .invalid(AzureError(.invalidArgument, "EnvironmentCredential: \(error)"))
        }
    }

    public func token(for scopes: [String]) async throws -> AccessToken {
        try await token(for: scopes, tenantID: nil)
    }

    public func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
        switch configuration {
        case .secret(let credential): return try await credential.token(for: scopes, tenantID: tenantID)
        case .certificate(let credential): return try await credential.token(for: scopes, tenantID: tenantID)
        case .unavailable(let reason): throw AzureError(.credentialUnavailable, "EnvironmentCredential: \(reason)")
        case .invalid(let error):
            throw AzureError(.authentication, "EnvironmentCredential is misconfigured: \(error.message)")
        }
    }

    public var description: String {
        switch configuration {
        case .secret(let credential): "EnvironmentCredential(\(credential))"
        case .certificate(let credential): "EnvironmentCredential(\(credential))"
        case .unavailable(let reason): "EnvironmentCredential(unavailable: \(reason))"
        case .invalid(let error): "EnvironmentCredential(invalid: \(error.message))"
        }
    }
}
