import PostgresClient

/// Defence in depth (DESIGN.md, "A point"): finds the lines of a dump whose rows PostgreSQL
/// refuses for their data (`PostgresError.refusesData`: class 22, class 54, a CHECK), so that
/// the dump can be read again with those lines rejected as malformed instead of failing
/// night after night.
///
/// Exact by construction, in bounded memory: the dump's candidates are read in batches of
/// whole lines, each probed as the staged write takes rows, in its own transaction that is
/// rolled back once probed, so the next batch meets none of its keys: every point copied with
/// the job's column types into `migrate_probe_rows`, then the last of each key (the last line
/// in the file wins) inserted from there into a temporary copy of `telemetry`'s columns, CHECK
/// constraints and generated columns (so whatever types the operator gave `telemetry`, the
/// insert casts to them). Invariant: a row is judged as the staged write's `INSERT ... ON
/// CONFLICT DO NOTHING` judges it; PostgreSQL casts a row, computes its generated columns and
/// checks its constraints before it looks for its key, and builds the other indexes' entries
/// only for a new row: so a row whose key is already written (in `telemetry`, or by an earlier
/// dump of a dry run) goes into `migrate_probe_present`, without indexes; a new one into
/// `migrate_probe`, with `telemetry`'s indexes. A batch the insert refuses is probed on
/// the server (`migrate_probe_each`: 64 rows a subtransaction, then row by row in a refused
/// group): a handful of statements a batch however many of its rows are refused. Points whose
/// input itself is refused (a character the database's encoding lacks) are found by halving
/// the copy until they stand alone; their lines go whole, whatever follows. A line refused on
/// insert that a later line of the same (IMEI, field, time) overrides, in a later batch, is
/// no row and is dropped again (invariant: such a line is returned only when it is the last
/// candidate of its key). A constraint only `telemetry`'s existing rows would trip (none of the
/// three kinds) is out of reach. Memory: one batch, and the refused lines (their reasons shared).
struct RefusedLines {
    let connection: PostgresConnection
    /// Candidates per batch (more when a line's points straddle the limit: lines stay whole).
    var batch = 4096
    /// Batches between two truncations of the probe table (rolled-back rows stay in its
    /// files until then; a temporary table is never vacuumed).
    var batchesPerTruncation = 64
    /// In a dry run: the tables of rows its earlier dumps would have written, which are
    /// present for this dump though `telemetry` lacks them (`migrate_dry_inserted`).
    var presentAlsoIn: [String] = []
    /// In a dry run: whether a candidate's row is one its earlier dumps would have written and
    /// that no table holds yet (`DryRunMemory`).
    var remembered: (Candidate) -> Bool = { _ in false }

    /// Line number → the database's reason, for every refused row of the dump.
    func find(_ candidates: some CandidateSource) throws -> [Int: String] {
        try Self.createProbeTable("migrate_probe", on: connection, indexes: true)
        try Self.createProbeTable("migrate_probe_present", on: connection, indexes: false)
        let names = try probeNames()
        try prepareRowProbe()
        try truncate()
        // The rows refused on insert that no later line has overridden yet, by key: each with its
        // line, its reason and the order the probe found it in (a line of several fields may have
        // more than one; the first still standing gives the line's reason).
        var refused: [Key: Refusal] = [:]
        var found = 0
        var fields = FieldNames()
        // The lines with a point whose input the database refused: rejected whatever follows,
        // since every write sends every candidate (the stage deduplicates after taking them).
        var unreadable: [Int: String] = [:]
        // Each distinct reason stored once, as a small number (as field names are): most refused
        // lines share a handful.
        var reasons = FieldNames()
        func index(of reason: String) -> Int32 { Int32(reasons.ordinal(of: reason)) }
        // One batch, in file order; a line's points are never split between two batches.
        var rows: [Candidate] = []
        var batches = 0
        func flush() throws {
            guard !rows.isEmpty else { return }
            let probed = try probeBatch(rows, names: names)
            for (line, reason) in probed.unreadable where unreadable[line] == nil {
                let ordinal = reasons.ordinal(of: reason)
                unreadable[line] = reasons.name(ordinal)
            }
            // Each point of a line kept overrides the refused row of its key an earlier batch
            // found: unless another of its rows is refused, that line is not.
            for row in rows where !refused.isEmpty && probed.unreadable[row.point.line] == nil {
                guard let field = fields.known(row.point.field) else { continue }
                refused[Key(row, field: Int32(field))] = nil
            }
            for (position, reason) in probed.refused {
                let row = rows[position]
                refused[Key(row, field: Int32(fields.ordinal(of: row.point.field)))] =
                    Refusal(line: row.point.line, reason: index(of: reason), order: found)
                found += 1
            }
            rows.removeAll(keepingCapacity: true)
            batches += 1
            if batches % batchesPerTruncation == 0 { try truncate() }
        }
        try candidates.again { candidate in
            if rows.count >= batch, rows.last?.point.line != candidate.point.line { try flush() }
            rows.append(candidate)
        }
        try flush()
        try truncate()
        // The first found of a line's refused rows gives its reason: assigned last. (An array and
        // one dictionary at a time: this is the probe's peak of memory.)
        var standing = Array(refused.values)
        refused = [:]
        standing.sort { $0.order > $1.order }
        var lines = unreadable
        lines.reserveCapacity(unreadable.count + standing.count)
        for refusal in standing where unreadable[refusal.line] == nil { lines[refusal.line] = reasons.name(Int(refusal.reason)) }
        return lines
    }

    /// Creates (once a session) a temporary table with `telemetry`'s columns, CHECK constraints
    /// and generated columns (whose expression may raise: PostgreSQL computes them before it
    /// checks constraints; and its indexes, when asked) for rows the job writes: the five
    /// columns it fills. Defaults are not copied (one may call `nextval`, which a dry run must
    /// not); a NOT NULL the operator put on another column (one with a default, say) is dropped
    /// there, since a probed row leaves that column empty and would be refused for it alone.
    static func createProbeTable(_ name: String, on connection: PostgresConnection, indexes: Bool,
                                 deletingRowsOnCommit: Bool = false) throws {
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS \(name) (LIKE telemetry INCLUDING CONSTRAINTS INCLUDING GENERATED\(indexes ? " INCLUDING INDEXES" : ""))\(deletingRowsOnCommit ? " ON COMMIT DELETE ROWS" : "");
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

    /// A refused row's key, its field as an ordinal of the probe's `FieldNames` (compared byte
    /// for byte, as PostgreSQL compares it): 16 bytes.
    private struct Key: Hashable {
        let product: Int32
        let field: Int32
        let time: Int64

        init(_ candidate: Candidate, field: Int32) {
            product = candidate.product
            self.field = field
            time = candidate.time
        }
    }

    /// A refused row still standing: its line, its reason (an index into the distinct ones) and
    /// the order the probe found it in.
    private struct Refusal {
        let line: Int
        let reason: Int32
        let order: Int
    }

    /// Empties the probe's tables (rolled-back rows stay in their files until then).
    private func truncate() throws {
        try connection.executeScript("TRUNCATE migrate_probe, migrate_probe_present, migrate_probe_rows")
    }

    /// Creates (once a session) `migrate_probe_rows`, a batch's rows as the staged insert takes
    /// them (with their position, and whether their key is written already), and
    /// `pg_temp.migrate_probe_each()`, which inserts the last of each key into `migrate_probe`
    /// or `migrate_probe_present` in file order, 64 rows a subtransaction and, in a group it refuses, one
    /// row a subtransaction, and returns the rows refused for their data
    /// (`PostgresError.refusesData`'s classes) with PostgreSQL's SQLSTATE and message; any other
    /// error ends it. (A subtransaction that inserts takes a transaction id: groups keep a batch
    /// with one refused row to about 130, not 4,096.)
    private func prepareRowProbe() throws {
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS migrate_probe_rows (
                seq bigint NOT NULL, product_imei varchar(15) NOT NULL, field text NOT NULL,
                time timestamp NOT NULL, value double precision, value_text text, present boolean NOT NULL
            );
            CREATE OR REPLACE FUNCTION pg_temp.migrate_probe_each()
            RETURNS TABLE (refused_seq bigint, refused_state text, refused_message text)
            LANGUAGE plpgsql AS $$
            DECLARE
                staged migrate_probe_rows[];
                r migrate_probe_rows;
                lo int := 1;
            BEGIN
                SELECT array_agg(last.p ORDER BY (last.p).seq) INTO staged FROM (
                    SELECT DISTINCT ON (product_imei, field, time) p FROM migrate_probe_rows p
                    ORDER BY product_imei, field, time, seq DESC) last;
                WHILE lo <= coalesce(array_length(staged, 1), 0) LOOP
                    BEGIN
                        INSERT INTO migrate_probe (product_imei, field, time, value, value_text)
                        SELECT g.product_imei, g.field, g.time, g.value, g.value_text FROM unnest(staged[lo:lo + 63]) g
                        WHERE NOT g.present;
                        INSERT INTO migrate_probe_present (product_imei, field, time, value, value_text)
                        SELECT g.product_imei, g.field, g.time, g.value, g.value_text FROM unnest(staged[lo:lo + 63]) g
                        WHERE g.present;
                    EXCEPTION WHEN data_exception OR program_limit_exceeded OR check_violation THEN
                        FOREACH r IN ARRAY staged[lo:lo + 63] LOOP
                            BEGIN
                                IF r.present THEN
                                    INSERT INTO migrate_probe_present (product_imei, field, time, value, value_text)
                                    VALUES (r.product_imei, r.field, r.time, r.value, r.value_text);
                                ELSE
                                    INSERT INTO migrate_probe (product_imei, field, time, value, value_text)
                                    VALUES (r.product_imei, r.field, r.time, r.value, r.value_text);
                                END IF;
                            EXCEPTION WHEN data_exception OR program_limit_exceeded OR check_violation THEN
                                refused_seq := r.seq; refused_state := SQLSTATE; refused_message := SQLERRM;
                                RETURN NEXT;
                            END;
                        END LOOP;
                    END;
                    lo := lo + 64;
                END LOOP;
            END $$;
            """)
    }

    /// What one batch's probe found: the lines with a point whose input the database refused
    /// (line → reason), and, among the other lines' points, the last of each key in the batch
    /// that the insert refused (position → reason, in file order).
    struct Probed {
        var unreadable: [Int: String] = [:]
        var refused: [(position: Int, reason: String)] = []
    }

    /// Probes one batch (candidates in file order, whole lines) in a transaction that is rolled
    /// back, as the staged write takes it: every point copied, then the last of each key inserted.
    private func probeBatch(_ rows: [Candidate], names: [String: String]) throws -> Probed {
        try connection.executeScript("BEGIN")
        do {
            var probed = Probed()
            if let error = try refusal(staging: rows.indices, of: rows) {
                var found: [(position: Int, reason: String)] = []
                try isolate(rows.indices, of: rows, refusedWith: error, depth: 0, into: &found)
                for (position, reason) in found where probed.unreadable[rows[position].point.line] == nil {
                    probed.unreadable[rows[position].point.line] = reason
                }
                // The line goes whole, so its other points are no candidates either.
                try connection.execute("DELETE FROM migrate_probe_rows")
                let kept = rows.indices.filter { probed.unreadable[rows[$0].point.line] == nil }
                if let error = try refusal(staging: kept, of: rows) { throw error }  // each was taken before
            }
            try markPresent()
            if try refusal(in: "migrate_probe", { for insert in Self.insertStaged { try connection.execute(insert) } }) != nil {
                probed.refused = try connection.query(
                    "SELECT refused_seq, refused_state, refused_message FROM pg_temp.migrate_probe_each()"
                ).map { (Int($0.int64(0) ?? 0), Self.reason(state: $0.string(1), message: $0.string(2) ?? "", names: names)) }
            }
            try connection.executeScript("ROLLBACK")
            return probed
        } catch {
            try? connection.executeScript("ROLLBACK")
            throw error
        }
    }

    /// Marks the staged rows whose key is written already: in `telemetry` (read through a CTE,
    /// which Citus plans first), or in `presentAlsoIn`'s tables.
    private func markPresent() throws {
        for table in ["telemetry"] + presentAlsoIn {
            try connection.execute("""
                WITH found AS (
                    SELECT r.seq FROM (SELECT seq, product_imei, field, time FROM migrate_probe_rows WHERE NOT present) r
                    JOIN \(table) t ON t.product_imei = r.product_imei AND t.field = r.field AND t.time = r.time
                )
                UPDATE migrate_probe_rows p SET present = true FROM found WHERE p.seq = found.seq
                """)
        }
    }

    /// The staged rows into `migrate_probe` (new keys) and `migrate_probe_present` (written
    /// keys), as the staged insert writes them into `telemetry`: the last of each key (the
    /// stage's deduplication; `migrate_probe_each` takes the same rows).
    private static let insertStaged = [(table: "migrate_probe", filter: "NOT s.present"),
                                       (table: "migrate_probe_present", filter: "s.present")].map { probe in
        MigrationStore.insertTelemetryColumns(into: probe.table, from: """
            (SELECT DISTINCT ON (product_imei, field, time) * FROM migrate_probe_rows
             ORDER BY product_imei, field, time, seq DESC) s WHERE \(probe.filter)
            """)
    }

    /// Copies the rows at `positions` into `migrate_probe_rows` (numbered by position) in a
    /// savepoint: nil when the database takes them (they stay), else its refusal of the input
    /// (rolled back).
    private func refusal(staging positions: some Sequence<Int>, of rows: [Candidate], depth: Int = 0) throws -> PostgresError? {
        try refusal(in: "migrate_probe_rows_\(depth)") {
            _ = try connection.copyIn("COPY migrate_probe_rows (seq, product_imei, field, time, value, value_text, present) FROM STDIN (FORMAT binary)") { writer in
                for position in positions {
                    try writer.appendStaged(sequence: Int64(position), rows[position], present: remembered(rows[position]))
                }
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

    /// For rows whose input the database refused (with `error`): halves `positions`, copying
    /// each half into `migrate_probe_rows`, until the refused rows stand alone; the halves it
    /// takes stay copied.
    private func isolate(_ positions: Range<Int>, of rows: [Candidate], refusedWith error: PostgresError, depth: Int,
                         into refused: inout [(position: Int, reason: String)]) throws {
        if positions.count == 1 {
            refused.append((positions.lowerBound, Self.reason(state: error.sqlState?.rawValue, message: error.message)))
            return
        }
        let middle = positions.lowerBound + positions.count / 2
        for half in [positions.lowerBound..<middle, middle..<positions.upperBound] {
            if let error = try refusal(staging: half, of: rows, depth: depth + 1) {
                try isolate(half, of: rows, refusedWith: error, depth: depth + 1, into: &refused)
            }
        }
    }

    /// A refused row's reason: its SQLSTATE and message, which names the table and the index
    /// that refused the row (`names`: the probe's name → the operator's), not the probe's copies.
    private static func reason(state: String?, message: String,
                               names: [String: String] = probeTables) -> String {
        var message = message
        for (probe, own) in names { message = message.replacingOccurrences(of: "\"\(probe)\"", with: "\"\(own)\"") }
        return state.map { "\($0): \(message)" } ?? message
    }

    /// The probe's tables, as a refusal's message names them → `telemetry`.
    private static let probeTables = ["migrate_probe": "telemetry", "migrate_probe_present": "telemetry"]

    /// `probeTables` and the names of `migrate_probe`'s indexes → those of `telemetry`'s that
    /// `LIKE ... INCLUDING INDEXES` copied (the same definition after `USING`; the first
    /// of two alike).
    private func probeNames() throws -> [String: String] {
        var names = Self.probeTables
        for row in try connection.query("""
            SELECT p.relname, min(t.relname) FROM pg_index pi JOIN pg_class p ON p.oid = pi.indexrelid
            JOIN pg_index ti ON ti.indrelid = 'telemetry'::regclass JOIN pg_class t ON t.oid = ti.indexrelid
            WHERE pi.indrelid = 'pg_temp.migrate_probe'::regclass AND pi.indisunique = ti.indisunique
              AND substring(pg_get_indexdef(pi.indexrelid) FROM ' USING .*') = substring(pg_get_indexdef(ti.indexrelid) FROM ' USING .*')
            GROUP BY p.relname
            """) {
            if let probe = row.string(0), let own = row.string(1) { names[probe] = own }
        }
        return names
    }
}
