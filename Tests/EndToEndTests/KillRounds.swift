import Foundation
import Testing
import TestSupport

/// Starts `telemetry-migrate nightly` over `dir` against `db` with `arguments`, its report
/// discarded and its log written to `log` (replaced) when given, else discarded.
func startNightly(_ dir: URL, on db: TestDatabase, _ arguments: [String] = [], log: URL? = nil) throws -> Process {
    var stderr = FileHandle.nullDevice
    if let log {
        FileManager.default.createFile(atPath: log.path, contents: nil)
        stderr = try FileHandle(forWritingTo: log)
    }
    return try Tool(db: db).start(["nightly", "--dumps", dir.path] + arguments, stderr: stderr)
}

/// The last lines of a log `startNightly` wrote, for a failed expectation's message.
func logTail(_ log: URL, lines: Int = 5) -> String {
    let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
}

/// Kill rounds spread over a run that took `duration` seconds uninterrupted: each round
/// empties the tables, starts the run's processes (`start`), kills with SIGKILL those still
/// running after a delay, waits for PostgreSQL to end their sessions, checks that the kill left
/// only whole dumps behind (no row above its product's watermark), then hands over to `finish`
/// (run again, compare). Delays spread over the run (connection, early and late dumps,
/// commits); a round whose run finished before its kill is tried again earlier. Ends after
/// `kills` kills that landed mid-run, or 3 x `kills` rounds; returns both counts.
func killRounds(kills: Int, duration: Double, seed: UInt64, db: TestDatabase, start: () throws -> [Process],
                finish: (_ round: Int, _ delay: Double) throws -> Void) throws -> (killed: Int, rounds: Int) {
    var rng = SeededRandom(seed: seed)
    var killedMidRun = 0
    var rounds = 0
    var pace = 1.0
    while killedMidRun < kills && rounds < 3 * kills {
        rounds += 1
        try db.psql("TRUNCATE telemetry, product_migration_history, migrate_dump, migrate_run")
        let delay = pace * duration * (Double(killedMidRun) + Double.random(in: 0..<1, using: &rng)) / Double(kills + 1)
        let running = try start()
        Thread.sleep(forTimeInterval: delay)
        var killed = false
        for process in running where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            killed = true
        }
        if killed { killedMidRun += 1 } else { pace *= 0.8 }  // runs got faster than the timed one: aim earlier
        running.forEach { $0.waitUntilExit() }
        try waitForKilledSessions(db)
        let orphans = try db.psql("""
            SELECT count(*) FROM telemetry t LEFT JOIN product_migration_history h USING (product_imei)
            WHERE h.product_imei IS NULL OR t.time > h.latest_migration_timestamp
            """)
        #expect(orphans.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "round \(rounds)")
        try finish(rounds, delay)
    }
    return (killedMidRun, rounds)
}

/// Waits (up to 30 s) until PostgreSQL has ended the sessions of killed processes, which it
/// does after they died, asynchronously: until then their run locks are held, and a run
/// started at that moment rightly exits 3 (docs/operations.md, "Lock held").
func waitForKilledSessions(_ db: TestDatabase) throws {
    _ = try db.becomes("""
        NOT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory'
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
        """)
}
