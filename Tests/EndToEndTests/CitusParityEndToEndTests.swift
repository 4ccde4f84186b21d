import Foundation
import Testing
import TestSupport

/// One scenario on a single PostgreSQL and on the test target, compared row for row: under
/// `jobs/test --citus` the target is a Citus cluster and the single node is a plain database
/// of its coordinator (docs/citus.md); under `jobs/test` both are plain, and the test still
/// checks both against the reference model.
@Suite(.enabled(if: Requirement.database.testsRun))
struct CitusParityEndToEndTests {
    /// Every path of a run: counted dry run, direct COPY with candidates at the watermark,
    /// the fallback to the stage on a repeated point, staged-only, backfill and its dry run;
    /// then the same reports, the same `telemetry`, histories and completed dumps on both.
    @Test func theSameRunsLeaveTheSameRowsOnBothTargets() throws {
        let export = ExportDumpSet(seed: 16, dumpCount: 4, repeating: [1])
        let random = RandomDumpSet(seed: 16, dumpCount: 4)
        let firstTwo = try Package.temporaryDirectory("dumps"), allFour = try Package.temporaryDirectory("dumps")
        let randomDir = try Package.temporaryDirectory("dumps")
        try export.write(0..<2, to: firstTwo)
        try export.write(0..<4, to: allFour)
        try random.write(0..<4, to: randomDir)
        let backfilled = [random.products[0], random.products[3]]

        let single = try TestDatabase.createSingleNode(label: "parity1")
        defer { single.drop() }
        let target = try TestDatabase.create(label: "parity2")
        defer { target.drop() }

        var reports: [[String]] = []
        for db in [single, target] {
            let tool = Tool(db: db)
            try tool.prepare(products: export.products + random.products)
            var steps: [(ProcessResult, [String: Any])] = []
            steps.append(try tool.nightly(firstTwo, ["--dry-run"]))
            steps.append(try tool.nightly(firstTwo))
            steps.append(try tool.nightly(allFour, ["--dry-run"]))
            steps.append(try tool.nightly(allFour))
            steps.append(try tool.nightly(randomDir, ["--staged-only", "--dry-run"]))
            steps.append(try tool.nightly(randomDir))
            steps.append(try tool.backfill(randomDir, imeis: backfilled, ["--dry-run"]))
            steps.append(try tool.backfill(randomDir, imeis: backfilled))
            steps.append(try tool.nightly(randomDir))
            for (i, (result, _)) in steps.enumerated() {
                #expect(result.status == 0, "step \(i) on \(db.name): \(result.stderr.suffix(2000))")
            }
            reports.append(steps.map { comparableReport($0.1) })
        }
        #expect(reports[0] == reports[1])

        var model = ReferenceModel(products: Set(export.products + random.products))
        model.nightly(export.dumps)
        model.nightly(random.dumps)
        model.backfill(random.dumps, imeis: Set(backfilled))
        try expectState(single, equals: model.state, "single node")
        try expectState(target, equals: model.state, "\(TestDatabase.target)")
        let bookkeeping = """
            SELECT string_agg(concat_ws('|', unit, name, fingerprint, points, inserted), E'\\n' ORDER BY unit, name) FROM migrate_dump
            """
        #expect(try single.psql(bookkeeping) == target.psql(bookkeeping))
        let history = "SELECT count(*), count(DISTINCT product_migration_history_id), count(modified_by) FROM product_migration_history"
        #expect(try single.psql(history) == target.psql(history))
    }
}
