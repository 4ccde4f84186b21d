import Foundation
import Logging
import Migration
import PostgresClient
import TelemetrySchema
import Testing
import TestSupport

/// A report never claims what was not committed (issue 11, item 4): a dump that fails after
/// its COPY shows what was read, `inserted` and `present` 0, and the totals leave it out.
@Suite(.enabled(if: Requirement.database.testsRun))
struct UncommittedReportTests {
    static let imei = "400000000000001"

    /// Two dumps: a good one, then one of many points on which `spoil` is applied.
    private func run(label: String, spoil: (URL, PostgresConnection) throws -> Void) throws -> (RunReport, Int) {
        let db = try TestDatabase.create(label: label)
        defer { db.drop() }
        let connection = try PostgresConnection(url: db.url)
        try Schema.apply(on: connection)
        try connection.execute("INSERT INTO product (product_imei) VALUES ($1)", [.text(Self.imei)])
        let dir = try Package.temporaryDirectory("uncommitted")
        let base: Int64 = 1_727_740_800_000_000_000
        try DumpWriter.write([.point(imei: Self.imei, field: "voltage", value: .number(1), timeNanos: base)],
                             to: dir.appendingPathComponent("20241001_a.lp.gz"))
        let second = dir.appendingPathComponent("20241002_b.lp.gz")
        try DumpWriter.write((1...20_000).map { i in
            .point(imei: Self.imei, field: "voltage", value: .number(Double(i)), timeNanos: base + Int64(i) * 1_000_000_000)
        }, to: second)
        try spoil(second, connection)
        let configuration = RunConfiguration(mode: .nightly, dumps: [dir.appendingPathComponent("20241001_a.lp.gz").path, second.path])
        let report = try Migrator(configuration: configuration, connection: connection, logger: Logger(label: "test")).run()
        let rows = Int(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        return (report, rows)
    }

    private func expectUncommitted(_ report: RunReport, rows: Int) {
        expectIdentity(report)
        #expect(report.status == .failed)
        #expect(report.dumps.map(\.status) == [.completed, .failed])
        let failed = report.dumps[1].counts
        #expect(failed.read > 1000, "what was read before the failure")
        #expect(failed.inserted == 0 && failed.present == 0 && failed.duplicates == 0)
        #expect(report.totals.inserted == 1 && report.totals.read == 1, "the totals count the committed dump only")
        #expect(rows == 1)
    }

    @Test func aGzipCorruptNearItsEnd() throws {
        let (report, rows) = try run(label: "corruptend") { url, _ in
            var data = try Data(contentsOf: url)
            // Flip bytes a little before the trailer: the inflater fails late, after most points.
            for i in (data.count - 40)..<(data.count - 20) { data[i] ^= 0x5A }
            try data.write(to: url)
        }
        expectUncommitted(report, rows: rows)
    }

    @Test func aDatabaseErrorAtCommit() throws {
        let (report, rows) = try run(label: "commitfail") { _, connection in
            // The second dump's completed-dump record fails, after its rows went in.
            try connection.executeScript("""
                CREATE FUNCTION refuse_b() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.name = '20241002_b.lp.gz' THEN RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER refuse_b BEFORE INSERT ON migrate_dump FOR EACH ROW EXECUTE FUNCTION refuse_b();
                """)
        }
        expectUncommitted(report, rows: rows)
        #expect(report.dumps[1].error?.contains("refused for the test") == true)
    }
}
