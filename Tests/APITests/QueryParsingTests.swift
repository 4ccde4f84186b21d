import PostgresClient
import TelemetryCore
import Testing
@testable import SmartSolarAPI

/// The `q` parser and the SQL compiler, without a database.
@Suite struct QueryParsingTests {
    let rtc = Resource.rtcConnectionHistory

    func compile(_ q: String, _ resource: Resource = .rtcConnectionHistory) throws -> CompiledSQL {
        try SQLCompiler(resource: resource, query: SearchQuery(json: q, for: resource)).pageStatement(offset: 0, limit: 10)
    }

    func badRequest(_ q: String) -> String? {
        do {
            _ = try compile(q)
            return nil
        } catch let error as BadRequest {
            return error.message
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test(arguments: [
        ("==", "="), ("eq", "="), ("equals", "="), ("equals_to", "="), ("equal_to", "="),
        ("!=", "<>"), ("neq", "<>"), ("does_not_equal", "<>"), ("not_equal_to", "<>"),
        (">", ">"), ("gt", ">"), ("<", "<"), ("lt", "<"),
        (">=", ">="), ("ge", ">="), ("gte", ">="), ("geq", ">="),
        ("<=", "<="), ("le", "<="), ("lte", "<="), ("leq", "<="),
    ])
    func comparisonOperatorNames(name: String, sql: String) throws {
        let compiled = try compile(#"{"filters": [{"name": "rtc_connection_history_id", "op": "\#(name)", "val": 5}]}"#)
        #expect(compiled.sql.contains("WHERE rtc_connection_history_id \(sql) $1::bigint ORDER BY"))
        #expect(compiled.parameters.first == .int(5))
    }

    @Test func setNullAndPatternOperators() throws {
        let compiled = try compile(#"""
            {"filters": [{"name": "product_imei", "op": "in", "val": ["1", "2"]},
                         {"name": "product_imei", "op": "not_in", "val": ["3"]},
                         {"name": "connection_status_info", "op": "is_null"},
                         {"name": "latest_message_time", "op": "is_not_null"},
                         {"name": "connection_status_reason", "op": "like", "val": "s%"},
                         {"name": "connection_status_reason", "op": "ilike", "val": "U%"}]}
            """#)
        #expect(compiled.sql.contains(
            "(product_imei IN ($1::text, $2::text) AND product_imei NOT IN ($3::text) AND connection_status_info IS NULL"
            + " AND latest_message_time IS NOT NULL AND connection_status_reason::text LIKE $4::text"
            + " AND connection_status_reason::text ILIKE $5::text)"))
        #expect(compiled.parameters.prefix(5) == [.text("1"), .text("2"), .text("3"), .text("s%"), .text("U%")])
    }

    @Test func nestedFormulasAndFieldToField() throws {
        let compiled = try compile(#"""
            {"filters": [{"or": [{"name": "connection_status", "op": "==", "val": "online"},
                                 {"and": [{"name": "connection_status_time", "op": "<", "field": "latest_message_time"},
                                          {"name": "connection_status_time", "op": ">=", "val": "2024-01-02T03:04:05Z"}]}]}]}
            """#)
        #expect(compiled.sql.contains(
            "WHERE (connection_status = $1::text OR (connection_status_time < latest_message_time"
            + " AND connection_status_time >= $2::timestamp))"))
        #expect(compiled.parameters[1] == .timestamp(micros: 1_704_164_645_000_000))
    }

    @Test func orderGroupLimitOffsetSingle() throws {
        let query = try SearchQuery(json: #"""
            {"order_by": [{"field": "connection_status_time", "direction": "desc"}],
             "group_by": [{"field": "product_imei"}], "limit": 5, "offset": 2, "single": true}
            """#, for: rtc)
        #expect(query.limit == 5 && query.offset == 2 && query.single)
        let sql = try SQLCompiler(resource: rtc, query: query).pageStatement(offset: 3, limit: 4).sql
        #expect(sql.contains("SELECT DISTINCT ON (product_imei)"))
        #expect(sql.hasSuffix("ORDER BY connection_status_time DESC, rtc_connection_history_id ASC LIMIT 4 OFFSET $1::bigint"))
    }

    /// A page's LIMIT and a zero OFFSET are numbers (PostgreSQL can then plan a prepared page
    /// once); any other offset, like every value from the request, is a parameter.
    @Test func pageLimitAndZeroOffsetAreNumbers() throws {
        let query = try SearchQuery(json: #"{"filters": [{"name": "product_imei", "op": "==", "val": "1"}]}"#, for: rtc)
        let first = try SQLCompiler(resource: rtc, query: query).pageStatement(offset: 0, limit: 11)
        #expect(first.sql.hasSuffix("ORDER BY rtc_connection_history_id ASC LIMIT 11 OFFSET 0"))
        #expect(first.parameters == [.text("1")])
        let later = try SQLCompiler(resource: rtc, query: query).pageStatement(offset: 9_223_372_036_854_775_807, limit: 101)
        #expect(later.sql.hasSuffix("LIMIT 101 OFFSET $2::bigint"))
        #expect(later.parameters == [.text("1"), .int(9_223_372_036_854_775_807)])
    }

    @Test func equalityWithNullIsANullTest() throws {
        let compiled = try compile(#"{"filters": [{"name": "connection_status_info", "op": "==", "val": null}]}"#)
        #expect(compiled.sql.contains("WHERE connection_status_info IS NULL"))
        #expect(compiled.parameters.isEmpty)  // limit and a zero offset are numbers in the text
    }

    @Test(arguments: [
        ("not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        (#"{"filters": [{"name": "nope", "op": "==", "val": 1}]}"#, "Unknown field \"nope\""),
        (#"{"filters": [{"name": "product_imei", "op": "~", "val": 1}]}"#, "Unknown operator \"~\""),
        (#"{"filters": [{"name": "product_imei", "op": "=="}]}"#, "has no val"),
        (#"{"filters": [{"name": "product_imei"}]}"#, "has no operator"),
        (#"{"filters": [{"name": "product_imei", "op": "in", "val": "1"}]}"#, "must be a list"),
        (#"{"filters": [{"name": "rtc_connection_history_id", "op": "==", "val": "x"}]}"#, "must be an integer"),
        (#"{"filters": [{"name": "latest_message_time", "op": ">", "val": "yesterday"}]}"#, "is not a datetime"),
        (#"{"filters": [{"name": "product_imei", "op": "==", "field": "latest_message_time"}]}"#, "cannot compare"),
        (#"{"order_by": [{"field": "product_imei", "direction": "sideways"}]}"#, "direction"),
        (#"{"order_by": [{"field": "product_imei; DROP TABLE product"}]}"#, "Unknown field"),
        (#"{"group_by": [{"field": "1"}]}"#, "Unknown field"),
        (#"{"limit": -1}"#, "limit must be"),
        (#"{"single": "yes"}"#, "single must be"),
    ])
    func malformedQueriesSayWhy(q: String, expected: String) {
        let message = badRequest(q)
        #expect(message?.contains(expected) == true, "\(q) -> \(message ?? "accepted")")
    }

    /// Whatever the request says, SQL text holds only whitelisted names and placeholders.
    @Test func valuesNeverReachSQLText() throws {
        let hostile = "x' OR '1'='1'; DROP TABLE product; --"
        let compiled = try compile(#"{"filters": [{"name": "product_imei", "op": "==", "val": "\#(hostile)"}, {"name": "connection_status_reason", "op": "like", "val": "\#(hostile)"}]}"#)
        #expect(!compiled.sql.contains("DROP"))
        #expect(!compiled.sql.contains("'1'"))
        #expect(compiled.parameters.contains(.text(hostile)))
    }

    @Test func pageWindow() throws {
        // 25 rows, 10 per page: pages of 10, 10, 5, then empty.
        let third = PageWindow(matching: 25, offset: nil, limit: nil, page: 3, resultsPerPage: 10)
        #expect(third.numResults == 25 && third.totalPages == 3)
        #expect(PageWindow.fetch(offset: nil, limit: nil, page: 3, resultsPerPage: 10)! == (20, 10))
        // offset 5, limit 12: a window of rows 5..<17, paged by 10.
        let windowed = PageWindow(matching: 25, offset: 5, limit: 12, page: 2, resultsPerPage: 10)
        #expect(windowed.numResults == 12 && windowed.totalPages == 2)
        #expect(PageWindow.fetch(offset: 5, limit: 12, page: 2, resultsPerPage: 10)! == (15, 2))
        #expect(PageWindow.fetch(offset: 5, limit: 12, page: 3, resultsPerPage: 10) == nil)
        let empty = PageWindow(matching: 0, offset: nil, limit: nil, page: 1, resultsPerPage: 10)
        #expect(empty.totalPages == 0 && empty.numResults == 0)
        #expect(throws: BadRequest.self) { try PageWindow.pageParameters(page: "0", resultsPerPage: nil) }
        #expect(throws: BadRequest.self) { try PageWindow.pageParameters(page: nil, resultsPerPage: "ten") }
        #expect(try PageWindow.pageParameters(page: nil, resultsPerPage: "1000") == (1, 100))
        #expect(try PageWindow.pageParameters(page: "2", resultsPerPage: nil) == (2, 10))
    }

    /// Finding 6: `page=Int.max`, `results_per_page=1`, `offset 2` used to trap.
    @Test func pageWindowNeverOverflows() {
        for page in [Int.max, Int.max - 1, Int.max / 2] {
            for offset in [nil, 2, Int(Int32.max)] {
                for perPage in [1, 10, 100] {
                    let window = PageWindow(matching: Int.max, offset: offset, limit: nil, page: page, resultsPerPage: perPage)
                    #expect(window.totalPages >= 1 && window.numResults <= Int.max)
                    if let rows = PageWindow.fetch(offset: offset, limit: nil, page: page, resultsPerPage: perPage) {
                        #expect(rows.offset >= 0 && rows.limit == perPage)
                    }
                }
            }
        }
        #expect(PageWindow.fetch(offset: 2, limit: nil, page: Int.max, resultsPerPage: 1) == nil)
        #expect(PageWindow(matching: 5, offset: Int(Int32.max), limit: Int(Int32.max), page: Int.max, resultsPerPage: 100).numResults == 0)
    }

    @Test func permissionsAreOrdered() {
        #expect(Permission.allCases.map(\.name) == ["OVERVIEW", "TECHNICAL", "ADMIN", "FACTORY", "SYSTEM"])
        #expect(Permission.overview < .technical && .technical < .admin && .admin < .factory && .factory < .system)
        #expect(Permission(name: "system") == .system && Permission(name: "ROOT") == nil)
    }

    @Test func authorizationHeader() {
        let token = String(repeating: "a1", count: 32)
        #expect(APITokens.token(fromAuthorization: "Token token=\(token)") == token)
        #expect(APITokens.token(fromAuthorization: "Token token=\"\(token)\"") == token)
        #expect(APITokens.token(fromAuthorization: "Bearer \(token)") == nil)
        #expect(APITokens.token(fromAuthorization: "Token token=\(token)x") == nil)
        #expect(APITokens.token(fromAuthorization: "Token token=\(token.dropLast())'") == nil)
        #expect(APITokens.generate().count == 64)
        #expect(APITokens.generate() != APITokens.generate())
    }

    @Test func errorBodiesAreEscapedJSON() {
        #expect(JSONWriter.message("a\"b\\c\nd\u{01}é") == #"{"message": "a\"b\\c\nd\u0001é"}"#)
    }
}
