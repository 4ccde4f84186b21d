import PostgresClient

/// Defence in depth (DESIGN.md, "A point"): finds the lines of a dump whose rows PostgreSQL
/// refuses for their data (`PostgresError.refusesData`: class 22, class 54, a CHECK), so that
/// the dump can be read again with those lines rejected as malformed instead of failing
/// night after night.
///
/// Exact by construction, in bounded memory: the dump's candidates are read in batches, each
/// deduplicated as the staged insert does (the last one in the file wins) and copied into
/// `migrate_probe`, a temporary copy of `telemetry`'s columns, CHECK constraints and indexes,
/// in its own transaction that is rolled back once probed, so the next batch meets none of
/// its keys. A refused batch is probed row by row on the server (`migrate_probe_each`, one
/// subtransaction a row, as the staged insert would write it): a handful of statements a
/// batch however many of its rows are refused. Only when the rows cannot even be staged (the
/// conversion of the input itself refused, a character the database's encoding lacks, say)
/// is the batch halved until the refused rows stand alone. A refused line that a later line
/// of the same (IMEI, field, time) overrides, in a later batch, is no row and is dropped
/// again (invariant: a line is returned only when it is the last candidate of its key). Rows
/// already in `telemetry` are not probed against it, so a constraint only its existing rows
/// would trip (none of the three kinds) is out of reach. Memory: one batch, and the refused
/// lines (their reasons shared).
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
        try prepareRowProbe()
        try truncate()
        // The refused rows that no later line has overridden yet: key → line, and each line's
        // refused keys with the database's reasons, in the order the probe found them (a line
        // of several fields may have more than one; the first left gives the line's reason).
        var refusedKeys: [Key: Int] = [:]
        var reasons: [Int: [(key: Key, reason: String)]] = [:]
        // Each distinct reason stored once: most refused lines share a handful.
        var distinctReasons: Set<String> = []
        // One batch, deduplicated: a key keeps its first position and its last candidate.
        var rows: [Candidate] = []
        var position: [Key: Int] = [:]
        var batches = 0
        func flush() throws {
            guard !rows.isEmpty else { return }
            for (row, reason) in try probeBatch(rows) {
                let key = Key(row)
                refusedKeys[key] = row.point.line
                reasons[row.point.line, default: []].append((key, distinctReasons.insert(reason).memberAfterInsert))
            }
            rows.removeAll(keepingCapacity: true)
            position.removeAll(keepingCapacity: true)
            batches += 1
            if batches % batchesPerTruncation == 0 { try truncate() }
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
        try truncate()
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

    /// Empties the probe's tables (rolled-back rows stay in their files until then).
    private func truncate() throws {
        try connection.executeScript("TRUNCATE migrate_probe, migrate_probe_rows")
    }

    /// Creates (once a session) `migrate_probe_rows`, a batch's rows as the staged insert takes
    /// them (with their position), and `pg_temp.migrate_probe_each()`, which inserts them into
    /// `migrate_probe` in that order, each in its own subtransaction, and returns those refused
    /// for their data (`PostgresError.refusesData`'s classes) with PostgreSQL's SQLSTATE and
    /// message; any other error ends it.
    private func prepareRowProbe() throws {
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS migrate_probe_rows (
                seq bigint NOT NULL, product_imei varchar(15) NOT NULL, field text NOT NULL,
                time timestamp NOT NULL, value double precision, value_text text
            );
            CREATE OR REPLACE FUNCTION pg_temp.migrate_probe_each()
            RETURNS TABLE (refused_seq bigint, refused_state text, refused_message text)
            LANGUAGE plpgsql AS $$
            DECLARE r record;
            BEGIN
                FOR r IN SELECT * FROM migrate_probe_rows ORDER BY seq LOOP
                    BEGIN
                        INSERT INTO migrate_probe (product_imei, field, time, value, value_text)
                        VALUES (r.product_imei, r.field, r.time, r.value, r.value_text);
                    EXCEPTION WHEN data_exception OR program_limit_exceeded OR check_violation THEN
                        refused_seq := r.seq; refused_state := SQLSTATE; refused_message := SQLERRM;
                        RETURN NEXT;
                    END;
                END LOOP;
            END $$;
            """)
    }

    /// Probes one batch (distinct keys, in file order) in a transaction that is rolled back;
    /// returns its refused rows with the database's reasons, in file order.
    private func probeBatch(_ rows: [Candidate]) throws -> [(Candidate, String)] {
        try connection.executeScript("BEGIN")
        do {
            var refused: [(Candidate, String)] = []
            if let error = try refusal(copying: rows[...]) {
                if try refusal(staging: rows) == nil {
                    refused = try connection.query(
                        "SELECT refused_seq, refused_state, refused_message FROM pg_temp.migrate_probe_each()"
                    ).map { row in (rows[Int(row.int64(0) ?? 0)], Self.reason(state: row.string(1), message: row.string(2) ?? "")) }
                } else {
                    try isolate(rows[...], refusedWith: error, depth: 0, into: &refused)
                }
            }
            try connection.executeScript("ROLLBACK")
            return refused
        } catch {
            try? connection.executeScript("ROLLBACK")
            throw error
        }
    }

    /// Copies `rows` into `migrate_probe` in a savepoint: nil when the database takes them,
    /// else its refusal (rolled back).
    private func refusal(copying rows: ArraySlice<Candidate>, depth: Int = 0) throws -> PostgresError? {
        try refusal(in: "migrate_probe_\(depth)") {
            _ = try connection.copyIn("COPY migrate_probe (product_imei, field, time, value, value_text) FROM STDIN (FORMAT binary)") { writer in
                for row in rows { writer.appendTelemetry(row) }
            }
        }
    }

    /// Copies `rows` into `migrate_probe_rows`, numbered by position: nil, or the database's
    /// refusal of the input itself (rolled back).
    private func refusal(staging rows: [Candidate]) throws -> PostgresError? {
        try refusal(in: "migrate_probe_rows") {
            _ = try connection.copyIn("COPY migrate_probe_rows (seq, product_imei, field, time, value, value_text) FROM STDIN (FORMAT binary)") { writer in
                for (position, row) in rows.enumerated() { writer.appendStaged(sequence: Int64(position), row) }
            }
        }
    }

    /// Runs `body` in a savepoint: nil when it succeeds, else the error with which the
    /// database refused its rows for their data (the savepoint rolled back).
    private func refusal(in savepoint: String, _ body: () throws -> Void) throws -> PostgresError? {
        try connection.executeScript("SAVEPOINT \(savepoint)")
        do {
            try body()
            try connection.executeScript("RELEASE SAVEPOINT \(savepoint)")
            return nil
        } catch let error as PostgresError where error.refusesData {
            try connection.executeScript("ROLLBACK TO SAVEPOINT \(savepoint); RELEASE SAVEPOINT \(savepoint)")
            return error
        }
    }

    /// For rows the database refused (with `error`) before any constraint saw them: halves
    /// `rows`, copying each half into `migrate_probe`, until the refused ones stand alone.
    private func isolate(_ rows: ArraySlice<Candidate>, refusedWith error: PostgresError, depth: Int,
                         into refused: inout [(Candidate, String)]) throws {
        if rows.count == 1, let row = rows.first {
            refused.append((row, Self.reason(state: error.sqlState?.rawValue, message: error.message)))
            return
        }
        let middle = rows.startIndex + rows.count / 2
        for half in [rows[..<middle], rows[middle...]] {
            if let error = try refusal(copying: half, depth: depth + 1) {
                try isolate(half, refusedWith: error, depth: depth + 1, into: &refused)
            }
        }
    }

    /// A refused row's reason: its SQLSTATE and message, which names the table whose constraint
    /// refused the row, not the probe's copy of it.
    private static func reason(state: String?, message: String) -> String {
        let message = message.replacingOccurrences(of: "\"migrate_probe\"", with: "\"telemetry\"")
        return state.map { "\($0): \(message)" } ?? message
    }
}
