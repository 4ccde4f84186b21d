import PostgresClient

/// Defence in depth (DESIGN.md, "A point"): finds the lines of a dump whose rows PostgreSQL
/// refuses for their data (`PostgresError.refusesData`: class 22, class 54, a CHECK), so that
/// the dump can be read again with those lines rejected as malformed instead of failing
/// night after night.
///
/// Exact by construction: the dump's candidates, deduplicated as the staged insert does (the
/// last one in the file wins), are copied into `migrate_probe`, a temporary copy of
/// `telemetry`'s columns, CHECK constraints and indexes, in batches inside savepoints; a
/// refused batch is rolled back to its savepoint and halved until the refused rows stand
/// alone. Rows already in `telemetry` are not probed against it, so a constraint only its
/// existing rows would trip (none of the three kinds) is out of reach. Everything is rolled
/// back. The candidates are held in memory: this runs only for a dump that was refused.
struct RefusedLines {
    let connection: PostgresConnection
    /// Rows per first batch.
    var batch = 4096

    /// Line number → the database's reason, for every refused row of the dump.
    func find(_ candidates: Candidates) throws -> [Int: String] {
        var rows: [Candidate] = []
        var index: [Key: Int] = [:]
        try candidates.again { candidate in
            let key = Key(product: candidate.product, field: candidate.point.field, time: candidate.time)
            if let at = index[key] { rows[at] = candidate } else { index[key] = rows.count; rows.append(candidate) }
        }
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS migrate_probe (LIKE telemetry INCLUDING CONSTRAINTS INCLUDING INDEXES);
            TRUNCATE migrate_probe;
            BEGIN;
            """)
        var refused: [Int: String] = [:]
        do {
            var start = 0
            while start < rows.count {
                let end = min(rows.count, start + batch)
                try probe(rows[start..<end], depth: 0, into: &refused)
                start = end
            }
        } catch {
            try? connection.executeScript("ROLLBACK")
            throw error
        }
        try connection.executeScript("ROLLBACK")
        return refused
    }

    private struct Key: Hashable {
        let product: Int32
        let field: String
        let time: Int64
    }

    /// Copies `rows` in a savepoint; when the database refuses them for their data, rolls
    /// back and tries each half, down to single rows, which are refused.
    private func probe(_ rows: ArraySlice<Candidate>, depth: Int, into refused: inout [Int: String]) throws {
        guard !rows.isEmpty else { return }
        let savepoint = "migrate_probe_\(depth)"
        try connection.executeScript("SAVEPOINT \(savepoint)")
        do {
            _ = try connection.copyIn("COPY migrate_probe (product_imei, field, time, value, value_text) FROM STDIN (FORMAT binary)") { writer in
                for row in rows { writer.appendTelemetry(row) }
            }
            try connection.executeScript("RELEASE SAVEPOINT \(savepoint)")
        } catch let error as PostgresError where error.refusesData {
            try connection.executeScript("ROLLBACK TO SAVEPOINT \(savepoint); RELEASE SAVEPOINT \(savepoint)")
            if rows.count == 1, let row = rows.first {
                // The reason names the table whose constraint refused the row, not the probe's copy of it.
                let message = error.message.replacingOccurrences(of: "\"migrate_probe\"", with: "\"telemetry\"")
                refused[row.point.line] = error.sqlState.map { "\($0): \(message)" } ?? message
                return
            }
            let middle = rows.startIndex + rows.count / 2
            try probe(rows[rows.startIndex..<middle], depth: depth + 1, into: &refused)
            try probe(rows[middle..<rows.endIndex], depth: depth + 1, into: &refused)
        }
    }
}
