import TelemetryCore
import Hummingbird

/// An HTTP error response of the API; its body is always `{"message": ...}`.
struct APIFailure: Error, Sendable {
    let status: HTTPResponse.Status
    let message: String
    var allow: String? = nil
    /// Seconds for a `Retry-After` header.
    var retryAfter: Int? = nil

    static let missingToken = APIFailure(status: .unauthorized, message: "Authentication required: send Authorization: Token token=<64 characters>")
    static let invalidToken = APIFailure(status: .unauthorized, message: "Invalid or expired token")
    static func forbidden(_ needed: Permission) -> APIFailure {
        APIFailure(status: .forbidden, message: "Permission \(needed.name) or higher required")
    }
    static let notFound = APIFailure(status: .notFound, message: "Not found")
    static func methodNotAllowed(_ method: HTTPRequest.Method, allow: String) -> APIFailure {
        APIFailure(status: .methodNotAllowed, message: "Method \(method.rawValue) not allowed here", allow: allow)
    }
    static let unavailable = APIFailure(status: .serviceUnavailable, message: "Database unavailable", retryAfter: 1)
    static let busy = APIFailure(status: .serviceUnavailable, message: "Server busy: no database connection became free in time", retryAfter: 1)
    static let internalError = APIFailure(status: .internalServerError, message: "Internal server error")
}

extension JSONWriter {
    /// `{"message": ...}`: the body of every error response.
    static func message(_ message: String) -> String {
        var w = JSONWriter(style: .inline)
        w.object { $0.member("message", message) }
        return w.output
    }
}
