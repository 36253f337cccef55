/// The Blob service's error codes, with the messages Azure sends for them. Lease, SAS and fault errors are
/// next to their rules (``LeaseRules``, ``SharedAccessSignature``, ``FaultInjection``).
extension EmulatorError {
    static func containerNotFound() -> Self { .init(status: 404, code: "ContainerNotFound", message: "The specified container does not exist.") }
    static func containerAlreadyExists() -> Self { .init(status: 409, code: "ContainerAlreadyExists", message: "The specified container already exists.") }
    static func blobNotFound() -> Self { .init(status: 404, code: "BlobNotFound", message: "The specified blob does not exist.") }
    static func blobAlreadyExists() -> Self { .init(status: 409, code: "BlobAlreadyExists", message: "The specified blob already exists.") }
    static func resourceNotFound() -> Self { .init(status: 404, code: "ResourceNotFound", message: "The specified resource does not exist.") }
    static func conditionNotMet() -> Self {
        .init(status: 412, code: "ConditionNotMet", message: "The condition specified using HTTP conditional header(s) is not met.")
    }
    static func notModified() -> Self { .init(status: 304, code: "ConditionNotMet", message: "") }
    static func invalidRange() -> Self { .init(status: 416, code: "InvalidRange", message: "The range specified is invalid for the current size of the resource.") }
    static func invalidBlockList() -> Self { .init(status: 400, code: "InvalidBlockList", message: "The specified block list is invalid.") }
    static func invalidBlockID() -> Self { .init(status: 400, code: "InvalidQueryParameterValue", message: "Value for one of the query parameters specified in the request URI is invalid.", details: [("QueryParameterName", "blockid")]) }
    static func blockCountExceedsLimit() -> Self { .init(status: 409, code: "BlockCountExceedsLimit", message: "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.") }
    static func invalidBlobOrBlock() -> Self { .init(status: 400, code: "InvalidBlobOrBlock", message: "The specified blob or block content is invalid.") }
    static func crc64Mismatch() -> Self { .init(status: 400, code: "Crc64Mismatch", message: "The CRC64 value specified in the request did not match with the CRC64 value calculated by the server.") }
    static func md5Mismatch() -> Self { .init(status: 400, code: "Md5Mismatch", message: "The MD5 value specified in the request did not match with the MD5 value calculated by the server.") }
    static func invalidXML() -> Self { .init(status: 400, code: "InvalidXmlDocument", message: "XML specified is not syntactically valid.") }
    static func invalidHeader(_ name: String) -> Self { .init(status: 400, code: "InvalidHeaderValue", message: "The value for one of the HTTP headers is not in the correct format.", details: [("HeaderName", name)]) }
    static func invalidQuery(_ name: String) -> Self { .init(status: 400, code: "InvalidQueryParameterValue", message: "Value for one of the query parameters specified in the request URI is invalid.", details: [("QueryParameterName", name)]) }
    static func invalidResourceName() -> Self { .init(status: 400, code: "InvalidResourceName", message: "The specifed resource name contains invalid characters.") }
    static func outOfRangeInput() -> Self { .init(status: 400, code: "OutOfRangeInput", message: "One of the request inputs is out of range.") }
    static func unsupportedOperation() -> Self { .init(status: 400, code: "UnsupportedHttpVerb", message: "The resource doesn't support specified Http Verb.") }
    static func requestBodyTooLarge() -> Self { .init(status: 413, code: "RequestBodyTooLarge", message: "The request body is too large and exceeds the maximum permissible limit.") }
    static func noAuthentication() -> Self {
        .init(status: 401, code: "NoAuthenticationInformation", message: "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.")
    }
    static func authenticationFailed(_ detail: String) -> Self {
        .init(status: 403, code: "AuthenticationFailed",
              message: "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
              details: [("AuthenticationErrorDetail", detail)])
    }
    /// A bearer token that is malformed, badly signed, expired or meant for another audience or issuer.
    static func invalidAuthenticationInfo(_ detail: String, challenge: String) -> Self {
        .init(status: 401, code: "InvalidAuthenticationInfo",
              message: "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
              details: [("AuthenticationErrorDetail", detail)], headers: [("WWW-Authenticate", challenge)])
    }
    static func invalidXmlNodeValue(_ name: String) -> Self {
        .init(status: 400, code: "InvalidXmlNodeValue", message: "The value for one of the XML nodes is not in the correct format.", details: [("XmlNodeName", name)])
    }
}
