import AzureCore
import Foundation
import Synchronization

/// Tries credentials in order and remembers the first that produces a token, so later calls go straight to it.
///
/// A credential that is not configured here (`.credentialUnavailable`) passes the turn to the next one; any
/// other failure (a wrong secret, a refused identity) ends the search, since a configured credential that
/// fails is a problem to report, not to paper over with another identity.
public final class ChainedTokenCredential: TokenCredential, CustomStringConvertible {
    public let sources: [any TokenCredential]
    let name: String
    private let selected = Mutex<Int?>(nil)

    /// The index of the credential that produced the first token, once one has.
    var selectedIndex: Int? { selected.withLock { $0 } }

    public convenience init(sources: [any TokenCredential]) {
        self.init(name: "ChainedTokenCredential", sources: sources)
    }

    init(name: String, sources: [any TokenCredential]) {
        self.name = name
        self.sources = sources
    }

    /// - Throws: ``AzureError`` `.credentialUnavailable` listing every credential and why it could not be
    ///   used, or the first real failure (`.authentication`) prefixed with the reasons of those before it.
    public func token(for scopes: [String]) async throws -> AccessToken {
        try await token(for: scopes, tenantID: nil)
    }

    public func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
        if let index = selected.withLock({ $0 }) { return try await sources[index].token(for: scopes, tenantID: tenantID) }
        var reasons: [String] = []
        for (index, source) in sources.enumerated() {
            do {
                let token = try await source.token(for: scopes, tenantID: tenantID)
                selected.withLock { $0 = $0 ?? index }
                return token
            } catch let error as AzureError where error.code == .credentialUnavailable {
                reasons.append(error.message)
            } catch let error as AzureError {
                reasons.append(error.message)
                throw AzureError(
                    error.code == .invalidArgument ? .authentication : error.code,
                    "\(name) failed to get a token: " + reasons.joined(separator: "; "), statusCode: error.statusCode,
                    errorCode: error.errorCode, requestID: error.requestID, isRetriable: error.isRetriable)
            }
        }
        throw AzureError(
            .credentialUnavailable,
            "\(name) failed to get a token: "
                + (reasons.isEmpty ? "the chain has no credentials" : reasons.joined(separator: "; ")))
    }

    public var description: String { "\(name)(\(sources.map { String(describing: $0) }.joined(separator: ", ")))" }
}

/// The credential for code that should just work wherever it runs: on a developer's machine, in CI, in AKS, on
/// an Azure VM or App Service. It tries, in Microsoft's order:
///
/// 1. ``EnvironmentCredential`` (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or
///    `AZURE_CLIENT_CERTIFICATE_PATH`)
/// 2. ``WorkloadIdentityCredential`` (`AZURE_FEDERATED_TOKEN_FILE`, as AKS injects)
/// 3. ``ManagedIdentityCredential`` (App Service's `IDENTITY_ENDPOINT`, else IMDS, probed with a 1 s timeout)
/// 4. ``AzureCLICredential``, when `az` is on the `PATH`
///
/// and then keeps using the first that worked.
public final class DefaultAzureCredential: TokenCredential, CustomStringConvertible {
    let chain: ChainedTokenCredential

    /// - Parameters:
    ///   - managedIdentityClientID: a user-assigned managed identity's client ID (default `AZURE_CLIENT_ID`).
    ///   - excludeAzureCLICredential: skip the Azure CLI even when `az` is installed.
    ///   - environment: where every link reads its variables (tests pass their own).
    public init(
        managedIdentityClientID: String? = nil, excludeAzureCLICredential: Bool = false,
        options: TokenCredentialOptions = .init(), environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        var sources: [any TokenCredential] = [EnvironmentCredential(options: options, environment: environment)]
        do {
            sources.append(try WorkloadIdentityCredential(options: options, environment: environment))
        } catch let error as AzureError {
            sources.append(UnavailableCredential(error: error))
        } catch {
            sources.append(UnavailableCredential(error: AzureError(.credentialUnavailable, "WorkloadIdentityCredential: \(error)")))
        }
        sources.append(ManagedIdentityCredential(
            clientID: managedIdentityClientID ?? environment["AZURE_CLIENT_ID"].flatMap { $0.isEmpty ? nil : $0 },
            options: options, environment: environment, probeTimeout: .seconds(1)))
        if !excludeAzureCLICredential, AzureCLICredential.executablePath(environment: environment) != nil {
            sources.append(AzureCLICredential(environment: environment))
        }
        chain = ChainedTokenCredential(name: "DefaultAzureCredential", sources: sources)
    }

    /// - Throws: ``AzureError`` `.credentialUnavailable` whose message lists each credential and why it could
    ///   not be used ("EnvironmentCredential: AZURE_TENANT_ID is not set; ..."), or the failure of the first
    ///   configured credential.
    public func token(for scopes: [String]) async throws -> AccessToken {
        try await chain.token(for: scopes)
    }

    public func token(for scopes: [String], tenantID: String?) async throws -> AccessToken {
        try await chain.token(for: scopes, tenantID: tenantID)
    }

    public var description: String { chain.description }
}

/// Stands in a chain for a credential that could not even be built, so its reason is reported in order.
struct UnavailableCredential: TokenCredential, CustomStringConvertible {
    let error: AzureError
    func token(for scopes: [String]) async throws -> AccessToken { throw error }
    var description: String { "unavailable: \(error.message)" }
}
