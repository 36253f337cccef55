import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Why a try got no answer, in the words an operator reads at a glance ("connection refused by
/// 127.0.0.1:10000", "no bytes from the server for 60 s") instead of the layered descriptions of NIO and
/// AsyncHTTPClient ("connection reset (error set): Connection refused (errno: 111)").
struct TransportFailure {
    var code: AzureError.Code
    var cause: String
    var isRetriable: Bool

    /// - Parameters:
    ///   - endpoint: `host:port` the request went to.
    ///   - timeouts: the timeouts the transport applied, when it knows them, so a timeout says how long it waited.
    static func describe(
        _ error: any Error, endpoint: String, timeouts: TransportTimeouts? = nil, perTryTimeout: Duration? = nil
    ) -> TransportFailure {
        if error is CancellationError { return TransportFailure(code: .cancelled, cause: "the request was cancelled", isRetriable: false) }
        if let client = error as? HTTPClientError { return describe(client, endpoint: endpoint, timeouts: timeouts, perTryTimeout: perTryTimeout) }
        if let connection = error as? NIOConnectionError {
            // Every address was tried; the first failure is as telling as any, and one cause reads better than a list.
            if let first = connection.connectionErrors.first {
                return describe(first.error, endpoint: endpoint, timeouts: timeouts, perTryTimeout: perTryTimeout)
            }
            if connection.dnsAError != nil || connection.dnsAAAAError != nil {
                return hostNotFound(connection.host)
            }
        }
        if let channel = error as? ChannelError, case .connectTimeout(let amount) = channel {
            let waited = Duration.nanoseconds(amount.nanoseconds).spokenSeconds
            return TransportFailure(code: .timeout, cause: "timed out connecting to \(endpoint) after \(waited)", isRetriable: true)
        }
        if let address = error as? SocketAddressError, case .unknown(let host, _) = address {
            return hostNotFound(host)
        }
        if let io = error as? IOError { return describe(errno: io.errnoCode, endpoint: endpoint, timeouts: timeouts) }
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return describeTLS(error, endpoint: endpoint)
        }
        return TransportFailure(code: .transport, cause: "the connection to \(endpoint) failed: \(error)", isRetriable: true)
    }

    private static func describe(
        _ client: HTTPClientError, endpoint: String, timeouts: TransportTimeouts?, perTryTimeout: Duration?
    ) -> TransportFailure {
        func after(_ duration: Duration?) -> String { duration.map { " after \($0.spokenSeconds)" } ?? "" }
        func timeout(_ cause: String) -> TransportFailure { TransportFailure(code: .timeout, cause: cause, isRetriable: true) }
        switch client {
        case .connectTimeout, .getConnectionFromPoolTimeout:
            return timeout("timed out connecting to \(endpoint)\(after(timeouts?.connect))")
        case .tlsHandshakeTimeout:
            return timeout("timed out in the TLS handshake with \(endpoint)")
        case .readTimeout:
            return timeout("no bytes from the server for \(timeouts?.read.spokenSeconds ?? "too long") (read timeout)")
        case .writeTimeout:
            return timeout("the server took no bytes of the request for \(timeouts?.read.spokenSeconds ?? "too long") (read timeout)")
        case .deadlineExceeded:
            return timeout("no response within the per-try timeout\(perTryTimeout.map { " of \($0.spokenSeconds)" } ?? "")")
        case .remoteConnectionClosed:
            return TransportFailure(code: .transport, cause: "\(endpoint) closed the connection before answering", isRetriable: true)
        case .cancelled, .requestStreamCancelled:
            return TransportFailure(code: .cancelled, cause: "the request was cancelled", isRetriable: false)
        case .invalidURL, .emptyHost, .emptyScheme:
            return TransportFailure(code: .invalidArgument, cause: "the request URL is invalid (\(client.shortDescription))", isRetriable: false)
        default:
            return TransportFailure(code: .transport, cause: "the connection to \(endpoint) failed: \(client.shortDescription)", isRetriable: true)
        }
    }

    private static func describe(errno code: CInt, endpoint: String, timeouts: TransportTimeouts?) -> TransportFailure {
        let cause: String
        switch code {
        case ECONNREFUSED: cause = "connection refused by \(endpoint)"
        case ECONNRESET: cause = "\(endpoint) reset the connection"
        case EPIPE: cause = "\(endpoint) closed the connection while the request was sent"
        case ETIMEDOUT:
            return TransportFailure(
                code: .timeout, cause: "timed out connecting to \(endpoint)\(timeouts.map { " after \($0.connect.spokenSeconds)" } ?? "")",
                isRetriable: true)
        case EHOSTUNREACH: cause = "no route to \(endpoint) (host unreachable)"
        case ENETUNREACH: cause = "no route to \(endpoint) (network unreachable)"
        default: cause = "the connection to \(endpoint) failed: \(String(cString: strerror(code)).lowercased())"
        }
        return TransportFailure(code: .transport, cause: cause, isRetriable: true)
    }

    private static func hostNotFound(_ host: String) -> TransportFailure {
        // Retried, as a resolver can fail for a moment; a misspelt host fails the same way every try.
        TransportFailure(code: .transport, cause: "host not found: \(host)", isRetriable: true)
    }

    private static func describeTLS(_ error: any Error, endpoint: String) -> TransportFailure {
        let detail = String(describing: error)
        // Another try meets the same certificate, so these fail at once.
        if detail.contains("CERTIFICATE_VERIFY_FAILED") {
            return TransportFailure(
                code: .transport,
                cause: "the TLS certificate of \(endpoint) is not trusted (for a private CA, trust its certificate: "
                    + "KUMO_CA_FILE or AsyncHTTPClientTransport(trustingCertificateAuthorities:))",
                isRetriable: false)
        }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return TransportFailure(
                code: .transport, cause: "the TLS certificate of \(endpoint) is not valid for that host name", isRetriable: false)
        }
        return TransportFailure(code: .transport, cause: "the TLS handshake with \(endpoint) failed: \(detail)", isRetriable: true)
    }

    /// `host:port` of a URL's origin, with the scheme's default port when the URL names none.
    static func endpoint(of url: RequestURL) -> String {
        guard let parsed = URLComponents(string: url.origin), let host = parsed.host else { return url.origin }
        let port = parsed.port ?? (parsed.scheme?.lowercased() == "https" ? 443 : 80)
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
