import Foundation
import Logging
import Migration
import PostgresClient
import TelemetrySchema
import Testing
import TestSupport

/// Defence in depth (issue 12): rows the reader accepts but PostgreSQL refuses for their data
/// are isolated into the reject file as malformed, and the dump completes.
@Suite(.enabled(if: Requirement.database.testsRun))
struct RefusedRowTests {
    static let imei = "500000000000001"

    final class Collected: RejectSink {
        var rows: [(line: Int, reason: String)] = []
        func reject(file: String, line: Int, column: Int?, reason: String, raw: String) throws {
            rows.append((line, reason))
        }
    }

    @Test(arguments: [false, true])
    func aCheckConstraintAndALongFieldKeyRejectTheirLinesOnly(stagedOnly: Bool) throws {
        let db = try TestDatabase.create(label: "refused")
        defer { db.drop() }
        let connection = try PostgresConnection(url: db.url)
        try Schema.apply(on: connection)
        try connection.execute("INSERT INTO product (product_imei) VALUES ($1)", [.text(Self.imei)])
        try connection.executeScript("ALTER TABLE telemetry ADD CONSTRAINT value_below_1e9 CHECK (value < 1e9)")
        let base: Int64 = 1_727_740_800_000_000_000
        var lines: [DumpLine] = (1...200).map { i in
            .point(imei: Self.imei, field: "voltage", value: .number(Double(i)), timeNanos: base + Int64(i) * 1_000_000_000)
        }
        let bad = [17, 90, 151]  // indexes into `lines`: 7 framing lines come first
        for i in bad { lines[i] = .point(imei: Self.imei, field: "voltage", value: .number(5e9), timeNanos: base + Int64(i + 1) * 1_000_000_000) }
        var rng = SeededRandom(seed: 12)  // random letters: PostgreSQL would compress a repeated one below the index limit
        let longKey = String((0..<3000).map { _ in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".randomElement(using: &rng)! })
        lines.append(.point(imei: Self.imei, field: longKey, value: .number(1), timeNanos: base + 500 * 1_000_000_000))
        let dir = try Package.temporaryDirectory("refused")
        let dump = dir.appendingPathComponent("20241001_a.lp.gz")
        try DumpWriter.write(lines, to: dump)

        let sink = Collected()
        let configuration = RunConfiguration(mode: .nightly, dumps: [dump.path], stagedOnly: stagedOnly)
        let report = try Migrator(configuration: configuration, connection: connection, logger: Logger(label: "test"),
                                  rejects: sink).run()
        expectIdentity(report)
        #expect(report.status == .ok, "\(report.message ?? "")")
        let counts = report.dumps[0].counts
        // The 3,000-byte key is refused by the table's index (54000), or by the reader once it checks key lengths.
        #expect(counts.malformed == 4)
        #expect(counts.inserted == 197 && counts.read == 197)
        #expect(sink.rows.map(\.line).sorted() == (bad.map { $0 + 8 } + [208]).sorted(), "\(sink.rows)")
        #expect(sink.rows.filter { $0.reason.contains("23514") }.count == 3)
        let rows = try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(rows == "197")
    }
}
