import Foundation
import Hummingbird
import Logging
import PostgresClient

/// Routes `/v1/<resource>[/<id>]` and answers every request itself, so that every
/// response, errors included, has a JSON body.
///
/// Order of checks: unknown path 404, method 405 (no token needed, as Flask answers before
/// the view runs), token 401, permission 403, malformed query 400, unknown id 404.
struct APIResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let pool: ConnectionPool
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        do {
            return try await route(request)
        } catch let failure as APIFailure {
            return Self.response(failure)
        } catch let bad as BadRequest {
            return Self.response(APIFailure(status: .badRequest, message: bad.message))
        } catch let error as PostgresError {
            return Self.response(classify(error))
        } catch {
            logger.error("request failed", metadata: ["error": "\(error)"])
            return Self.response(.internalError)
        }
    }

    private func route(_ request: Request) async throws -> Response {
        let target = try Self.target(of: request.uri.path)
        let method = request.method
        guard let id = target.id else {
            guard method == .get else { throw APIFailure.methodNotAllowed(method, allow: "GET") }
            let resource = target.resource
            // Parsed now, reported after the token check: an anonymous client learns nothing.
            let search = Result { () throws(BadRequest) in try Self.search(of: request, for: resource) }
            let body = try await authorized(request, .overview) { connection in
                let (query, page, resultsPerPage) = try search.get()
                return try ResourceStore(resource: resource, connection: connection)
                    .search(query, page: page, resultsPerPage: resultsPerPage)
            }
            return Self.json(.ok, body)
        }
        let resource = target.resource
        let allow = resource.deletePermission == nil ? "GET" : "GET, DELETE"
        switch method {
        case .get:
            let body = try await authorized(request, .overview) { connection in
                try ResourceStore(resource: resource, connection: connection).object(id: id)
            }
            guard let body else { throw APIFailure(status: .notFound, message: "No \(resource.name) with id \(id)") }
            return Self.json(.ok, body)
        case .delete:
            guard let needed = resource.deletePermission else { throw APIFailure.methodNotAllowed(method, allow: allow) }
            let deleted = try await authorized(request, needed) { connection in
                try ResourceStore(resource: resource, connection: connection).delete(id: id)
            }
            guard deleted else { throw APIFailure(status: .notFound, message: "No \(resource.name) with id \(id)") }
            return Response(status: .noContent)
        default:
            throw APIFailure.methodNotAllowed(method, allow: allow)
        }
    }

    /// The `q`, `page` and `results_per_page` parameters of a list request.
    static func search(of request: Request, for resource: Resource) throws(BadRequest) -> (SearchQuery, Int, Int) {
        let parameters = QueryString.parse(request.uri.query)
        let query = try parameters["q"].map { q throws(BadRequest) in try SearchQuery(json: q, for: resource) } ?? SearchQuery()
        let paging = try PageWindow.pageParameters(page: parameters["page"], resultsPerPage: parameters["results_per_page"])
        return (query, paging.page, paging.resultsPerPage)
    }

    /// Checks the request's token (extending its life) and runs `body` on the same
    /// connection when the token's permission is at least `needed`.
    private func authorized<T: Sendable>(_ request: Request, _ needed: Permission,
                                         _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        guard let header = request.headers[.authorization] else { throw APIFailure.missingToken }
        guard let token = APITokens.token(fromAuthorization: header) else { throw APIFailure.invalidToken }
        return try await pool.withConnection { connection in
            guard let permission = try APITokens.authenticate(token, on: connection) else { throw APIFailure.invalidToken }
            guard permission >= needed else { throw APIFailure.forbidden(needed) }
            return try body(connection)
        }
    }

    /// A database error: a bad value the server rejected (SQLSTATE class 22) is the
    /// client's fault; a lost or refused connection is 503; anything else is 500.
    private func classify(_ error: PostgresError) -> APIFailure {
        if error.sqlState?.isDataException == true {
            return APIFailure(status: .badRequest, message: "Invalid value in query: \(error.message)")
        }
        logger.error("database error", metadata: ["error": "\(error)"])
        // Class 08 (connection exception) and 57P01-03 (server shut down or restarting):
        // the slot reconnects on its next use.
        if let state = error.sqlState, state.isConnectionException || [.adminShutdown, .crashShutdown, .cannotConnectNow].contains(state) {
            return .unavailable
        }
        switch error.kind {
        case .connection, .connectionLost: return .unavailable
        case .query, .copy: return .internalError
        }
    }

    struct Target {
        let resource: Resource
        let id: Int64?
    }

    /// `/v1/<resource>` or `/v1/<resource>/<id>` (a trailing slash allowed); else 404.
    static func target(of path: String) throws(APIFailure) -> Target {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if parts.last == "" { parts = parts.dropLast() }
        guard parts.count == 2 || parts.count == 3, parts.first == "v1",
              let resource = Resource.all[String(parts[parts.startIndex + 1])]
        else { throw APIFailure.notFound }
        guard parts.count == 3 else { return Target(resource: resource, id: nil) }
        let idText = parts[parts.startIndex + 2]
        guard !idText.isEmpty, idText.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let id = Int64(idText) else {
            throw APIFailure.notFound
        }
        return Target(resource: resource, id: id)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(body)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    static func response(_ failure: APIFailure) -> Response {
        var response = json(failure.status, JSONWriter.message(failure.message))
        if let allow = failure.allow { response.headers[.allow] = allow }
        return response
    }
}

/// `application/x-www-form-urlencoded` query strings: `+` is a space, `%XX` a byte; the
/// first occurrence of a name wins.
enum QueryString {
    static func parse(_ query: String?) -> [String: String] {
        var result: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if result[name] == nil { result[name] = value }
        }
        return result
    }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
