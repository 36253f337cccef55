/// An error the emulator answers with: an HTTP status, Azure's error code (for Blob sent as `x-ms-error-code` and
/// in the XML body, for Key Vault in the JSON body) and Azure's message for that code. Each service adds the codes
/// it answers with next to its responder (`Blob/BlobErrors.swift`, `KeyVault/KeyVaultErrors.swift`).
struct EmulatorError: Error, Sendable {
    var status: Int
    var code: String
    var message: String
    /// Extra elements of the XML error body, such as `AuthenticationErrorDetail`.
    var details: [(String, String)] = []
    /// Extra response headers, such as the `WWW-Authenticate` challenge of a refused bearer token.
    var headers: [(String, String)] = []

    static func internalError() -> Self { .init(status: 500, code: "InternalError", message: "The server encountered an internal error. Please retry the request.") }
}
