import PostgresClient

/// Defence in depth (DESIGN.md, "A point"): finds the lines of a dump whose rows PostgreSQL
/// refuses for their data (`PostgresError.refusesData`: class 22, class 54, a CHECK), so that
/// the dump can be read again with those lines rejected as malformed instead of failing
/// night after night.
///
/// Exact by construction, in bounded memory: the dump's candidates are read in batches, each
/// deduplicated as the staged insert does (the last one in the file wins) and copied into
/// `migrate_probe`, a temporary copy of `telemetry`'s columns, CHECK constraints and indexes,
/// in its own transaction; a refused batch is rolled back to a savepoint and halved until the
/// refused rows stand alone, and every batch is rolled back once probed, so the next one
/// meets none of its keys. A refused line that a later line of the same (IMEI, field, time)
/// overrides, in a later batch, is no row and is dropped again (invariant: a line is
/// returned only when it is the last candidate of its key). Rows already in `telemetry` are
/// not probed against it, so a constraint only its existing rows would trip (none of the
/// three kinds) is out of reach. Memory: one batch, and the refused lines.
struct RefusedLines {
    let connection: PostgresConnection
    /// Candidates per batch.
    var batch = 4096
    /// Batches between two truncations of the probe table (rolled-back rows stay in its
    /// files until then; a temporary table is never vacuumed).
    var batchesPerTruncation = 64

    /// Line number → the database's reason, for every refused row of the dump.
    func find(_ candidates: some CandidateSource) throws -> [Int: String] {
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS migrate_probe (LIKE telemetry INCLUDING CONSTRAINTS INCLUDING INDEXES);
            TRUNCATE migrate_probe;
            """)
        var refused: [Int: String] = [:]
        // The keys of refused rows that no later line has overridden yet, and how many such
        // keys each refused line has (a line of several fields may have more than one).
        var refusedKeys: [Key: Int] = [:]
        var keysOfLine: [Int: Int] = [:]
        var pending: [Key: Candidate] = [:]
        var batches = 0
        func flush() throws {
            guard !pending.isEmpty else { return }
            let rows = pending.values.sorted { $0.point.line < $1.point.line }
            pending.removeAll(keepingCapacity: true)
            for (row, reason) in try probeBatch(rows) {
                let line = row.point.line
                refused[line] = refused[line] ?? reason
                refusedKeys[Key(row)] = line
                keysOfLine[line, default: 0] += 1
            }
            batches += 1
            if batches % batchesPerTruncation == 0 { try connection.executeScript("TRUNCATE migrate_probe") }
        }
        try candidates.again { candidate in
            let key = Key(candidate)
            if !refusedKeys.isEmpty, let line = refusedKeys.removeValue(forKey: key) {
                // A later line overrides the refused row: unless another of its rows is refused, the line is not.
                keysOfLine[line, default: 1] -= 1
                if keysOfLine[line] == 0 { keysOfLine[line] = nil; refused[line] = nil }
            }
            pending[key] = candidate
            if pending.count == batch { try flush() }
        }
        try flush()
        try connection.executeScript("TRUNCATE migrate_probe")
        return refused
    }

    private struct Key: Hashable {
        let product: Int32
        let field: String
        let time: Int64

        init(_ candidate: Candidate) {
            product = candidate.product
            field = candidate.point.field
            time = candidate.time
        }
    }

    /// Probes one batch (distinct keys, in file order) in a transaction that is rolled back;
    /// returns its refused rows with the database's reasons.
    private func probeBatch(_ rows: [Candidate]) throws -> [(Candidate, String)] {
        var refused: [(Candidate, String)] = []
        try connection.executeScript("BEGIN")
        do {
            try probe(rows[...], depth: 0, into: &refused)
        } catch {
            try? connection.executeScript("ROLLBACK")
            throw error
        }
        try connection.executeScript("ROLLBACK")
        return refused
    }

    /// Copies `rows` in a savepoint; when the database refuses them for their data, rolls
    /// back and tries each half, down to single rows, which are refused.
    private func probe(_ rows: ArraySlice<Candidate>, depth: Int, into refused: inout [(Candidate, String)]) throws {
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
                refused.append((row, error.sqlState.map { "\($0): \(message)" } ?? message))
                return
            }
            let middle = rows.startIndex + rows.count / 2
            try probe(rows[rows.startIndex..<middle], depth: depth + 1, into: &refused)
            try probe(rows[middle..<rows.endIndex], depth: depth + 1, into: &refused)
        }
    }
}
