import Foundation
@testable import Migration
import PostgresClient
import TelemetrySchema
import Testing
import TestSupport

/// `migrate_run`: a run's row stays `running` for as long as its session lives, whichever run
/// looks, and any later run marks it `aborted` once that session is gone, whatever its unit.
@Suite(.enabled(if: Requirement.database.testsRun))
struct RunRecordTests {
    @Test func aLiveRunIsNeverMarkedAbortedAndADeadOneIsWhateverItsUnit() throws {
        let db = try TestDatabase.create(label: "runrecord")
        defer { db.drop() }
        let connection = try PostgresConnection(url: db.url)
        try Schema.apply(on: connection)
        let status = { (id: Int64) in
            try db.psql("SELECT status FROM migrate_run WHERE run_id = \(id)").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let other = MigrationStore(connection: connection, unit: "all")  // a later run of another unit

        var shardSession: PostgresConnection? = try PostgresConnection(url: db.url)
        let shardRun = try #require(try MigrationStore(connection: shardSession!, unit: "shard 1/3")
            .startRun(mode: "nightly", host: "test", pid: 1))
        let ownRun = try #require(try other.startRun(mode: "nightly", host: "test", pid: 2))
        try other.abortOrphanedRuns()
        #expect(try status(shardRun) == "running")
        #expect(try status(ownRun) == "running")

        shardSession?.close()  // as when the process dies: the server ends the session, soon but not at once
        shardSession = nil
        let deadline = Date().addingTimeInterval(15)
        repeat {
            try other.abortOrphanedRuns()
            if try status(shardRun) == "aborted" { break }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        #expect(try status(shardRun) == "aborted")
        #expect(try status(ownRun) == "running")
    }
}
