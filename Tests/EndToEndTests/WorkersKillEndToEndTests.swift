import Foundation
import Testing
import TestSupport

/// Kills split runs with SIGKILL at moments spread over them, runs again, and expects the
/// state of one unsplit run every time: a `--workers 3` process, three concurrent
/// `--shard K/3` processes (killed together), and a `--workers 2` backfill.
@Suite(.enabled(if: Requirement.database.testsRun), .serialized)
struct WorkersKillEndToEndTests {
    @Test func aWorkers3RunKilledAtMomentsSpreadOverItAndRerunEqualsOneUnsplitRun() throws {
        try killAndRerun(ExportDumpSet(seed: 31, dumpCount: 6, productCount: 30, instantsPerDump: 20, repeating: [3]),
                         processes: [["--workers", "3"]], kills: 20)
    }

    @Test func threeShardProcessesKilledAtMomentsSpreadOverThemAndRerunEqualOneUnsplitRun() throws {
        try killAndRerun(RandomDumpSet(seed: 32, dumpCount: 8, pointsPerDump: 1500, productCount: 40),
                         processes: (0..<3).map { ["--shard", "\($0)/3"] }, kills: 20)
    }

    /// A backfill is killed like a nightly: each dump's points of its IMEIs and their
    /// watermarks commit together, so a rerun (with the same split, or the default one
    /// connection) takes what the killed one had not committed and ends in the state of one
    /// uninterrupted backfill.
    @Test func aBackfillKilledAtMomentsSpreadOverItAndRerunEqualsOneUninterruptedBackfill() throws {
        let set = RandomDumpSet(seed: 33, dumpCount: 8, pointsPerDump: 1500, productCount: 40)
        let (dir, _) = try set.writtenWithNightlyModel()
        let imeis = set.products.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        var model = ReferenceModel(products: Set(set.products))
        model.backfill(set.dumps, imeis: Set(imeis))
        let db = try TestDatabase.create(label: "killbackfill")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let split = ["--workers", "2"]
        let began = Date()
        let (whole, _) = try tool.backfill(dir, imeis: imeis, split)
        let duration = Date().timeIntervalSince(began)
        #expect(whole.status == 0, "\(whole.stderr)")
        try expectState(db, equals: model.state)
        #expect(duration > 0.3, "a run long enough to be killed midway (\(duration) s)")

        let (killedMidRun, rounds) = try killRounds(kills: 10, duration: duration, seed: 78, db: db,
                                                    start: { [try tool.start(Tool.backfillArguments(dir, imeis: imeis, split))] }) { round, delay in
            let (rerun, _) = try tool.backfill(dir, imeis: imeis, round % 2 == 0 ? [] : split)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            try expectState(db, equals: model.state, "round \(round), killed after \(delay) s")
        }
        #expect(killedMidRun == 10, "only \(killedMidRun) kills landed mid-run in \(rounds) rounds")
    }

    /// Starts `processes` (one nightly each, with those arguments) at once, kills those still
    /// running after a delay spread over the timed uninterrupted run, then runs them again to
    /// the end (every fourth round, as one unsplit run instead: the splits mix).
    private func killAndRerun(_ set: some DumpSet, processes: [[String]], kills: Int) throws {
        let (dir, model) = try set.writtenWithNightlyModel()
        let db = try TestDatabase.create(label: "killsplit")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let logDirectory = try Package.temporaryDirectory("killsplit-logs")
        let logs = processes.indices.map { logDirectory.appendingPathComponent("nightly-\($0).log") }
        func start() throws -> [Process] {
            try zip(processes, logs).map { try startNightly(dir, on: db, $0, log: $1) }
        }
        // The uninterrupted split run, timed, against which kills are spread.
        let began = Date()
        let whole = try start()
        whole.forEach { $0.waitUntilExit() }
        let duration = Date().timeIntervalSince(began)
        #expect(whole.allSatisfy { $0.terminationStatus == 0 })
        try expectState(db, equals: model.state)
        #expect(duration > 0.3, "a run long enough to be killed midway (\(duration) s)")

        let (killedMidRun, rounds) = try killRounds(kills: kills, duration: duration, seed: 77, db: db, start: start) { round, delay in
            if round % 4 == 0 {
                let (rerun, _) = try tool.nightly(dir, ["--workers", "1"])
                #expect(rerun.status == 0, "\(rerun.stderr)")
            } else {
                let rerun = try start()
                rerun.forEach { $0.waitUntilExit() }
                #expect(rerun.allSatisfy { $0.terminationStatus == 0 },
                        "round \(round): exit \(rerun.map(\.terminationStatus)); \(logs.map { logTail($0) })")
            }
            try expectState(db, equals: model.state, "round \(round), killed after \(delay) s")
        }
        #expect(killedMidRun == kills, "only \(killedMidRun) kills landed mid-run in \(rounds) rounds")
        // A run of another split marks every killed run aborted, whatever its unit.
        let (last, _) = try tool.nightly(dir, ["--workers", "2"])
        #expect(last.status == 0, "\(last.stderr)")
        let runs = try db.psql("SELECT count(*) FILTER (WHERE status = 'running') FROM migrate_run")
        #expect(runs.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "killed runs are marked aborted")
    }
}
