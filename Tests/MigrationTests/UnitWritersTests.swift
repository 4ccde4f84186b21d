import Foundation
@testable import Migration
import PostgresClient
import Testing
import TestSupport

/// N connections written at once, each unit in its own transaction, against the real server.
@Suite(.enabled(if: Requirement.database.testsRun))
struct UnitWritersTests {
    @Test func unitsCommitTheirOwnRowsAndAFailedUnitLeavesNothingNorBlocksTheReader() throws {
        let db = try TestDatabase.create(label: "unitwriters")
        defer { db.drop() }
        try db.psql("CREATE TABLE t (k bigint PRIMARY KEY, unit int NOT NULL, v text)")
        let connections = try (0..<3).map { _ in try PostgresConnection(url: db.url) }
        let writers = UnitWriters<UnitMessage<String>, String>(connections: connections, queueCapacity: 2)
        let perUnit = 60_000  // several chunks per unit: the queues fill and block the reader
        for unit in 0..<3 {
            writers.start(unit) { connection, queue in
                try connection.transaction {
                    let marker: String = try queue.copyRows(into: connection, "COPY t (k, unit, v) FROM STDIN (FORMAT binary)")
                    try connection.execute("INSERT INTO t VALUES ($1::bigint, $2::int, 'finish')", [.int(-1 - Int64(unit)), .int(Int64(unit))])
                    return marker
                }
            }
        }
        // The one reading thread: rows routed by k % 3; unit 1 repeats a key at its end.
        var encoders = (0..<3).map { unit in
            BinaryCopyWriter(encodingRowsInto: { writers.queue(unit).push(.rows($0)) })
        }
        for k in 0..<(3 * perUnit) {
            let unit = k % 3
            try encoders[unit].startRow(columnCount: 3)
            encoders[unit].write(Int64(k))
            encoders[unit].write(int32: Int32(unit))
            encoders[unit].write("row \(k) of a unit, long enough to fill buffers")
        }
        try encoders[1].startRow(columnCount: 3)
        encoders[1].write(Int64(1))
        encoders[1].write(int32: 1)
        encoders[1].write("a repeated key")
        for unit in 0..<3 {
            encoders[unit].flushRows()
            writers.queue(unit).push(.finish("unit \(unit)"))
        }
        let outcomes = (0..<3).map { writers.wait($0) }
        #expect((try? outcomes[0].get()) == "unit 0" && (try? outcomes[2].get()) == "unit 2")
        guard case .failure(let error) = outcomes[1] else { Issue.record("unit 1 should fail"); return }
        #expect((error as? PostgresError)?.sqlState == "23505", "\(error)")
        let counts = try db.psql("SELECT unit, count(*) FROM t GROUP BY unit ORDER BY unit")
        #expect(counts == "0|\(perUnit + 1)\n2|\(perUnit + 1)\n")

        // The same threads and connections serve the next round; the failed unit starts clean.
        writers.start(1) { connection, queue in
            try connection.transaction {
                let marker: String = try queue.copyRows(into: connection, "COPY t (k, unit, v) FROM STDIN (FORMAT binary)")
                return marker
            }
        }
        var again = BinaryCopyWriter(encodingRowsInto: { writers.queue(1).push(.rows($0)) })
        try again.startRow(columnCount: 3)
        again.write(Int64(1))
        again.write(int32: 1)
        again.write("k 1")
        again.flushRows()
        writers.queue(1).push(.finish("again"))
        #expect((try? writers.wait(1).get()) == "again")
        #expect(try db.psql("SELECT count(*) FROM t WHERE unit = 1") == "1\n")
        writers.stop()
    }
}
