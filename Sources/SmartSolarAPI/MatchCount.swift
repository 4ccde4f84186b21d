import PostgresClient

/// `num_results` without reading a whole table on every page.
///
/// Rule (docs/api.md, "num_results"): the rows matching a query are counted exactly up to
/// `exactLimit`; beyond that, `num_results` is PostgreSQL's planner estimate of the
/// matching rows (never less than `exactLimit + 1`). A query with its own `limit` needs
/// only `offset + limit` rows counted, so its window is always exact when that is at most
/// `exactLimit`. The cost of a count is bounded by `exactLimit` rows read (plus what the
/// filter skips, which `statement_timeout` bounds).
enum MatchCount {
    /// Matching rows counted exactly; 10,000 index entries take about 1-2 ms.
    static let exactLimit = 10_000

    /// The rows matching `compiler`'s query, as the rule above gives them; at most `needed`
    /// when the caller needs no more.
    static func count(_ compiler: SQLCompiler, needed: Int?, on connection: PostgresConnection) throws -> Int {
        let cap = min(needed ?? exactLimit, exactLimit)
        let counted = try connection.query(compiler.cappedCountStatement(cap: cap + 1)).first?.int64(0).map(Int.init) ?? 0
        guard counted > cap else { return counted }
        if let needed, needed <= cap { return needed }
        return max(cap + 1, try estimate(compiler, on: connection))
    }

    /// The planner's row estimate of the query's matching rows (`EXPLAIN`, no execution).
    static func estimate(_ compiler: SQLCompiler, on connection: PostgresConnection) throws -> Int {
        let statement = try compiler.explainStatement()
        guard let plan = try connection.query(statement.sql, statement.parameters).first?.string(0),
              let rows = plan.firstMatch(of: /rows=(\d+)/).flatMap({ Int($0.1) })
        else { return 0 }
        return rows
    }
}
