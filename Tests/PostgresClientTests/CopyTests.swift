import PostgresClient
import TestSupport
import Testing

@Suite("Binary COPY against a real server", .enabled(if: Requirement.database.testsRun))
struct CopyTests {
    struct Sample: Equatable {
        var text: String?
        var int: Int64?
        var small: Int32?
        var double: Double?
        var flag: Bool?
        var micros: Int64?
    }

    static let createTable = """
        CREATE TABLE sample (n int8 PRIMARY KEY, t text, i int8, s int4, d float8, b bool, ts timestamp)
        """

    /// Every value type with its edge cases, one row each, plus an all-NULL row.
    static let samples: [Sample] = [
        Sample(text: "", int: 0, small: 0, double: 0, flag: false, micros: 0),
        Sample(text: "plain", int: .max, small: .max, double: .nan, flag: true, micros: -1),  // 1969-12-31 23:59:59.999999
        Sample(text: "ünïcødé ✓ 日本 🚀", int: .min, small: .min, double: .infinity, flag: true,
               micros: 946_684_799_999_999),  // 1999-12-31 23:59:59.999999, just before PostgreSQL's epoch
        Sample(text: "quote ' \" \\ tab\tnewline\n", int: -1, small: -1, double: -.infinity, flag: false,
               micros: 2_147_483_648_000_001),  // after 2038-01-19 03:14:08
        Sample(text: "x", int: 1, small: 1, double: -0.0, flag: nil, micros: -2_208_988_800_000_000),  // 1900-01-01
        Sample(text: nil, int: 42, small: nil, double: 1.5e-300, flag: true, micros: 253_402_300_799_999_999),  // 9999-12-31 23:59:59.999999
        Sample(text: nil, int: nil, small: nil, double: nil, flag: nil, micros: nil),
    ]

    @Test func everyValueTypeRoundTrips() throws {
        try withDatabase { _, db in
            try db.executeScript(Self.createTable)
            let copied = try db.copyIn("COPY sample (n, t, i, s, d, b, ts) FROM STDIN (FORMAT binary)") { writer in
                for (n, sample) in Self.samples.enumerated() {
                    try writer.startRow(columnCount: 7)
                    writer.write(Int64(n))
                    writer.write(sample.text)
                    writer.write(sample.int)
                    writer.write(int32: sample.small)
                    writer.write(sample.double)
                    writer.write(sample.flag)
                    writer.writeTimestamp(micros: sample.micros)
                }
            }
            #expect(copied == Self.samples.count)
            let rows = try db.query("SELECT t, i, s, d, b, ts FROM sample ORDER BY n")
            #expect(rows.count == Self.samples.count)
            for (row, expected) in zip(rows, Self.samples) {
                let small = row.int64(2).map { Int32($0) }
                let actual = Sample(text: row.string(0), int: row.int64(1), small: small, double: row.double(3),
                                    flag: row.bool(4), micros: row.timestampMicros(5))
                if let d = expected.double, d.isNaN {
                    #expect(actual.double?.isNaN == true)
                    var a = actual, e = expected
                    a.double = nil
                    e.double = nil
                    #expect(a == e)
                } else {
                    #expect(actual == expected)
                    #expect(actual.double?.sign == expected.double?.sign)
                }
            }
            // The server agrees on the calendar: these are the timestamps' SQL spellings.
            let spelled = try db.query("SELECT ts::text FROM sample ORDER BY n").map { $0.string(0) }
            #expect(spelled == ["1970-01-01 00:00:00", "1969-12-31 23:59:59.999999", "1999-12-31 23:59:59.999999",
                                "2038-01-19 03:14:08.000001", "1900-01-01 00:00:00", "9999-12-31 23:59:59.999999", nil])
        }
    }

    @Test func manyRowsAreFlushedInChunks() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE big (n int8, t text)")
            let padding = String(repeating: "p", count: 100)
            let rowCount = 30_000  // ~4 MB: many flushes of the 256 KiB buffer
            let copied = try db.copyIn("COPY big FROM STDIN (FORMAT binary)") { writer in
                for n in 0..<rowCount {
                    try writer.startRow(columnCount: 2)
                    writer.write(Int64(n))
                    writer.write(padding)
                }
                #expect(writer.rowCount == rowCount)
            }
            #expect(copied == rowCount)
            let row = try db.query("SELECT count(*), sum(n), min(length(t)) FROM big")[0]
            #expect(row.int64(0) == Int64(rowCount))
            #expect(row.int64(1) == Int64(rowCount * (rowCount - 1) / 2))
            #expect(row.int64(2) == 100)
        }
    }

    @Test func aThrowingBodyAbortsTheCopyAndKeepsTheConnection() throws {
        struct Stop: Error {}
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE big (n int8)")
            #expect(throws: Stop.self) {
                _ = try db.copyIn("COPY big FROM STDIN (FORMAT binary)") { writer in
                    for n in 0..<100_000 {  // more than one flush has reached the server
                        try writer.startRow(columnCount: 1)
                        writer.write(Int64(n))
                    }
                    throw Stop()
                }
            }
            #expect(db.isHealthy)
            #expect(try db.query("SELECT count(*) FROM big")[0].int64(0) == 0)
        }
    }

    @Test func aServerErrorDuringCopySurfacesWithItsSQLState() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE k (id int8 PRIMARY KEY)")
            let duplicate = postgresError {
                _ = try db.copyIn("COPY k FROM STDIN (FORMAT binary)") { writer in
                    for id: Int64 in [1, 2, 1] {
                        try writer.startRow(columnCount: 1)
                        writer.write(id)
                    }
                }
            }
            #expect(duplicate?.kind == .copy)
            #expect(duplicate?.sqlState == SQLState.uniqueViolation)

            let wrongType = postgresError {  // int4 into an int8 column: binary COPY checks sizes
                _ = try db.copyIn("COPY k FROM STDIN (FORMAT binary)") { writer in
                    try writer.startRow(columnCount: 1)
                    writer.write(int32: 5)
                }
            }
            #expect(wrongType?.kind == .copy)
            #expect(wrongType?.sqlState != nil)  // 08P01 "insufficient data left in message" on PostgreSQL 15

            let notCopy = postgresError { _ = try db.copyIn("SELECT 1") { _ in } }
            #expect(notCopy?.kind == .copy)

            #expect(db.isHealthy)
            #expect(try db.query("SELECT count(*) FROM k")[0].int64(0) == 0)
        }
    }

    /// A row's error raised on a shard (distributed table on Citus; a plain table otherwise)
    /// comes back with PostgreSQL's own code, which Citus 13.2 replaces by XX000.
    @Test func aRowRefusedOnAShardKeepsItsSQLState() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE c (id int8 PRIMARY KEY, v float8 CHECK (v < 10))")
            if TestDatabase.target == CitusCluster.targetName {
                try db.executeScript("SELECT create_distributed_table('c', 'id')")
            }
            func copy(_ rows: [(Int64, Double)]) -> PostgresError? {
                postgresError {
                    _ = try db.copyIn("COPY c FROM STDIN (FORMAT binary)") { writer in
                        for (id, v) in rows {
                            try writer.startRow(columnCount: 2)
                            writer.write(id)
                            writer.write(v)
                        }
                    }
                }
            }
            #expect(copy([(1, 1), (2, 2), (1, 3)])?.sqlState == SQLState.uniqueViolation)
            let check = copy([(1, 1), (2, 20)])
            #expect(check?.sqlState == SQLState.checkViolation && check?.refusesData == true, "\(String(describing: check))")
            #expect(try db.query("SELECT count(*) FROM c")[0].int64(0) == 0)
        }
    }

    /// A backend terminated during a COPY: the error says the connection was lost, and the
    /// body stops at the first send that failed (it does not go on writing into a dead socket).
    @Test func aBackendTerminatedDuringCopySurfacesAsAnError() throws {
        try withDatabase { database, db in
            try db.executeScript("CREATE TABLE big (n int8, t text)")
            let killer = try PostgresConnection(url: database.url)
            let pid = db.backendPID
            var rows = 0
            let error = postgresError {
                _ = try db.copyIn("COPY big FROM STDIN (FORMAT binary)") { writer in
                    for n in 0..<200_000 {
                        rows = n
                        if n == 1_000 {
                            _ = try killer.query("SELECT pg_terminate_backend($1::int)", [.int(Int64(pid))])
                            _ = try killer.query("""
                                SELECT count(*) FROM generate_series(1, 500) g
                                WHERE pg_sleep(CASE WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1) THEN 0.01 ELSE 0 END) IS NULL
                                """, [.int(Int64(pid))])
                        }
                        try writer.startRow(columnCount: 2)
                        writer.write(Int64(n))
                        writer.write("some padding to fill the buffer")
                    }
                }
            }
            #expect(error?.kind == .connectionLost)
            #expect(rows < 200_000 - 1, "the body stopped at the first failed send, at row \(rows)")
            #expect(!db.isHealthy)
            #expect(try killer.query("SELECT count(*) FROM big")[0].int64(0) == 0)
        }
    }

    @Test func copyInsideATransactionRollsBackWithIt() throws {
        struct Abort: Error {}
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE k (id int8)")
            #expect(throws: Abort.self) {
                try db.transaction {
                    let copied = try db.copyIn("COPY k FROM STDIN (FORMAT binary)") { writer in
                        try writer.startRow(columnCount: 1)
                        writer.write(Int64(1))
                    }
                    #expect(copied == 1)
                    throw Abort()
                }
            }
            #expect(try db.query("SELECT count(*) FROM k")[0].int64(0) == 0)
        }
    }
}
