import Foundation
import Hummingbird

/// The cryptographic operations of a key (encrypt, decrypt, wrap, unwrap, sign, verify) and Get Random Bytes.
/// The cryptography itself is ``VaultKeyMaterial``.
extension KeyVaultResponder {
    private static let operationNames: [String: String] = [
        "encrypt": "encrypt", "decrypt": "decrypt", "wrapkey": "wrapKey", "unwrapkey": "unwrapKey", "sign": "sign",
        "verify": "verify",
    ]

    func keyOperation(_ request: ServiceRequest, name: String, version: String, operation: String) async throws
        -> Response
    {
        guard let operationName = Self.operationNames[operation] else {
            throw EmulatorError(
                status: 405, code: "MethodNotAllowed",
                message: "The requested resource does not support http method 'POST'.")
        }
        let key = await store.read { Self.findVersion($0.keys[name], version: version) }
        guard let key else { throw Self.notFound(.key, name, version: version) }
        guard key.attributes.enabled else { throw Self.disabled(.key, operation: operationName) }
        guard key.keyOperations.contains(operationName) else {
            throw EmulatorError(
                status: 403, code: "Forbidden", message: "Operation \(operationName) is not permitted on this key.",
                details: [("innererror", "KeyOperationForbidden")])
        }
        let body = try body(request)
        guard let algorithm = body["alg"] as? String else {
            throw EmulatorError(status: 400, code: "BadParameter", message: "Property 'alg' is required.")
        }
        guard let valueText = body["value"] as? String, let value = Base64URL.decode(valueText) else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "Property 'value' is required and must be base64url.")
        }
        let kid = "\(vaultURL)/keys/\(name)/\(key.version)"
        switch operationName {
        case "verify":
            guard let signatureText = body["value"] as? String, let digestText = body["digest"] as? String,
                let signature = Base64URL.decode(signatureText), let digest = Base64URL.decode(digestText)
            else {
                throw EmulatorError(
                    status: 400, code: "BadParameter", message: "Properties 'digest' and 'value' are required.")
            }
            let valid = try VaultKeyMaterial.verify(key, algorithm: algorithm, digest: digest, signature: signature)
            return .json(.ok, ["value": valid])
        case "sign":
            let signature = try VaultKeyMaterial.sign(key, algorithm: algorithm, digest: value)
            return .json(.ok, ["kid": kid, "value": Base64URL.encode(signature)])
        default:
            let parameters = VaultKeyMaterial.CipherParameters(
                iv: (body["iv"] as? String).flatMap(Base64URL.decode),
                aad: (body["aad"] as? String).flatMap(Base64URL.decode),
                tag: (body["tag"] as? String).flatMap(Base64URL.decode))
            let result = try VaultKeyMaterial.cipher(
                key, operation: operationName, algorithm: algorithm, value: value, parameters: parameters)
            var json: [String: Any] = ["kid": kid, "value": Base64URL.encode(result.value)]
            if let iv = result.parameters.iv { json["iv"] = Base64URL.encode(iv) }
            if let tag = result.parameters.tag { json["tag"] = Base64URL.encode(tag) }
            if let aad = result.parameters.aad { json["aad"] = Base64URL.encode(aad) }
            return .json(.ok, json)
        }
    }

    /// Get Random Bytes: 1 to 128 bytes from the system's generator.
    func randomBytes(_ request: ServiceRequest) throws -> Response {
        let body = try body(request)
        guard let count = JSONWebToken.integer(body["count"]), (1...128).contains(count) else {
            throw EmulatorError(
                status: 400, code: "BadParameter", message: "Property 'count' must be between 1 and 128.")
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
        return .json(.ok, ["value": Base64URL.encode(bytes)])
    }
}
