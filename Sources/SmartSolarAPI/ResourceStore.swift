import NIOCore
import PostgresClient
import TelemetryCore

/// The database side of the endpoints: each function runs on one connection (inside a
/// pool slot) and returns the JSON response body (`ResponseBody`).
struct ResourceStore {
    let resource: Resource
    let connection: PostgresConnection

    /// `GET /v1/<resource>`: the list document, or one object when `query.single`.
    func search(_ query: SearchQuery, page: Int, resultsPerPage: Int) throws -> ByteBuffer {
        let compiler = SQLCompiler(resource: resource, query: query)
        if query.single { return try single(compiler, query) }
        let fetch = PageWindow.fetch(offset: query.offset, limit: query.limit, page: page, resultsPerPage: resultsPerPage)
        // One row more than the page shows: when it does not come, the page is the last one
        // and the count is free, so most pages take one statement.
        let fetched = try fetch.map { try connection.query(compiler.pageStatement(offset: $0.offset, limit: $0.limit + 1)) }
        let rows = fetch.flatMap { fetch in fetched.map { $0.prefix(fetch.limit) } }
        let matching: Int
        let needed = query.limit.map { (query.offset ?? 0) + $0 }
        if let fetch, let fetched, !fetched.isEmpty, fetched.count <= fetch.limit {
            matching = fetch.offset + fetched.count  // the last page: nothing after it to count
        } else if let fetch, let rows, let needed, fetch.offset + rows.count >= needed {
            matching = needed  // the page reaches the end of the query's window: nothing more to count
        } else {
            matching = try MatchCount.count(compiler, needed: needed, on: connection)
        }
        let window = PageWindow(matching: matching, offset: query.offset, limit: query.limit,
                                page: page, resultsPerPage: resultsPerPage)
        var body = ResponseBody(capacity: 256 + (rows?.count ?? 0) * 320)
        if let rows {
            body.writeList(rows, of: resource, window: window)
        } else {
            body.writeList(EmptyCollection(), of: resource, window: window)
        }
        return body.buffer
    }

    /// Flask-Restless's `single`: exactly one matching row, else 400.
    private func single(_ compiler: SQLCompiler, _ query: SearchQuery) throws -> ByteBuffer {
        let available = query.limit.map { min($0, 2) } ?? 2
        let rows = available == 0 ? nil : try connection.query(compiler.pageStatement(offset: query.offset ?? 0, limit: available))
        guard let rows, !rows.isEmpty else { throw BadRequest("No result found") }
        guard rows.count == 1 else { throw BadRequest("Multiple results found") }
        var body = ResponseBody()
        body.writeObject(rows[0], of: resource)
        return body.buffer
    }

    /// `GET /v1/<resource>/<id>`: the object, or nil when there is no such id.
    func object(id: Int64) throws -> ByteBuffer? {
        let rows = try connection.queryPrepared(
            "SELECT \(resource.selectList) FROM \(resource.table) WHERE \(resource.primaryKey) = $1::bigint", [.int(id)])
        guard let row = rows.first else { return nil }
        var body = ResponseBody()
        body.writeObject(row, of: resource)
        return body.buffer
    }

    /// `DELETE /v1/<resource>/<id>`, durably committed before 204: false when there is no such id.
    func delete(id: Int64) throws -> Bool {
        try connection.transaction {
            try connection.execute("SET LOCAL synchronous_commit TO on")
            return try connection.execute(
                "DELETE FROM \(resource.table) WHERE \(resource.primaryKey) = $1::bigint", [.int(id)]) > 0
        }
    }

    /// PostgreSQL's text of a `timestamp` (DateStyle ISO) as the API prints it,
    /// `YYYY-MM-DD HH:MM:SS`: its first 19 characters when it has the plain shape (a
    /// four-digit year, then at most a fraction, which is cut as `UTCTime.format` truncates
    /// it), else through `UTCTime` (nil for `infinity`, BC dates, what has no microsecond).
    /// Same text either way; the plain shape, nearly every value, needs no parsing.
    static func apiTimestamp(_ text: String) -> String? {
        switch plainTimestampShape(text) {
        case .exact: text
        case .withFraction: String(text.prefix(19))
        case .other: UTCTime.parseMicros(text).map { UTCTime.format(micros: $0, .api) }
        }
    }

    enum TimestampShape {
        /// `YYYY-MM-DD HH:MM:SS`: printed as it is.
        case exact
        /// `YYYY-MM-DD HH:MM:SS.f...`: printed as its first 19 characters.
        case withFraction
        /// Anything else (`infinity`, BC dates, five-digit years): parsed.
        case other
    }

    /// The shape of PostgreSQL's text of a `timestamp`, read in one pass over its bytes.
    static func plainTimestampShape(_ text: String) -> TimestampShape {
        let bytes = text.utf8.span
        var count = 0
        var plain = true
        while count < bytes.count {
            let byte = bytes[count]
            let isDigit = byte >= 0x30 && byte <= 0x39
            switch count {
            case 4, 7: plain = byte == 0x2D  // -
            case 10: plain = byte == 0x20  // space
            case 13, 16: plain = byte == 0x3A  // :
            case 19: plain = byte == 0x2E  // .
            default: plain = isDigit
            }
            if !plain { break }
            count += 1
        }
        if plain, count == 19 { return .exact }
        if plain, count > 20 { return .withFraction }
        return .other
    }
}

extension PostgresConnection {
    /// A compiled statement, prepared on the session: the API's statements repeat with
    /// other values, so PostgreSQL parses each text once a connection.
    func query(_ statement: CompiledSQL) throws -> PostgresRows {
        try queryPrepared(statement.sql, statement.parameters)
    }
}
