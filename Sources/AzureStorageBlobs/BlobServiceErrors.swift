import AzureCore
import Foundation
import NIOCore

/// Turns Blob service answers into ``AzureError``s.
enum BlobServiceErrors {
    static func invalidResponse(_ message: String) -> AzureError { AzureError(.invalidResponse, message) }

    /// The error for a failed response: Azure's code from `x-ms-error-code` (or the XML body) and its message.
    static func from(_ response: AzureHTTPResponse) async -> AzureError {
        var message = "the service answered \(response.statusCode)"
        var code = response.headers["x-ms-error-code"]
        if let body = try? await response.body.collect(upTo: 64 << 10), body.readableBytes > 0,
            let xml = try? XMLNode.parse(Data(body.readableBytesView))
        {
            code = code ?? xml.value("Code")
            if let text = xml.value("Message") {
                // Azure appends "RequestId:…\nTime:…" lines; the request id is reported separately.
                message = text.split(separator: "\n").first.map(String.init) ?? text
            }
            if let detail = xml.value("AuthenticationErrorDetail") { message += " (\(detail))" }
        } else if response.statusCode == 304 {
            message = "the resource was not modified (condition not met)"
        }
        let retriable = [408, 429, 500, 502, 503, 504].contains(response.statusCode)
        return AzureError(.service, message, statusCode: response.statusCode, errorCode: code,
                          requestID: response.requestID, isRetriable: retriable)
    }
}
