import Foundation
import PostgresClient
import TelemetryCore

/// The SQL of a run, on one connection. Every statement names `product_imei` in its keys,
/// so it stays valid on tables distributed by `product_imei` (Citus, docs/citus.md): no
/// statement joins a session temporary table to a distributed table except as a whole
/// (a CTE or the outer side of a join, which Citus ships to the workers), and no
/// modification of a distributed table reads a temporary table.
///
/// Candidates of a dump either go straight into `telemetry` or are copied into a session
/// temporary table, `migrate_stage`, then deduplicated (last one in the file wins) and
/// inserted in one statement (see `WriteStrategy`). The stage has `ON COMMIT DELETE ROWS`, so
/// each dump's transaction starts with it empty.
struct MigrationStore {
    let connection: PostgresConnection
    let unit: String
    /// In a dry run: its staged count also copies the rows into `migrate_dry_probe`
    /// (`prepareRefusalProbe`).
    private(set) var probesRefusals = false

    /// Session-level temporary tables; created outside any transaction so that a dry run's
    /// read-only transactions can still fill them.
    func prepareSession(dryRun: Bool) throws {
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS migrate_stage (
                seq bigint NOT NULL, product_imei varchar(15) NOT NULL, field text NOT NULL,
                time timestamp NOT NULL, value double precision, value_text text
            ) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS migrate_advance (
                product_imei varchar(15) NOT NULL, time timestamp NOT NULL, has_row boolean NOT NULL
            ) ON COMMIT DELETE ROWS;
            """)
        if dryRun {
            // What earlier dumps of this dry run would have inserted, so that later dumps
            // count those rows as `present` exactly as the real run will.
            try connection.executeScript("""
                CREATE TEMP TABLE IF NOT EXISTS migrate_dry_inserted (
                    product_imei varchar(15) NOT NULL, field text NOT NULL, time timestamp NOT NULL
                );
                TRUNCATE migrate_dry_inserted;
                """)
        }
    }

    /// For a dry run, which inserts nothing into `telemetry` and so by itself meets no refusal
    /// the real run meets there, when `telemetry` is not as the job made it
    /// (`telemetryRefusesMore`) and so may refuse rows the reader passed, where the real run
    /// rejects their lines as malformed: creates `migrate_dry_probe`, a temporary table with
    /// `telemetry`'s columns and constraints (and its indexes, when the operator added one), and
    /// `migrate_dry_probe_present`, with its constraints only, and sets `probesRefusals`: the
    /// counted and the staged dry runs then copy every (deduplicated) candidate into one of them.
    /// PostgreSQL checks a row's constraints before it looks for its key, and builds its other
    /// index entries only once it found none: so new rows go into the first, rows whose key
    /// is written already (in `telemetry` or by an earlier dump of the run) into the second, and
    /// the dry run is refused by the rows that refuse the real run, and isolates them as it does
    /// (`Migrator.isolateRefusedLines`, `RefusedLines`).
    mutating func prepareRefusalProbe() throws {
        let refuses = try telemetryRefusesMore()
        guard refuses.rows else { return }
        probesRefusals = true
        try RefusedLines.createProbeTable("migrate_dry_probe", on: connection, indexes: refuses.byIndex,
                                          deletingRowsOnCommit: true)
        try RefusedLines.createProbeTable("migrate_dry_probe_present", on: connection, indexes: false,
                                          deletingRowsOnCommit: true)
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS migrate_dry_written (
                product_imei varchar(15) NOT NULL, field text NOT NULL, time timestamp NOT NULL
            ) ON COMMIT DELETE ROWS;
            """)
    }

    /// `telemetry`'s five columns as the job makes them (`Migrations.version1`), for a join with
    /// `pg_attribute`: name, type as `format_type` writes it, and the base types that share its
    /// binary format.
    private static let jobColumns = """
        (VALUES ('product_imei', 'character varying(15)', ARRAY['text', 'varchar', 'bpchar']::regtype[]),
                ('field', 'text', ARRAY['text', 'varchar', 'bpchar']::regtype[]),
                ('time', 'timestamp without time zone', ARRAY['timestamp']::regtype[]),
                ('value', 'double precision', ARRAY['float8']::regtype[]),
                ('value_text', 'text', ARRAY['text', 'varchar', 'bpchar']::regtype[])) AS job (name, type, formats)
        """

    /// Whether `telemetry` may refuse rows the reader passed (`rows`): a CHECK, on the table
    /// or on the domain of a column; a generated column (its expression may raise); a column
    /// type other than the job's (a narrowed one); an index the operator added (`byIndex`: a
    /// long `value_text` exceeds a btree row, an expression raises); or a database encoding
    /// lacking characters (neither UTF-8 nor SQL_ASCII). (The reader's limits on keys and text
    /// rule out the refusals the job's own schema could raise; an operator's trigger is not
    /// foreseen: a dry run cannot run it.)
    private func telemetryRefusesMore() throws -> (rows: Bool, byIndex: Bool) {
        let row = try connection.query("""
            SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'telemetry'::regclass AND contype = 'c')
                OR EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                           WHERE a.attrelid = 'telemetry'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                             AND (t.typtype = 'd' OR a.attgenerated <> ''))
                OR EXISTS (SELECT 1 FROM pg_attribute a JOIN \(Self.jobColumns) ON job.name = a.attname
                           WHERE a.attrelid = 'telemetry'::regclass AND NOT a.attisdropped
                             AND format_type(a.atttypid, a.atttypmod) <> job.type)
                OR current_setting('server_encoding') NOT IN ('UTF8', 'SQL_ASCII'),
                EXISTS (SELECT 1 FROM pg_index WHERE indrelid = 'telemetry'::regclass AND NOT indisprimary)
            """).first
        let byIndex = row?.bool(1) == true
        return (row?.bool(0) == true || byIndex, byIndex)
    }

    /// The columns of `telemetry` the direct path's binary COPY cannot fill, as "name type",
    /// or nil: those whose (base) type has another binary format than the job's (`value`
    /// retyped `numeric`, say: PostgreSQL then fails the COPY with a protocol error, 08P01, not a
    /// refusal). A narrowed length (`varchar(10)`) keeps the format and is refused row by row.
    func columnsTheBinaryCopyCannotFill() throws -> String? {
        try connection.query("""
            SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN \(Self.jobColumns) ON job.name = a.attname
            WHERE a.attrelid = 'telemetry'::regclass AND NOT a.attisdropped
              AND NOT (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END) = ANY (job.formats::oid[])
            """).first?.string(0)
    }

    // MARK: Reads

    /// Every `product_imei` of `product` (its primary key: each once), in no order:
    /// `ProductIndex` sorts them faster than the server does.
    func productIMEIs() throws -> [String] {
        var imeis: [String] = []
        try connection.forEachRow("SELECT product_imei FROM product") { row in row.string(0).map { imeis.append($0) } }
        return imeis
    }

    /// Name → fingerprint of the dumps this unit has completed.
    func completedDumps() throws -> [String: String] {
        var map = [String: String]()
        for row in try connection.query("SELECT name, fingerprint FROM migrate_dump WHERE unit = $1", [.text(unit)]) {
            if let name = row.string(0), let fingerprint = row.string(1) { map[name] = fingerprint }
        }
        return map
    }

    // MARK: One dump

    /// Copies the candidates a closure produces into the stage (see `BinaryCopyWriter.appendStaged`).
    func stage(_ produce: (inout BinaryCopyWriter) throws -> Void) throws {
        _ = try connection.copyIn(
            "COPY migrate_stage (seq, product_imei, field, time, value, value_text) FROM STDIN (FORMAT binary)", produce)
    }

    /// Copies rows a closure produces straight into `telemetry` (see `WriteStrategy.direct` for
    /// when that is valid). Fails with SQLSTATE 23505 when a row's key is already there (on
    /// Citus too: `SQLState.lostByCitus`), so the direct path's fallback does not depend on the target.
    func copyIntoTelemetry(_ produce: (inout BinaryCopyWriter) throws -> Void) throws {
        _ = try connection.copyIn(
            "COPY telemetry (product_imei, field, time, value, value_text) FROM STDIN (FORMAT binary)", produce)
    }

    /// For a dry run's staged candidates to look up (sequence number from 1), all distinct: per
    /// product, how many were staged and how many of those already have their row in `telemetry`.
    func stagedPresence() throws -> [String: (staged: Int, present: Int)] {
        var map = [String: (staged: Int, present: Int)]()
        for row in try connection.query("""
            SELECT s.product_imei, count(*), count(t.product_imei)
            FROM (SELECT product_imei, field, time FROM migrate_stage WHERE seq > 0) s LEFT JOIN telemetry t
                ON t.product_imei = s.product_imei AND t.field = s.field AND t.time = s.time
            GROUP BY s.product_imei
            """) {
            if let imei = row.string(0) { map[imei] = (Int(row.int64(1) ?? 0), Int(row.int64(2) ?? 0)) }
        }
        return map
    }

    /// Copies the last staged candidate of each key into `migrate_dry_probe` or
    /// `migrate_dry_probe_present` (see `prepareRefusalProbe`): PostgreSQL refuses there what
    /// `telemetry` would. A candidate's key is written when `telemetry` or
    /// `migrate_dry_inserted` has it, or when the counted dry run numbered it -1 (its memory
    /// has it; the counted stage numbers a candidate to look up from 1, a new one 0, all
    /// distinct: `distinct` skips the deduplication). The keys found in `telemetry` are
    /// collected first, in a statement of their own: Citus, planning an insert into a temporary
    /// table beside a join with `telemetry`, loses the operator's type modifiers (a
    /// `numeric(12, 2)` took 5e10).
    func probeStaged(distinct: Bool) throws {
        try connection.execute("""
            INSERT INTO migrate_dry_written (product_imei, field, time)
            SELECT s.product_imei, s.field, s.time FROM (SELECT product_imei, field, time FROM migrate_stage WHERE seq > 0) s
            JOIN telemetry t ON t.product_imei = s.product_imei AND t.field = s.field AND t.time = s.time
            """)
        let written = """
            (s.seq < 0
             OR EXISTS (SELECT 1 FROM migrate_dry_written w WHERE w.product_imei = s.product_imei AND w.field = s.field AND w.time = s.time)
             OR EXISTS (SELECT 1 FROM migrate_dry_inserted w WHERE w.product_imei = s.product_imei AND w.field = s.field AND w.time = s.time))
            """
        let lastOfEachKey = distinct ? "migrate_stage s" : """
            (SELECT DISTINCT ON (product_imei, field, time) * FROM migrate_stage ORDER BY product_imei, field, time, seq DESC) s
            """
        try connection.execute(Self.insertTelemetryColumns(into: "migrate_dry_probe", from: "\(lastOfEachKey) WHERE NOT \(written)"))
        try connection.execute(Self.insertTelemetryColumns(into: "migrate_dry_probe_present", from: "\(lastOfEachKey) WHERE \(written)"))
    }

    /// Inserts the five columns the job writes from `source` (with the job's types, as the
    /// stage has them) into `table` (with `telemetry`'s, which the insert casts to): how the
    /// staged write and the probes of refused rows meet what `telemetry` refuses.
    static func insertTelemetryColumns(into table: String, from source: String) -> String {
        """
        INSERT INTO \(table) (product_imei, field, time, value, value_text)
        SELECT product_imei, field, time, value, value_text FROM \(source)
        """
    }

    /// Adds rows a dry run would have inserted to `migrate_dry_inserted`.
    func rememberDryRunRows(_ rows: [(imei: String, field: String, time: Int64)]) throws {
        guard !rows.isEmpty else { return }
        _ = try connection.copyIn("COPY migrate_dry_inserted (product_imei, field, time) FROM STDIN (FORMAT binary)") { writer in
            for row in rows {
                try writer.startRow(columnCount: 3)
                writer.write(row.imei)
                writer.write(row.field)
                writer.writeTimestamp(micros: row.time)
            }
        }
    }

    /// Inserts the staged candidates, last one per (product_imei, field, time) winning, and
    /// leaves existing rows alone. In a dry run, counts what would be inserted instead (and,
    /// when `probesRefusals`, first meets what `telemetry` would refuse: `probeStaged`).
    /// Returns the number of distinct staged keys and the rows inserted per product.
    func insertStaged(dryRun: Bool) throws -> (distinct: Int, insertedPerProduct: [String: Int]) {
        if dryRun && probesRefusals { try probeStaged(distinct: false) }
        let deduplicated = """
            d AS (
                SELECT DISTINCT ON (product_imei, field, time) product_imei, field, time, value, value_text
                FROM migrate_stage ORDER BY product_imei, field, time, seq DESC
            )
            """
        let inserted = dryRun
            ? """
              ins AS (
                  SELECT d.product_imei, d.field, d.time FROM d
                  LEFT JOIN telemetry t ON t.product_imei = d.product_imei AND t.field = d.field AND t.time = d.time
                  WHERE t.product_imei IS NULL
                    AND NOT EXISTS (SELECT 1 FROM migrate_dry_inserted t WHERE t.product_imei = d.product_imei AND t.field = d.field AND t.time = d.time)
              ),
              remembered AS (INSERT INTO migrate_dry_inserted SELECT * FROM ins RETURNING product_imei)
              """
            : """
              remembered AS (
                  \(Self.insertTelemetryColumns(into: "telemetry", from: "d"))
                  ON CONFLICT (product_imei, field, time) DO NOTHING
                  RETURNING product_imei
              )
              """
        let rows = try connection.query("""
            WITH \(deduplicated), \(inserted)
            SELECT NULL, count(*) FROM d
            UNION ALL
            SELECT product_imei, count(*) FROM remembered GROUP BY product_imei
            """)
        var distinct = 0
        var perProduct = [String: Int]()
        for row in rows {
            let count = Int(row.int64(1) ?? 0)
            if let imei = row.string(0) { perProduct[imei] = count } else { distinct = count }
        }
        return (distinct, perProduct)
    }

    /// W(p) := max(W(p), t) for each given product, creating the one history row of a
    /// product that has none. The database's unique key on `product_imei` keeps it one.
    /// The advances travel by binary COPY into `migrate_advance` (a dump may touch every
    /// product of the fleet) and are read through CTEs, which Citus plans first and ships to
    /// the shards (it refused the temporary table joined directly; docs/citus.md). Array
    /// parameters with `unnest` were 1.6 times slower on one PostgreSQL.
    ///
    /// Products known to have a row (`hasRow`) take a plain joined UPDATE, half the cost of
    /// an upsert of 100,000 rows; its CTE is not materialized, so one PostgreSQL inlines it
    /// into a direct hash join (the nightly's CPU 12% lower than through a materialized CTE,
    /// docs/benchmarks.md), while Citus still plans it first. The others take a plain INSERT,
    /// in key order (`ProductTally.advances`). Should a known row be missing after all, or a
    /// new one exist, the upsert runs (for every advance, or for the new ones; GREATEST makes
    /// it idempotent), so the rule never depends on what the run believed.
    func advanceWatermarks(_ advances: [WatermarkAdvance], actor: String) throws {
        guard !advances.isEmpty else { return }
        _ = try connection.copyIn("COPY migrate_advance (product_imei, time, has_row) FROM STDIN (FORMAT binary)") { writer in
            for advance in advances {
                try writer.startRow(columnCount: 3)
                writer.write(advance.imei)
                writer.writeTimestamp(micros: advance.time)
                writer.write(advance.hasRow)
            }
        }
        let known = advances.count { $0.hasRow }
        var updated = 0
        if known > 0 {
            updated = try connection.execute("""
                WITH a AS (SELECT product_imei, time FROM migrate_advance WHERE has_row)
                UPDATE product_migration_history h SET
                    latest_migration_timestamp = GREATEST(h.latest_migration_timestamp, a.time),
                    last_migrated_at = now() AT TIME ZONE 'utc', modified_at = now() AT TIME ZONE 'utc', modified_by = $1
                FROM a WHERE h.product_imei = a.product_imei
                """, [.text(actor)])
        }
        if known < advances.count || updated != known {
            if updated == known, try insertNewRows(actor: actor) { return }
            // ON CONFLICT keeps the row one even if another writer created it meanwhile.
            try connection.execute("""
                WITH a AS MATERIALIZED (
                    SELECT product_imei, time FROM migrate_advance WHERE \(updated == known ? "NOT has_row" : "true"))
                \(Self.newHistoryRows)
                ORDER BY a.product_imei
                ON CONFLICT (product_imei) DO UPDATE SET
                    latest_migration_timestamp = GREATEST(h.latest_migration_timestamp, EXCLUDED.latest_migration_timestamp),
                    last_migrated_at = EXCLUDED.last_migrated_at,
                    modified_at = EXCLUDED.modified_at,
                    modified_by = EXCLUDED.modified_by
                """, [.text(actor)])
        }
    }

    /// The history row of each advance in `a`, its audit columns by the actor (`$1`): the
    /// plain INSERT and the upsert write the same row.
    private static let newHistoryRows = """
        INSERT INTO product_migration_history AS h
            (product_imei, latest_migration_timestamp, last_migrated_at, created_at, created_by, modified_at, modified_by)
        SELECT a.product_imei, a.time, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', $1, now() AT TIME ZONE 'utc', $1
        FROM a
        """

    /// The history rows of the advances believed new, by a plain INSERT in a savepoint: true
    /// when they went in, false (nothing inserted) when one of them existed after all. An
    /// upsert's speculative insertion made 100,000 new rows 20-25% slower (docs/benchmarks.md).
    /// Rows go in in the order they were copied (key order): no sort on the server.
    private func insertNewRows(actor: String) throws -> Bool {
        try connection.executeScript("SAVEPOINT migrate_new_history")
        do {
            try connection.execute("""
                WITH a AS (SELECT product_imei, time FROM migrate_advance WHERE NOT has_row)
                \(Self.newHistoryRows)
                """, [.text(actor)])
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            try connection.executeScript("ROLLBACK TO SAVEPOINT migrate_new_history; RELEASE SAVEPOINT migrate_new_history")
            return false
        }
        try connection.executeScript("RELEASE SAVEPOINT migrate_new_history")
        return true
    }

    func recordCompletedDump(name: String, fingerprint: String, runID: Int64?, counts: DumpCounts) throws {
        try connection.execute("""
            INSERT INTO migrate_dump (unit, name, fingerprint, completed_at, run_id, points, inserted)
            VALUES ($1, $2, $3, now() AT TIME ZONE 'utc', $4::bigint, $5::bigint, $6::bigint)
            ON CONFLICT (unit, name) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, completed_at = EXCLUDED.completed_at,
                run_id = EXCLUDED.run_id, points = EXCLUDED.points, inserted = EXCLUDED.inserted
            """, [.text(unit), .text(name), .text(fingerprint), runID.map { .int($0) } ?? .null,
                  .int(Int64(counts.read)), .int(Int64(counts.inserted))])
    }

    /// Sets the points the completed-dump records of `units` claim for a dump this run
    /// recorded: under `--workers`, a unit that committed before another unit's refused lines
    /// were found recorded the dump's read count with those lines in it.
    func correctRecordedPoints(dump name: String, runID: Int64, units: [String], points: Int) throws {
        for unit in units {
            try connection.execute("""
                UPDATE migrate_dump SET points = $1::bigint WHERE unit = $2 AND name = $3 AND run_id = $4::bigint
                """, [.int(Int64(points)), .text(unit), .text(name), .int(runID)])
        }
    }

    // MARK: The run record

    /// The class of the advisory lock a run holds on its `migrate_run` row for as long as its
    /// session lives: the two-key form (this class, the row's id modulo 2^31), which never meets
    /// the one-key form of `RunLock`. Invariant: a row is `running` only while a session holds
    /// its lock, or once that session has ended without finishing it (the process died).
    static let runLockClass: Int64 = 0x544D_5255  // "TMRU"

    /// Marks the runs left `running` by a process that died as `aborted`: those whose row lock
    /// no session holds, whatever their unit (a killed `--shard 1/3` run is found by a later
    /// `--workers 3` run too). A run takes its row lock before its row commits, so a live run is
    /// never taken for a dead one.
    func abortOrphanedRuns() throws {
        try connection.execute("""
            UPDATE migrate_run r SET status = 'aborted', finished_at = now() AT TIME ZONE 'utc'
            WHERE r.status = 'running' AND NOT EXISTS (
                SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.classid = $1::bigint::oid
                  AND l.objid = (r.run_id % 2147483648)::oid
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
            """, [.int(Self.runLockClass)])
    }

    /// Records the run as `running` and takes its row lock, in one transaction.
    func startRun(mode: String, host: String, pid: Int32) throws -> Int64? {
        try connection.transaction {
            let runID = try connection.query("""
                INSERT INTO migrate_run (unit, mode, dry_run, started_at, status, host, pid)
                VALUES ($1, $2, false, now() AT TIME ZONE 'utc', 'running', $3, $4::int) RETURNING run_id
                """, [.text(unit), .text(mode), .text(host), .int(Int64(pid))]).first?.int64(0)
            if let runID { try runLock("pg_advisory_lock", runID) }
            return runID
        }
    }

    /// Calls `function` (`pg_advisory_lock` or `pg_advisory_unlock`) on run `runID`'s row lock.
    private func runLock(_ function: String, _ runID: Int64) throws {
        _ = try connection.query("SELECT \(function)($1::int, ($2::bigint % 2147483648)::int)",
                                 [.int(Self.runLockClass), .int(runID)])
    }

    func finishRun(_ runID: Int64, report: RunReport, exitCode: Int32) throws {
        try connection.execute("""
            UPDATE migrate_run SET finished_at = now() AT TIME ZONE 'utc', status = $2, exit_code = $3::int, report = $4::jsonb
            WHERE run_id = $1::bigint
            """, [.int(runID), .text(report.status.rawValue), .int(Int64(exitCode)), .text(report.recordJSON)])
        try runLock("pg_advisory_unlock", runID)
    }
}

/// A PostgreSQL array literal of text elements, each quoted.
func arrayLiteral(_ elements: [String]) -> String {
    "{" + elements.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        .joined(separator: ",") + "}"
}

extension BinaryCopyWriter {
    /// One `telemetry` row.
    mutating func appendTelemetry(imei: String, field: String, time: Int64, value: Double?, text: String?) throws {
        try startRow(columnCount: 5)
        write(imei)
        write(field)
        writeTimestamp(micros: time)
        write(value)
        write(text)
    }

    /// One stage row. `sequence` grows with the position in the dump, so that the last
    /// candidate of a (product_imei, field, time) wins. With `present`, a row of the refusal
    /// probe's stage, which has that column more (`RefusedLines`).
    mutating func appendStaged(sequence: Int64, imei: String, field: String, time: Int64, value: Double?, text: String?,
                               present: Bool? = nil) throws {
        try startRow(columnCount: present == nil ? 6 : 7)
        write(sequence)
        write(imei)
        write(field)
        writeTimestamp(micros: time)
        write(value)
        write(text)
        if let present { write(present) }
    }
}
