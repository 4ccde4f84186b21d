import Foundation
@testable import Migration
import PostgresClient
import Testing
import TestSupport

/// `--workers N` and `--shard K/N` against the reference model: whatever the split, and
/// whatever splits earlier runs used, the state of one unsplit run.
@Suite(.enabled(if: Requirement.database.testsRun))
struct WorkersEndToEndTests {
    static func split(_ workers: Int) -> [String] { ["--workers", "\(workers)"] }

    @Test(arguments: [UInt64(1), 2], [1, 2, 3])
    func randomDumpsWithNWorkersEqualTheModel(seed: UInt64, workers: Int) throws {
        let set = RandomDumpSet(seed: seed, dumpCount: 5, pointsPerDump: 400, productCount: 12)
        let (dir, model) = try set.writtenWithNightlyModel()
        let db = try TestDatabase.create(label: "workers\(workers)")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let (first, report) = try tool.nightly(dir, Self.split(workers))
        #expect(first.status == 0, "\(first.stderr)")
        try expectState(db, equals: model.state)
        #expect(report.totals.int("inserted") == model.telemetry.count)
        #expect(report.totals.int("filtered") == 0)
        let units = try db.psql("SELECT DISTINCT unit FROM migrate_dump ORDER BY unit")
        #expect(DatabaseState.lines(units) == (workers == 1 ? ["all"] : (0..<workers).map { "shard \($0)/\(workers)" }))

        let (second, again) = try tool.nightly(dir, Self.split(workers))
        #expect(second.status == 0)
        #expect(again.dumps.allSatisfy { $0["status"] as? String == "skipped" })
        try expectState(db, equals: model.state)
    }

    /// Export-ordered dumps (the direct strategy, candidates at the watermark, a WAL section
    /// that repeats points so that some units' COPY is refused and redone staged).
    @Test(arguments: [1, 2, 3])
    func exportDumpsWithNWorkersEqualTheModelAndReportAsOneWorker(workers: Int) throws {
        let set = ExportDumpSet(seed: 5, dumpCount: 4, productCount: 16, instantsPerDump: 4, repeating: [2])
        let (dir, model) = try set.writtenWithNightlyModel()
        let db = try TestDatabase.create(label: "exportworkers")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let (dry, dryReport) = try tool.nightly(dir, Self.split(workers) + ["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let (result, report) = try tool.nightly(dir, Self.split(workers))
        #expect(result.status == 0, "\(result.stderr)")
        try expectState(db, equals: model.state)
        #expect(comparableReport(dryReport) == comparableReport(report))

        let reference = try TestDatabase.create(label: "exportone")
        defer { reference.drop() }
        let one = Tool(db: reference)
        try one.prepare(products: set.products)
        let (_, oneReport) = try one.nightly(dir, Self.split(1))
        #expect(comparableReport(oneReport) == comparableReport(report), "the same counts as one worker")
    }

    @Test(arguments: [1, 2, 3])
    func backfillWithNWorkersEqualsTheModel(workers: Int) throws {
        let set = RandomDumpSet(seed: 3, dumpCount: 4, pointsPerDump: 300, productCount: 10)
        let (dir, _) = try set.writtenWithNightlyModel()
        let db = try TestDatabase.create(label: "backfillworkers")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let imeis = Set(set.products.prefix(5))
        var model = ReferenceModel(products: Set(set.products))
        model.backfill(set.dumps, imeis: imeis)
        let (dry, _) = try tool.backfill(dir, imeis: imeis.sorted(), Self.split(workers) + ["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let (result, _) = try tool.backfill(dir, imeis: imeis.sorted(), Self.split(workers))
        #expect(result.status == 0, "\(result.stderr)")
        try expectState(db, equals: model.state)
        let (shard, _) = try tool.backfill(dir, imeis: imeis.sorted(), ["--shard", "1/2"])
        #expect(shard.status == 0, "\(shard.stderr)")
        try expectState(db, equals: model.state)
    }

    /// Dumps arrive in batches, each night with another split, some nights only partly run:
    /// a dump done for some units is read again for the others only, and the end state is
    /// that of one unsplit run.
    @Test func changingTheSplitBetweenRunsEndsInTheStateOfOneUnsplitRun() throws {
        let set = RandomDumpSet(seed: 21, dumpCount: 6, pointsPerDump: 400, productCount: 16)
        let db = try TestDatabase.create(label: "changesplit")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let dir = try Package.temporaryDirectory("dumps")
        var model = ReferenceModel(products: Set(set.products))
        let nights: [(Range<Int>, [[String]])] = [
            (0..<2, [Self.split(2)]),
            (2..<3, [["--shard", "1/3"], Self.split(3)]),
            (3..<4, [["--shard", "0/2"], ["--shard", "2/3"], Self.split(1)]),
            (4..<6, [Self.split(3), ["--shard", "0/2"], ["--shard", "1/2"]]),
        ]
        for (batch, runs) in nights {
            try set.write(batch, to: dir)
            for arguments in runs {
                let (result, _) = try tool.nightly(dir, arguments)
                #expect(result.status == 0, "\(arguments): \(result.stderr)")
            }
            model.nightly(Array(set.dumps[batch]))
            try expectState(db, equals: model.state, "after dumps \(batch)")
        }
        // Every unit of every split is now done with every dump.
        for arguments in [Self.split(1), Self.split(2), ["--shard", "2/3"]] {
            let (result, report) = try tool.nightly(dir, arguments)
            #expect(result.status == 0)
            #expect(report.dumps.allSatisfy { $0["status"] as? String == "skipped" }, "\(arguments)")
        }
    }

    /// After one shard of two, an unsplit run reads the dump again for the other half only.
    @Test func aDumpDoneForSomeUnitsIsReadAgainForTheRestOnly() throws {
        let set = RandomDumpSet(seed: 22, dumpCount: 2, pointsPerDump: 600, productCount: 20)
        let (dir, model) = try set.writtenWithNightlyModel()
        let db = try TestDatabase.create(label: "rest")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let (half, halfReport) = try tool.nightly(dir, ["--shard", "0/2"])
        #expect(half.status == 0, "\(half.stderr)")
        let (rest, restReport) = try tool.nightly(dir, Self.split(1))
        #expect(rest.status == 0, "\(rest.stderr)")
        try expectState(db, equals: model.state)
        #expect(halfReport.totals.int("filtered")! > 0)
        #expect(restReport.totals.int("filtered")! > 0, "the first shard's products are not read again")
        #expect(halfReport.totals.int("unknown_product")! + restReport.totals.int("unknown_product")!
                    == ReferenceModel.unknownPoints(set.dumps, products: Set(set.products)), "each reported once")
        #expect(halfReport.totals.int("inserted")! + restReport.totals.int("inserted")! == model.telemetry.count)
    }

    /// N shard processes at once: each its own lock; a second process for the same K exits 3.
    @Test func shardsRunConcurrentlyAndTheSameShardIsLocked() throws {
        let set = RandomDumpSet(seed: 23, dumpCount: 5, pointsPerDump: 3000, productCount: 30)
        let (dir, model) = try set.writtenWithNightlyModel()
        let db = try TestDatabase.create(label: "concurrentshards")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        // Another session holds shard 1/3's lock: that shard exits 3, the others run.
        let holder = try PostgresConnection(url: db.url)
        #expect(try holder.tryAdvisoryLock(RunLock(unit: "shard 1/3").key))
        let locked = tool.run(["nightly", "--dumps", dir.path, "--shard", "1/3", "--report", "json"])
        #expect(locked.status == 3, "\(locked.stdout) \(locked.stderr)")
        holder.close()
        // An unsplit run's lock excludes every shard's writer, and the other way round.
        let whole = try PostgresConnection(url: db.url)
        #expect(try whole.tryAdvisoryLock(RunLock(unit: "all").key))
        let refusedShard = tool.run(["nightly", "--dumps", dir.path, "--shard", "0/3", "--report", "json"])
        #expect(refusedShard.status == 3)
        #expect((try Tool.decode(refusedShard)["message"] as? String ?? "").contains("unit 'all'"), "names the holder's unit")
        #expect(tool.run(["nightly", "--dumps", dir.path, "--workers", "2"]).status == 3)
        whole.close()
        // A split run of every product takes `all` exclusively, whatever its N: a shard's
        // process of another N (which holds `all` shared) excludes it, so they never overlap.
        let shardOfAnotherN = try PostgresConnection(url: db.url)
        #expect(try shardOfAnotherN.query("SELECT pg_try_advisory_lock_shared($1::bigint)",
                                          [.int(RunLock(unit: "all").key)]).first?.bool(0) == true)
        #expect(tool.run(["nightly", "--dumps", dir.path, "--workers", "2"]).status == 3)
        shardOfAnotherN.close()

        let processes = try (0..<3).map { k in try startNightly(dir, on: db, ["--shard", "\(k)/3"]) }
        processes.forEach { $0.waitUntilExit() }
        #expect(processes.map(\.terminationStatus) == [0, 0, 0])
        try expectState(db, equals: model.state)
        let (unsplit, report) = try tool.nightly(dir, Self.split(1))
        #expect(unsplit.status == 0)
        #expect(report.dumps.allSatisfy { $0["status"] as? String == "skipped" }, "three thirds cover all")
    }

    @Test func badSplitsAreUsageErrors() throws {
        let db = try TestDatabase.create(label: "badsplit")
        defer { db.drop() }
        let tool = Tool(db: db)
        let dir = try Package.temporaryDirectory("dumps")
        for arguments in [["--shard", "3/3"], ["--shard", "1"], ["--shard", "-1/2"], ["--workers", "0"],
                          ["--shard", "0/2", "--workers", "2"]] {
            let result = tool.run(["nightly", "--dumps", dir.path] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
        }
    }
}

extension ReferenceModel {
    /// Points of IMEIs that are not products in these dumps.
    static func unknownPoints(_ dumps: [[DumpLine]], products: Set<String>) -> Int {
        dumps.joined().filter { line in
            if case .point(let imei, _, _, _, "telemetry") = line { !products.contains(imei) } else { false }
        }.count
    }
}
