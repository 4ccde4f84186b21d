import Foundation
import Testing
import TestSupport

@Suite(.enabled(if: Requirement.database.testsRun))
struct BackfillAndDryRunTests {
    @Test func backfillRecoversStalePointsOfOneIMEIOnly() throws {
        let set = RandomDumpSet(seed: 21, dumpCount: 6)
        let db = try TestDatabase.create(label: "backfill")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let dir = try Package.temporaryDirectory("dumps")
        try set.write(0..<6, to: dir)
        var model = ReferenceModel(products: Set(set.products))
        model.nightly(set.dumps)
        let (nightly, report) = try tool.nightly(dir)
        #expect(nightly.status == 0)
        #expect(try #require(report.totals.int("stale")) > 0)
        let target = set.products[0]
        let othersBefore = try db.psql("SELECT md5(string_agg(row(t.*)::text, ',' ORDER BY product_imei, field, time)) FROM telemetry t WHERE product_imei <> '\(target)'")

        model.backfill(set.dumps, imeis: [target])
        let (backfill, backfillReport) = try tool.backfill(dir, imeis: [target], ["--log-format", "json"])
        #expect(backfill.status == 0, "\(backfill.stderr)")
        let started = backfill.stderr.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.first { $0["message"] as? String == "run started" }
        #expect((started?["metadata"] as? [String: String])?["run.units"] == "all",
                "a backfill writes through one connection unless --workers says otherwise")
        #expect(try #require(backfillReport.totals.int("inserted")) > 0, "the stale points of the IMEI come back")
        try expectState(db, equals: model.state)
        let othersAfter = try db.psql("SELECT md5(string_agg(row(t.*)::text, ',' ORDER BY product_imei, field, time)) FROM telemetry t WHERE product_imei <> '\(target)'")
        #expect(othersBefore == othersAfter)

        let (again, againReport) = try tool.backfill(dir, imeis: [target])
        #expect(again.status == 0)
        #expect(againReport.totals.int("inserted") == 0)
        try expectState(db, equals: model.state)
    }

    @Test func backfillWindowIsSinceExclusiveUntilInclusive() throws {
        let db = try TestDatabase.create(label: "window")
        defer { db.drop() }
        let tool = Tool(db: db)
        let imei = "123456789012345"
        try tool.prepare(products: [imei])
        let dir = try Package.temporaryDirectory("dumps")
        let t: Int64 = 1_727_740_800_000_000_000  // 2024-10-01 00:00:00
        try DumpWriter.write((0..<4).map { .point(imei: imei, field: "v", value: .number(Double($0)), timeNanos: t + Int64($0) * 3_600_000_000_000) },
                             to: dir.appendingPathComponent("a.lp.gz"))
        let (result, report) = try tool.backfill(dir, imeis: [imei], ["--since", "2024-10-01 00:00:00", "--until", "2024-10-01T02:00:00Z"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(report.totals.int("inserted") == 2)
        #expect(DatabaseState.lines(try db.psql("SELECT value FROM telemetry ORDER BY time")) == ["1", "2"])
        #expect(try db.psql("SELECT latest_migration_timestamp FROM product_migration_history").trimmingCharacters(in: .whitespacesAndNewlines) == "2024-10-01 02:00:00")
    }

    /// A dry run writes nothing at all, and reports what the real run then does.
    @Test func dryRunChangesNothingAndPredictsTheRealRun() throws {
        let set = RandomDumpSet(seed: 31, dumpCount: 5)
        let db = try TestDatabase.create(label: "dryrun")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let dir = try Package.temporaryDirectory("dumps")
        try set.write(0..<2, to: dir)
        #expect(try tool.nightly(dir).0.status == 0)  // some history first
        try set.write(2..<5, to: dir)

        let before = try DatabaseState.checksum(db)
        let (dry, dryReport) = try tool.nightly(dir, ["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dryReport["dry_run"] as? Bool == true)
        #expect(try DatabaseState.checksum(db) == before, "a dry run leaves every table unchanged")

        let (real, realReport) = try tool.nightly(dir)
        #expect(real.status == 0)
        #expect(comparableReport(dryReport) == comparableReport(realReport))
        #expect(try #require(realReport.totals.int("inserted")) > 0)

        // Backfill dry run likewise.
        let target = set.products[1]
        let before2 = try DatabaseState.checksum(db)
        let (dryBackfill, dryBackfillReport) = try tool.backfill(dir, imeis: [target], ["--dry-run"])
        #expect(dryBackfill.status == 0)
        #expect(try DatabaseState.checksum(db) == before2)
        let (_, backfillReport) = try tool.backfill(dir, imeis: [target])
        #expect(comparableReport(dryBackfillReport) == comparableReport(backfillReport))
    }
}
