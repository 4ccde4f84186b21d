import PostgresClient
import TelemetryCore

/// The database side of the endpoints: each function runs on one connection (inside a
/// pool slot) and returns the JSON text of the response body.
struct ResourceStore {
    let resource: Resource
    let connection: PostgresConnection

    /// `GET /v1/<resource>`: the list document, or one object when `query.single`.
    func search(_ query: SearchQuery, page: Int, resultsPerPage: Int) throws -> String {
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
        var w = JSONWriter(style: .inline)
        w.object { w in
            w.member("num_results", window.numResults)
            w.key("objects")
            w.array { w in
                if let rows {
                    for row in rows { write(row, into: &w) }
                }
            }
            w.member("page", window.page)
            w.member("total_pages", window.totalPages)
        }
        return w.output
    }

    /// Flask-Restless's `single`: exactly one matching row, else 400.
    private func single(_ compiler: SQLCompiler, _ query: SearchQuery) throws -> String {
        let available = query.limit.map { min($0, 2) } ?? 2
        let rows = available == 0 ? nil : try connection.query(compiler.pageStatement(offset: query.offset ?? 0, limit: available))
        guard let rows, !rows.isEmpty else { throw BadRequest("No result found") }
        guard rows.count == 1 else { throw BadRequest("Multiple results found") }
        var w = JSONWriter(style: .inline)
        write(rows[0], into: &w)
        return w.output
    }

    /// `GET /v1/<resource>/<id>`: the object, or nil when there is no such id.
    func object(id: Int64) throws -> String? {
        let rows = try connection.queryPrepared(
            "SELECT \(resource.selectList) FROM \(resource.table) WHERE \(resource.primaryKey) = $1::bigint", [.int(id)])
        guard let row = rows.first else { return nil }
        var w = JSONWriter(style: .inline)
        write(row, into: &w)
        return w.output
    }

    /// `DELETE /v1/<resource>/<id>`, durably committed before 204: false when there is no such id.
    func delete(id: Int64) throws -> Bool {
        try connection.transaction {
            try connection.execute("SET LOCAL synchronous_commit TO on")
            return try connection.execute(
                "DELETE FROM \(resource.table) WHERE \(resource.primaryKey) = $1::bigint", [.int(id)]) > 0
        }
    }

    /// One row as a JSON object: every column, in table order; datetimes as
    /// `YYYY-MM-DD HH:MM:SS`; NULL as null.
    func write(_ row: PostgresRow, into w: inout JSONWriter) {
        w.object { w in
            for (i, column) in resource.columns.enumerated() {
                w.key(column.name)
                switch column.kind {
                case .integer: w.value(row.int64(i))
                case .text: w.value(row.string(i))
                case .timestamp: w.value(row.string(i).flatMap(Self.apiTimestamp))
                }
            }
        }
    }

    /// PostgreSQL's text of a `timestamp` (DateStyle ISO) as the API prints it,
    /// `YYYY-MM-DD HH:MM:SS`: its first 19 characters when it has the plain shape (a
    /// four-digit year, then at most a fraction, which is cut as `UTCTime.format` truncates
    /// it), else through `UTCTime` (nil for `infinity`, BC dates, what has no microsecond).
    /// Same text either way; the plain shape, nearly every value, needs no parsing.
    static func apiTimestamp(_ text: String) -> String? {
        var count = 0
        var plain = true
        for byte in text.utf8 {
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
        if plain, count == 19 { return text }
        if plain, count > 20 { return String(text.prefix(19)) }
        return UTCTime.parseMicros(text).map { UTCTime.format(micros: $0, .api) }
    }
}

extension PostgresConnection {
    /// A compiled statement, prepared on the session: the API's statements repeat with
    /// other values, so PostgreSQL parses each text once a connection.
    func query(_ statement: CompiledSQL) throws -> PostgresRows {
        try queryPrepared(statement.sql, statement.parameters)
    }
}
