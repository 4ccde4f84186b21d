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
    /// Distinct keys per batch.
    var batch = 4096
    /// Batches between two truncations of the probe table (rolled-back rows stay in its
    /// files until then; a temporary table is never vacuumed).
    var batchesPerTruncation = 64

    /// Line number → the database's reason, for every refused row of the dump.
    func find(_ candidates: some CandidateSource) throws -> [Int: String] {
        try Self.createProbeTable("migrate_probe", on: connection, indexes: true)
        try connection.executeScript("TRUNCATE migrate_probe")
        // The refused rows that no later line has overridden yet: key → line, and each line's
        // refused keys with the database's reasons, in the order the probe found them (a line
        // of several fields may have more than one; the first left gives the line's reason).
        var refusedKeys: [Key: Int] = [:]
        var reasons: [Int: [(key: Key, reason: String)]] = [:]
        // One batch, deduplicated: a key keeps its first position and its last candidate.
        var rows: [Candidate] = []
        var position: [Key: Int] = [:]
        var batches = 0
        func flush() throws {
            guard !rows.isEmpty else { return }
            for (row, reason) in try probeBatch(rows) {
                let key = Key(row)
                refusedKeys[key] = row.point.line
                reasons[row.point.line, default: []].append((key, reason))
            }
            rows.removeAll(keepingCapacity: true)
            position.removeAll(keepingCapacity: true)
            batches += 1
            if batches % batchesPerTruncation == 0 { try connection.executeScript("TRUNCATE migrate_probe") }
        }
        try candidates.again { candidate in
            let key = Key(candidate)
            if !refusedKeys.isEmpty, let line = refusedKeys.removeValue(forKey: key) {
                // A later line overrides the refused row: unless another of its rows is refused, the line is not.
                reasons[line]?.removeAll { $0.key == key }
                if reasons[line]?.isEmpty == true { reasons[line] = nil }
            }
            if let at = position[key] {
                rows[at] = candidate
            } else {
                position[key] = rows.count
                rows.append(candidate)
                if rows.count == batch { try flush() }
            }
        }
        try flush()
        try connection.executeScript("TRUNCATE migrate_probe")
        return reasons.mapValues { $0[0].reason }
    }

    /// Creates (once a session) a temporary table with `telemetry`'s columns and CHECK
    /// constraints (and its indexes, when asked) for rows the job writes: the five columns it
    /// fills. A NOT NULL the operator put on another column (one with a default, say) is dropped
    /// there, since a probed row leaves that column empty and would be refused for it alone.
    static func createProbeTable(_ name: String, on connection: PostgresConnection, indexes: Bool,
                                 deletingRowsOnCommit: Bool = false) throws {
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS \(name) (LIKE telemetry INCLUDING CONSTRAINTS\(indexes ? " INCLUDING INDEXES" : ""))\(deletingRowsOnCommit ? " ON COMMIT DELETE ROWS" : "");
            """)
        let others = try connection.query("""
            SELECT a.attname FROM pg_attribute a
            WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
              AND a.attname NOT IN ('product_imei', 'field', 'time', 'value', 'value_text')
              AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey))
            """, [.text("pg_temp.\(name)")]).compactMap { $0.string(0) }
        for column in others {
            try connection.executeScript("ALTER TABLE pg_temp.\(name) ALTER COLUMN \(quotedIdentifier(column)) DROP NOT NULL")
        }
    }

    /// A row's key, its field compared byte for byte as PostgreSQL compares it (Swift's `String`
    /// equality would take two canonically equivalent spellings for one key).
    private struct Key: Hashable {
        let product: Int32
        let field: String
        let time: Int64

        init(_ candidate: Candidate) {
            product = candidate.product
            field = candidate.point.field
            time = candidate.time
        }

        static func == (a: Key, b: Key) -> Bool {
            a.product == b.product && a.time == b.time && a.field.utf8.elementsEqual(b.field.utf8)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(product)
            hasher.combine(time)
            for byte in field.utf8 { hasher.combine(byte) }
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
