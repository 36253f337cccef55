import Foundation

/// Key Vault's errors about secrets and keys, with the messages Key Vault sends.
extension KeyVaultResponder {
    static func notFound(_ kind: VaultObjectKind, _ name: String, version: String = "") -> EmulatorError {
        let code = "\(kind.title)NotFound"
        let shown = version.isEmpty ? name : "\(name)/\(version)"
        return EmulatorError(
            status: 404, code: code,
            message:
                "A \(kind.rawValue) with (name/id) \(shown) was not found in this key vault. If you recently deleted this \(kind.rawValue) you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        )
    }

    static func deletedNotFound(_ kind: VaultObjectKind, _ name: String) -> EmulatorError {
        EmulatorError(
            status: 404, code: "\(kind.title)NotFound",
            message: "Deleted \(kind.title) not found: \(name)")
    }

    static func deletedConflict(_ kind: VaultObjectKind, _ name: String) -> EmulatorError {
        EmulatorError(
            status: 409, code: "Conflict",
            message:
                "\(kind.title) \(name) is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the \(kind.rawValue) can only be recovered or purged.",
            details: [("innererror", "ObjectIsDeletedButRecoverable")])
    }

    static func disabled(_ kind: VaultObjectKind, operation: String) -> EmulatorError {
        EmulatorError(
            status: 403, code: "Forbidden",
            message: "Operation \(operation) is not allowed on a disabled \(kind.rawValue).",
            details: [("innererror", "\(kind.title)Disabled")])
    }
}
