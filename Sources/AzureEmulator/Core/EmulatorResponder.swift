import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// One listener's front door: managed identity, Entra ID and Key Vault requests go to their responders,
/// everything else is a Blob request. Entra ID and Key Vault answer on the HTTPS listener only, as their
/// clients refuse plain http.
struct EmulatorResponder: HTTPResponder {
    typealias Context = EmulatorRequestContext

    let blob: BlobResponder
    let entra: EntraResponder
    let keyVault: KeyVaultResponder?

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.head.path ?? "/"
        let pathOnly = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let segments = pathOnly.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if EntraResponder.handlesManagedIdentity(segments) {
            return try await entra.respond(ServiceRequest(request))
        }
        if let keyVault {
            if EntraResponder.handles(segments),
                !entra.configuration.accounts.contains(where: { $0.name == segments[0] })
            {
                return try await entra.respond(ServiceRequest(request))
            }
            if let first = segments.first, KeyVaultResponder.collections.contains(first) {
                return try await keyVault.respond(ServiceRequest(request, maxBody: 4 << 20))
            }
        }
        return try await blob.respond(to: request, context: context)
    }
}

/// The request context of the emulator: Hummingbird's basics plus the connection, which fault injection
/// closes and SAS `sip` checks read the client address from.
struct EmulatorRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
