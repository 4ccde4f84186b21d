import Foundation
import Testing
import TestSupport

/// The direct, counted and staged write strategies (`WriteStrategy`) give the same rows and the same reports.
@Suite(.enabled(if: TestDatabase.isAvailable))
struct WriteStrategyTests {
    /// Export-ordered dumps go straight into `telemetry` (and are counted in memory in a dry
    /// run); the dump with a repeated point falls back to the stage. Both end exactly where
    /// a run on the staged path alone ends, and each dry run predicts its real run.
    @Test func fastPathsEqualTheStagedPath() throws {
        let set = ExportDumpSet(seed: 5, dumpCount: 5, repeating: [3])
        let dir = try Package.temporaryDirectory("dumps")
        try set.write(0..<2, to: dir)
        var model = ReferenceModel(products: Set(set.products))
        model.nightly(Array(set.dumps[0..<2]))

        let fast = try TestDatabase.create(label: "fastpath")
        defer { fast.drop() }
        let staged = try TestDatabase.create(label: "stagedpath")
        defer { staged.drop() }
        let fastTool = Tool(db: fast), stagedTool = Tool(db: staged)
        for tool in [fastTool, stagedTool] {
            try tool.prepare(products: set.products)
        }
        // Some history first, so that the later dumps meet watermarks.
        let (fastFirst, _) = try fastTool.nightly(dir)
        let (stagedFirst, _) = try stagedTool.nightly(dir, ["--staged-only"])
        #expect(fastFirst.status == 0 && stagedFirst.status == 0, "\(fastFirst.stderr)\(stagedFirst.stderr)")
        #expect(fastFirst.stderr.contains("dump.strategy=direct") && !fastFirst.stderr.contains("dump.strategy=staged"))
        #expect(stagedFirst.stderr.contains("dump.strategy=staged") && !stagedFirst.stderr.contains("dump.strategy=direct"))
        try expectState(fast, equals: model.state)
        try expectState(staged, equals: model.state)

        try set.write(2..<5, to: dir)
        model.nightly(Array(set.dumps[2..<5]))
        let (fastDry, fastDryReport) = try fastTool.nightly(dir, ["--dry-run"])
        let (stagedDry, stagedDryReport) = try stagedTool.nightly(dir, ["--dry-run", "--staged-only"])
        #expect(fastDry.status == 0 && stagedDry.status == 0)
        #expect(fastDry.stderr.contains("dump.strategy=counted"))
        #expect(fastDry.stderr.contains("dump read again on the staged strategy"), "dump 4 repeats points")
        #expect(comparableReport(fastDryReport) == comparableReport(stagedDryReport))

        let rejects = try Package.temporaryDirectory("rejects").appendingPathComponent("rejects.csv").path
        let (fastRun, fastReport) = try fastTool.nightly(dir, ["--reject-file", rejects])
        let (stagedRun, stagedReport) = try stagedTool.nightly(dir, ["--staged-only"])
        #expect(fastRun.status == 0 && stagedRun.status == 0, "\(fastRun.stderr)\(stagedRun.stderr)")
        #expect(fastRun.stderr.contains("dump.strategy=direct") && fastRun.stderr.contains("dump.strategy=staged"))
        try expectState(fast, equals: model.state)
        try expectState(staged, equals: model.state)
        #expect(comparableReport(fastReport) == comparableReport(stagedReport))
        #expect(comparableReport(fastReport) == comparableReport(fastDryReport))
        #expect(fastReport.totals.int("present")! > 0 && fastReport.totals.int("stale")! > 0)
        #expect(fastReport.totals.int("duplicates")! > 0)
        // A dump read twice reports each rejected line once.
        let rejectRows = try String(contentsOfFile: rejects, encoding: .utf8).split(separator: "\n").count - 1
        #expect(rejectRows == fastReport.totals.int("malformed")! + fastReport.totals.int("unknown_product")!)
    }

    /// Candidates exactly at the watermark beyond what the direct path keeps in memory are
    /// read a second time from the dump, with the same outcome.
    @Test(arguments: [0, 5])
    func candidatesAtTheWatermarkBeyondTheBufferAreReadAgain(buffer: Int) throws {
        let set = ExportDumpSet(seed: 9, dumpCount: 3)
        let (dir, model) = try set.writtenWithNightlyModel()
        let db = try TestDatabase.create(label: "atwatermark")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let (dry, dryReport) = try tool.nightly(dir, ["--dry-run"])
        let (result, report) = try tool.nightly(dir, ["--at-watermark-buffer", "\(buffer)"])
        #expect(dry.status == 0 && result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("dump.strategy=staged"))
        try expectState(db, equals: model.state)
        #expect(report.totals.int("present")! > 0)
        #expect(comparableReport(report) == comparableReport(dryReport))
    }
}
