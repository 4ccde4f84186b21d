import Foundation
import Testing
import TestSupport

/// The database must equal the reference model after nightly runs over random dump sets.
@Suite(.enabled(if: Requirement.database.testsRun))
struct NightlyTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func nightlyEqualsTheModelAndASecondRunChangesNothing(seed: UInt64) throws {
        let set = RandomDumpSet(seed: seed)
        let db = try TestDatabase.create(label: "nightly")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let dir = try Package.temporaryDirectory("dumps")
        try set.write(0..<set.dumps.count, to: dir)

        var model = ReferenceModel(products: Set(set.products))
        model.nightly(set.dumps)

        let (first, report) = try tool.nightly(dir)
        #expect(first.status == 0, "\(first.stderr)")
        try expectState(db, equals: model.state)
        #expect(report.totals.int("inserted") == model.telemetry.count)
        #expect(report.dumps.allSatisfy { $0["status"] as? String == "completed" })
        #expect(try #require(report.totals.int("malformed")) > 0 && #require(report.totals.int("unknown_product")) > 0)
        #expect(try #require(report.totals.int("stale")) > 0 && #require(report.totals.int("other_measurement")) > 0)

        let (second, again) = try tool.nightly(dir)
        #expect(second.status == 0)
        #expect(again.dumps.allSatisfy { $0["status"] as? String == "skipped" })
        #expect(again.totals.int("read") == 0 && again.totals.int("inserted") == 0)
        try expectState(db, equals: model.state)
        // Only the run record is new.
        #expect(try db.psql("SELECT count(*) FROM migrate_run").trimmingCharacters(in: .whitespacesAndNewlines) == "2")
    }

    @Test func dumpsArrivingInBatchesEndInTheSameState() throws {
        let set = RandomDumpSet(seed: 42, dumpCount: 7)
        let db = try TestDatabase.create(label: "batches")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let dir = try Package.temporaryDirectory("dumps")
        var model = ReferenceModel(products: Set(set.products))
        for batch in [0..<2, 2..<3, 3..<7] {
            try set.write(batch, to: dir)
            let (result, report) = try tool.nightly(dir)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(report.dumps.filter { $0["status"] as? String == "completed" }.count == batch.count)
            model.nightly(Array(set.dumps[batch]))
            try expectState(db, equals: model.state)
        }
        let history = try db.psql("SELECT count(*), count(DISTINCT product_imei) FROM product_migration_history")
        #expect(history.trimmingCharacters(in: .whitespacesAndNewlines) == "\(model.watermarks.count)|\(model.watermarks.count)")
    }

    @Test func lastLineWinsInsideADumpAndExistingRowsStay() throws {
        let db = try TestDatabase.create(label: "lastwins")
        defer { db.drop() }
        let tool = Tool(db: db)
        let imei = "123456789012345"
        try tool.prepare(products: [imei])
        let dir = try Package.temporaryDirectory("dumps")
        let t: Int64 = 1_727_740_800_000_000_000
        try DumpWriter.write([
            .point(imei: imei, field: "voltage", value: .number(1), timeNanos: t),
            .point(imei: imei, field: "voltage", value: .number(2), timeNanos: t),
            .point(imei: imei, field: "current", value: .number(3), timeNanos: t),
        ], to: dir.appendingPathComponent("20241001_a.lp.gz"))
        // A later dump: same instant (exactly at the watermark) with a new field and a new value for an old one.
        try DumpWriter.write([
            .point(imei: imei, field: "voltage", value: .number(9), timeNanos: t),
            .point(imei: imei, field: "temperature", value: .number(4), timeNanos: t),
            .point(imei: imei, field: "current", value: .number(5), timeNanos: t - 1_000),
        ], to: dir.appendingPathComponent("20241002_b.lp.gz"))
        let (result, report) = try tool.nightly(dir)
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try db.psql("SELECT field || '=' || value FROM telemetry ORDER BY field")
        #expect(DatabaseState.lines(rows) == ["current=3", "temperature=4", "voltage=2"])
        let dumps = report.dumps
        #expect(dumps[0].int("duplicates") == 1 && dumps[0].int("inserted") == 2)
        #expect(dumps[1].int("present") == 1 && dumps[1].int("inserted") == 1 && dumps[1].int("stale") == 1)
        let products = report["products"] as? [[String: Any]] ?? []
        #expect(products.count == 1 && products[0].int("rows") == 3)
        #expect(products.first?["watermark_before"] is NSNull)
        #expect(products.first?["watermark_after"] as? String == "2024-10-01T00:00:00.000000Z")
    }
}
