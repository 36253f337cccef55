import AMQP
import Foundation
import AzureCore

/// How AMQP failures become the `AzureError` every Azure client of Kumo throws: the service's condition is
/// the error code (`amqp:not-found`, `com.microsoft:server-busy`, ...), and transient ones are retriable.
enum EventHubsErrors {
    /// Conditions Event Hubs documents as transient: the same call may succeed later.
    static let transientConditions: Set<String> = [
        "com.microsoft:server-busy", "com.microsoft:timeout", "amqp:internal-error", "amqp:connection:forced",
        "amqp:link:detach-forced", "amqp:resource-limit-exceeded", "com.microsoft:operation-cancelled",
        "amqp:connection:framing-error",
    ]

    static func map(_ error: any Error, operation: String) -> AzureError {
        if let error = error as? AzureError { return error }
        if error is CancellationError { return AzureError(.cancelled, "\(operation) was cancelled") }
        guard let amqp = error as? AMQPError else {
            return AzureError(.transport, "\(operation) failed: \(error)", isRetriable: true)
        }
        if let condition = amqp.condition {
            let detail = amqp.remoteDescription.map { ": \($0)" } ?? ""
            let status: Int?
            switch condition {
            case "amqp:not-found": status = 404
            case "amqp:unauthorized-access", "com.microsoft:auth-failed": status = 401
            case "com.microsoft:server-busy": status = 503
            case "amqp:link:message-size-exceeded": status = 413
            case "amqp:link:stolen": status = 409
            default: status = nil
            }
            let code: AzureError.Code = status == 401 ? .authentication : .service
            return AzureError(
                code, "\(operation) failed with \(condition)\(detail)", statusCode: status, errorCode: condition,
                isRetriable: transientConditions.contains(condition))
        }
        switch amqp.code {
        case .timeout:
            return AzureError(.timeout, "\(operation) timed out: \(amqp.message)", isRetriable: true)
        case .cancelled:
            return AzureError(.cancelled, "\(operation) was cancelled")
        case .connectionClosed, .remoteClosed, .transport, .sessionEnded, .linkDetached:
            return AzureError(.transport, "\(operation) failed: \(amqp.message)", isRetriable: true)
        case .saslFailed:
            return AzureError(.authentication, "\(operation) failed: \(amqp.message)")
        default:
            return AzureError(.invalidResponse, "\(operation) failed: \(amqp.message)")
        }
    }

    /// A wait as log lines show it: "1.8 s".
    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.1f s", value)
    }

    static func invalidResponse(_ message: String) -> AzureError {
        AzureError(.invalidResponse, message)
    }
}
