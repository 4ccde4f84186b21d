import PostgresClient
import TestSupport
import Testing

@Suite("PostgresConnection against a real server", .enabled(if: Requirement.database.testsRun))
struct ConnectionTests {
    @Test func parametersRoundTripWithTheirTypes() throws {
        try withDatabase { _, db in
            let rows = try db.query(
                "SELECT $1::text AS t, $2::bigint AS i, $3::float8 AS d, $4::bool AS b, $5::timestamp AS ts, $6::text AS n",
                [.text("héllo ✓"), .int(-9_223_372_036_854_775_807), .double(0.1), .bool(true),
                 .timestamp(micros: -1_234_567), .null])
            #expect(rows.count == 1)
            #expect(rows.columns == ["t", "i", "d", "b", "ts", "n"])
            let row = rows[0]
            #expect(row.string(0) == "héllo ✓")
            #expect(row["t"] == "héllo ✓")
            #expect(row.int64(1) == -9_223_372_036_854_775_807)
            #expect(row.double(2) == 0.1)
            #expect(row.bool(3) == true)
            #expect(row.timestampMicros(4) == -1_234_567)
            #expect(row.string(4) == "1969-12-31 23:59:58.765433")
            #expect(row.string(5) == nil)
            #expect(row["missing"] == nil)
        }
    }

    @Test func specialDoublesRoundTripAsParametersAndResults() throws {
        try withDatabase { _, db in
            let row = try db.query("SELECT $1::float8, $2::float8, $3::float8, $4::float8",
                                   [.double(.nan), .double(.infinity), .double(-.infinity), .double(-0.0)])[0]
            #expect(row.double(0)?.isNaN == true)
            #expect(row.double(1) == .infinity)
            #expect(row.double(2) == -.infinity)
            #expect(row.double(3) == 0 && row.double(3)?.sign == .minus)
        }
    }

    @Test func infiniteTimestampsReadAsNil() throws {
        try withDatabase { _, db in
            let row = try db.query("SELECT 'infinity'::timestamp, '-infinity'::timestamp, '2000-01-01'::timestamp")[0]
            #expect(row.string(0) == "infinity")
            #expect(row.timestampMicros(0) == nil)
            #expect(row.timestampMicros(1) == nil)
            #expect(row.timestampMicros(2) == 946_684_800_000_000)
        }
    }

    /// `forEachRow` reads rows where libpq holds them; each value reads as `query`'s copy does.
    @Test func rowsReadInPlaceEqualTheirCopies() throws {
        try withDatabase { _, db in
            let sql = """
                SELECT v::text, t FROM (VALUES ('héllo ✓', '1969-12-31 23:59:58.765433'::timestamp), (NULL, 'infinity'),
                    ('', '-infinity'), ('001409288034695', '2024-10-01 00:00:00'), ('x', NULL)) AS r (v, t)
                """
            let copies = try db.query(sql)
            var strings: [String?] = [], times: [Int64?] = []
            try db.forEachRow(sql) { row in
                strings.append(row.string(0))
                times.append(row.timestampMicros(1))
            }
            #expect(strings == copies.map { $0.string(0) })
            #expect(times == copies.map { $0.timestampMicros(1) })
            #expect(strings == ["héllo ✓", nil, "", "001409288034695", "x"])
            #expect(times == [-1_234_567, nil, nil, 1_727_740_800_000_000, nil])
        }
    }

    @Test func valuesAreNeverSplicedIntoSQL() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE telemetry (x int); CREATE TABLE note (body text)")
            let hostile = "'); drop table telemetry; --"
            let inserted = try db.execute("INSERT INTO note (body) VALUES ($1)", [.text(hostile)])
            #expect(inserted == 1)
            #expect(try db.query("SELECT body FROM note")[0].string(0) == hostile)
            #expect(try db.query("SELECT to_regclass('telemetry') IS NOT NULL")[0].bool(0) == true)
        }
    }

    @Test func aNulByteInAParameterIsRefusedNotTruncated() throws {
        try withDatabase { _, db in
            let error = postgresError { _ = try db.query("SELECT $1::text", [.text("a\u{0}b")]) }
            #expect(error?.sqlState == "22021")
        }
    }

    @Test func sqlErrorsCarryTheirSQLStateAndLeaveTheConnectionUsable() throws {
        try withDatabase { _, db in
            let missing = postgresError { _ = try db.query("SELECT * FROM no_such_table") }
            #expect(missing?.kind == .query)
            #expect(missing?.sqlState == SQLState.undefinedTable)
            #expect(missing?.description.contains("42P01") == true)
            #expect(missing?.message.contains("no_such_table") == true)

            try db.executeScript("CREATE TABLE k (id int PRIMARY KEY)")
            try db.execute("INSERT INTO k VALUES ($1)", [1])
            let duplicate = postgresError { try db.execute("INSERT INTO k VALUES ($1)", [1]) }
            #expect(duplicate?.sqlState == "23505")
            #expect(duplicate?.detail?.contains("(id)=(1)") == true)
            #expect(db.isHealthy)
            #expect(try db.query("SELECT count(*) FROM k")[0].int64(0) == 1)
        }
    }

    @Test func executeReturnsAffectedRows() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE k (id int); INSERT INTO k SELECT generate_series(1, 7)")
            #expect(try db.execute("UPDATE k SET id = id + 1 WHERE id > $1", [3]) == 4)
            #expect(try db.execute("CREATE TABLE other (x int)") == 0)
        }
    }

    @Test func transactionCommitsOnReturnAndRollsBackOnThrow() throws {
        struct Abort: Error {}
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE k (id int)")
            let value = try db.transaction {
                try db.execute("INSERT INTO k VALUES (1)")
                return 42
            }
            #expect(value == 42)
            #expect(throws: Abort.self) {
                try db.transaction {
                    try db.execute("INSERT INTO k VALUES (2)")
                    throw Abort()
                }
            }
            #expect(!db.inTransaction)
            #expect(try db.query("SELECT array_agg(id) FROM k")[0].string(0) == "{1}")
        }
    }

    @Test func nestedTransactionsAreRefused() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE k (id int)")
            let error = postgresError {
                try db.transaction {
                    try db.execute("INSERT INTO k VALUES (1)")
                    _ = try db.transaction { try db.execute("INSERT INTO k VALUES (2)") }
                }
            }
            #expect(error?.sqlState == "25001")
            #expect(!db.inTransaction)
            #expect(try db.query("SELECT count(*) FROM k")[0].int64(0) == 0)  // the outer one rolled back too
        }
    }

    @Test func aReadOnlyTransactionRefusesWrites() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE k (id int)")
            let error = postgresError {
                _ = try db.transaction(readOnly: true) { try db.execute("INSERT INTO k VALUES (1)") }
            }
            #expect(error?.sqlState == SQLState.readOnlyTransaction)
            #expect(try db.query("SELECT count(*) FROM k")[0].int64(0) == 0)
        }
    }

    @Test func aCommitTurnedIntoRollbackIsAnError() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE k (id int)")
            let error = postgresError {
                try db.transaction {
                    try db.execute("INSERT INTO k VALUES (1)")
                    _ = try? db.query("SELECT * FROM no_such_table")  // swallowed: the transaction is now aborted
                }
            }
            #expect(error?.sqlState == "25P02")
            #expect(try db.query("SELECT count(*) FROM k")[0].int64(0) == 0)
        }
    }

    @Test func advisoryLocksExcludeOtherSessions() throws {
        try withDatabase { database, first in
            let second = try PostgresConnection(url: database.url)
            #expect(try first.tryAdvisoryLock(77))
            #expect(try second.tryAdvisoryLock(77) == false)
            try first.advisoryUnlock(77)
            #expect(try second.tryAdvisoryLock(77))
        }
    }

    @Test func noticesGoToTheHandlerNotStderr() throws {
        try withDatabase { _, db in
            var notices: [String] = []
            db.onNotice = { notices.append($0) }
            try db.executeScript("CREATE TABLE IF NOT EXISTS k (id int); CREATE TABLE IF NOT EXISTS k (id int)")
            #expect(notices.count == 1)
            #expect(notices.first?.contains("already exists, skipping") == true)
        }
    }

    @Test func aTerminatedBackendSurfacesAsConnectionLost() throws {
        try withDatabase { database, victim in
            let pid = victim.backendPID
            #expect(pid > 0)
            let killer = try PostgresConnection(url: database.url)
            #expect(try killer.query("SELECT pg_terminate_backend($1::int)", [.int(Int64(pid))])[0].bool(0) == true)
            // Wait (server side, bounded) until the backend is gone, so the next call sees it.
            _ = try killer.query("""
                SELECT count(*) FROM generate_series(1, 500) g
                WHERE pg_sleep(CASE WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1) THEN 0.01 ELSE 0 END) IS NULL
                """, [.int(Int64(pid))])

            let error = postgresError { _ = try victim.query("SELECT 1") }
            #expect(error?.kind == .connectionLost)
            #expect(error?.description.isEmpty == false)
            #expect(!victim.isHealthy)
            let again = postgresError { _ = try victim.query("SELECT 1") }
            #expect(again?.kind == .connectionLost)
        }
    }

    @Test func aClosedConnectionThrowsInsteadOfCrashing() throws {
        try withDatabase { _, db in
            db.close()
            db.close()
            #expect(postgresError { try db.executeScript("SELECT 1") }?.kind == .connectionLost)
            #expect(db.backendPID == 0)
            #expect(!db.isHealthy)
        }
    }
}

/// `queryPrepared`: same answers as `query`, one server-side statement per text, and
/// beyond the cap it still answers.
@Suite("Prepared statements", .enabled(if: Requirement.database.testsRun))
struct PreparedStatementTests {
    @Test func preparedStatementsAnswerAsQueryAndArePreparedOnce() throws {
        try withDatabase { _, db in
            let sql = "SELECT $1::bigint * 2 AS doubled, $2::text AS label"
            for i in 0..<7 {
                let row = try db.queryPrepared(sql, [.int(Int64(i)), i == 3 ? .null : .text("n\(i)")])[0]
                let plain = try db.query(sql, [.int(Int64(i)), i == 3 ? .null : .text("n\(i)")])[0]
                #expect(row.int64(0) == Int64(2 * i) && row["label"] == plain["label"])
            }
            let prepared = try db.query("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", [.text(sql)])
            #expect(prepared.first?.int64(0) == 1)

            let nul = postgresError { _ = try db.queryPrepared(sql, [.int(1), .text("a\u{0}b")]) }
            #expect(nul?.sqlState == .characterNotInRepertoire)
            let failing = postgresError { _ = try db.queryPrepared("SELECT 1 / $1::int", [.int(0)]) }
            #expect(failing?.sqlState?.isDataException == true)
            #expect(try db.queryPrepared("SELECT 1 / $1::int", [.int(1)])[0].int64(0) == 1, "a statement that failed once runs again")
            #expect(postgresError { _ = try db.queryPrepared("SELEC 1") } != nil, "a statement that does not parse throws")
        }
    }

    @Test func beyondTheCapStatementsRunUnprepared() throws {
        try withDatabase { _, db in
            for i in 0..<(PostgresConnection.maxPreparedStatements + 5) {
                #expect(try db.queryPrepared("SELECT \(i) + $1::int", [.int(1)])[0].int64(0) == Int64(i + 1))
            }
            let prepared = try db.query("SELECT count(*) FROM pg_prepared_statements")
            #expect(prepared.first?.int64(0) == Int64(PostgresConnection.maxPreparedStatements))
        }
    }
}
