import TelemetryCore
import Foundation
import Hummingbird
import Logging
import PostgresClient

/// Routes `/v1/<resource>[/<id>]` and answers every request itself, so that every
/// response, errors included, has a JSON body. `HEAD` is answered as `GET`, without the body.
///
/// Order of checks: unknown path 404, method 405 (no token needed, as Flask answers before
/// the view runs), token 401, permission 403, malformed query 400 (`q` is parsed only
/// after the token passed), unknown id 404. A request whose client went away is cancelled:
/// it gives up its wait for a connection, or its running statement is cancelled.
struct APIResponder: HTTPResponder {
    typealias Context = APIRequestContext

    let pool: ConnectionPool
    let tokens: TokenCache
    let statementTimeoutMs: Int
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        await answer(request, client: ClientPresence.of(context.channel))
    }

    /// `client`: the presence of the request's client, whose going away cancels the
    /// request's database work (nil: nothing to watch).
    private func answer(_ request: Request, client: ClientPresence?) async -> Response {
        do {
            return try await route(request, client: client)
        } catch let failure as APIFailure {
            return Self.response(failure)
        } catch let bad as BadRequest {
            return Self.response(APIFailure(status: .badRequest, message: bad.message))
        } catch let error as PostgresError {
            return Self.response(classify(error))
        } catch is PoolExhausted {
            return Self.response(.busy)
        } catch is CancellationError {
            return Self.response(.busy)  // nobody reads it: the client is gone
        } catch {
            logger.error("request failed", metadata: ["error": "\(error)"])
            return Self.response(.internalError)
        }
    }

    private func route(_ request: Request, client: ClientPresence?) async throws -> Response {
        let target = try Self.target(of: request.uri.path)
        let method = request.method
        let isRead = method == .get || method == .head
        let resource = target.resource
        guard let id = target.id else {
            guard isRead else { throw APIFailure.methodNotAllowed(method, allow: "GET, HEAD") }
            try await authorize(request, .overview)
            let (query, page, resultsPerPage) = try Self.search(of: request, for: resource)
            let body = try await pool.withConnection(retryOnLostConnection: true, client: client) { connection in
                try ResourceStore(resource: resource, connection: connection)
                    .search(query, page: page, resultsPerPage: resultsPerPage)
            }
            return Self.json(.ok, body, head: method == .head)
        }
        let allow = resource.deletePermission == nil ? "GET, HEAD" : "GET, HEAD, DELETE"
        if isRead {
            try await authorize(request, .overview)
            let body = try await pool.withConnection(retryOnLostConnection: true, client: client) { connection in
                try ResourceStore(resource: resource, connection: connection).object(id: id)
            }
            guard let body else { throw APIFailure(status: .notFound, message: "No \(resource.name) with id \(id)") }
            return Self.json(.ok, body, head: method == .head)
        }
        guard method == .delete, let needed = resource.deletePermission else {
            throw APIFailure.methodNotAllowed(method, allow: allow)
        }
        try await authorize(request, needed)
        let deleted = try await pool.withConnection(retryOnLostConnection: true, client: client) { connection in
            try ResourceStore(resource: resource, connection: connection).delete(id: id)
        }
        guard deleted else { throw APIFailure(status: .notFound, message: "No \(resource.name) with id \(id)") }
        return Response(status: .noContent)
    }

    /// The `q`, `page` and `results_per_page` parameters of a list request.
    static func search(of request: Request, for resource: Resource) throws(BadRequest) -> (SearchQuery, Int, Int) {
        let parameters = QueryString.parse(request.uri.query)
        let query = try parameters["q"].map { q throws(BadRequest) in try SearchQuery(json: q, for: resource) } ?? SearchQuery()
        let paging = try PageWindow.pageParameters(page: parameters["page"], resultsPerPage: parameters["results_per_page"])
        return (query, paging.page, paging.resultsPerPage)
    }

    /// Checks the request's token (from the cache, else in the database, extending its
    /// life; one check at a time per token, shared by the requests waiting for it) and that
    /// its permission is at least `needed`.
    private func authorize(_ request: Request, _ needed: Permission) async throws {
        guard let header = request.headers[.authorization] else { throw APIFailure.missingToken }
        guard let token = APITokens.token(fromAuthorization: header) else { throw APIFailure.invalidToken }
        let pool = self.pool
        let permission = try await tokens.permission(of: token) {
            try await pool.withConnection(retryOnLostConnection: true) { connection in
                try APITokens.authenticate(token, on: connection)
            }
        }
        guard let permission else { throw APIFailure.invalidToken }
        guard permission >= needed else { throw APIFailure.forbidden(needed) }
    }

    /// A database error: a bad value the server rejected (SQLSTATE class 22) is the
    /// client's fault (PostgreSQL's own text is not echoed); a statement over its time limit
    /// or a lock wait is 503; a lost or refused connection is 503; anything else is 500.
    private func classify(_ error: PostgresError) -> APIFailure {
        if error.sqlState?.isDataException == true {
            return APIFailure(status: .badRequest, message: "Invalid value in query")
        }
        if error.sqlState == .queryCanceled {
            return APIFailure(status: .serviceUnavailable, message: "The query took longer than \(statementTimeoutMs) ms")
        }
        logger.error("database error", metadata: ["error": "\(error)"])
        if error.sqlState == .lockNotAvailable || error.isConnectionLoss { return .unavailable }
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
        var parts = QueryString.split(path, separator: "/", omittingEmptySubsequences: false).dropFirst()
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

    /// A JSON response; for `HEAD` the headers of the same `GET` answer, without the body.
    static func json(_ status: HTTPResponse.Status, _ body: ByteBuffer, head: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if head {
            headers[.contentLength] = String(body.readableBytes)
            return Response(status: status, headers: headers, body: .init())
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    static func response(_ failure: APIFailure) -> Response {
        var response = json(failure.status, ByteBuffer(string: JSONWriter.message(failure.message)))
        if let allow = failure.allow { response.headers[.allow] = allow }
        if let retryAfter = failure.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

/// `application/x-www-form-urlencoded` query strings: `+` is a space, `%XX` a byte; the
/// first occurrence of a name wins.
enum QueryString {
    static func parse(_ query: String?) -> [String: String] {
        var result: [String: String] = [:]
        for pair in split(query ?? "", separator: "&") {
            let parts = split(pair, separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if result[name] == nil { result[name] = value }
        }
        return result
    }

    /// `text.split(separator:maxSplits:omittingEmptySubsequences:)` with an ASCII
    /// separator, the same pieces: for ASCII text (nearly every URL) found among the bytes,
    /// without Swift's character-by-character walk; else by characters (a separator joined to
    /// a combining mark is no separator there).
    static func split(_ text: some StringProtocol, separator: Unicode.Scalar, maxSplits: Int = .max,
                      omittingEmptySubsequences: Bool = true) -> [Substring] {
        let text = Substring(text)
        let utf8 = text.utf8
        guard utf8.allSatisfy({ $0 < 0x80 }) else {
            return text.split(separator: Character(separator), maxSplits: maxSplits,
                              omittingEmptySubsequences: omittingEmptySubsequences)
        }
        let byte = UInt8(separator.value)
        var pieces: [Substring] = []
        var start = utf8.startIndex
        var i = start
        while i != utf8.endIndex, pieces.count < maxSplits {
            if utf8[i] == byte {
                if !omittingEmptySubsequences || start != i { pieces.append(text[start..<i]) }
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
        if !omittingEmptySubsequences || start != utf8.endIndex { pieces.append(text[start...]) }
        return pieces
    }

    /// `+` as a space and `%XX` as the byte XX, in one pass over the bytes; a `%` without two
    /// hex digits after it, or bytes that are not UTF-8 once decoded, leave the text as it is
    /// (with only `+` replaced).
    static func decode(_ text: Substring) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return String(text) }
        let undecoded = { String(text).replacing("+", with: " ") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var i = utf8.startIndex
        while i != utf8.endIndex {
            let byte = utf8[i]
            i = utf8.index(after: i)
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard i != utf8.endIndex, let high = hexValue(utf8[i]),
                      case let next = utf8.index(after: i), next != utf8.endIndex, let low = hexValue(utf8[next])
                else { return undecoded() }
                bytes.append(high << 4 | low)
                i = utf8.index(after: next)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? undecoded()
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
