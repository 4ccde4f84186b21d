import Foundation
import PostgresClient
import Synchronization
import Testing
import TestSupport
@testable import SmartSolarAPI

/// The pool hands its connections on in arrival order, refuses a wait longer than
/// `acquireTimeout`, and lets a cancelled request leave the queue at once.
@Suite(.enabled(if: Requirement.database.testsRun))
struct ConnectionPoolTests {
    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// Waits until `count` connections run `pg_sleep` (the holders have them).
    static func waitForSleepers(_ count: Int = 1, on database: TestDatabase) async throws {
        let probe = try PostgresConnection(url: database.url)
        defer { probe.close() }
        for _ in 0..<500 {
            let sleeping = try probe.query("""
                SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%'
                AND state = 'active'
                """).first?.int64(0) ?? 0
            if sleeping >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Two pools whose only connection a holder keeps (a 30 s statement): a request to the
    /// one with a 300 ms acquire timeout is refused after it; a request to the other (60 s),
    /// cancelled while it waits, leaves at once; the holders, cancelled, have their
    /// statements cancelled. The time bounds are far above the expected ones (300 ms, at
    /// once): with other suites blocking the cooperative threads for a while, a task can be
    /// slow to resume; they are far below the holders' 30 s.
    @Test func timeoutAndCancelledWait() async throws {
        let database = try TestDatabase.create(label: "pooltimeout")
        defer { database.drop() }
        let hasty = ConnectionPool(url: database.url, size: 1, limits: PoolLimits(acquireTimeout: .milliseconds(300)))
        let patient = ConnectionPool(url: database.url, size: 1, limits: PoolLimits(acquireTimeout: .seconds(60)))
        defer { hasty.close(); patient.close() }
        let holders = [hasty, patient].map { pool in
            Task { try await pool.withConnection { connection in _ = try connection.query("SELECT pg_sleep(30)") } }
        }
        try await Self.waitForSleepers(2, on: database)

        var start = ContinuousClock.now
        await #expect(throws: PoolExhausted.self) { try await hasty.withConnection { _ in 2 } }
        #expect(Self.milliseconds(since: start) < 10_000, "refused after the acquire timeout, not when the holder is done")

        let waiter = Task { try await patient.withConnection { _ in 3 } }
        try await Task.sleep(for: .milliseconds(30))
        start = ContinuousClock.now
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(Self.milliseconds(since: start) < 10_000, "a cancelled wait ends at once, not when the holder is done")

        start = ContinuousClock.now
        for holder in holders {
            holder.cancel()
            await #expect(throws: PostgresError.self) { try await holder.value }
        }
        #expect(Self.milliseconds(since: start) < 10_000, "the holders' statements are cancelled")
        #expect(try await hasty.withConnection { _ in 4 } == 4)
        #expect(try await patient.withConnection { _ in 5 } == 5)
    }

    @Test func waitersAreServedInArrivalOrder() async throws {
        let database = try TestDatabase.create(label: "poolorder")
        defer { database.drop() }
        let pool = ConnectionPool(url: database.url, size: 1, limits: PoolLimits(acquireTimeout: .seconds(30)))
        defer { pool.close() }
        let served = ServedOrder()
        async let holder = pool.withConnection { connection in
            _ = try connection.query("SELECT pg_sleep(0.5)")
            return 0
        }
        try await Self.waitForSleepers(on: database)
        var waiters: [Task<Int, any Error>] = []
        for n in 1...5 {
            waiters.append(Task { try await pool.withConnection { _ in served.numbers.withLock { $0.append(n) }; return n } })
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await holder == 0)
        for (i, waiter) in waiters.enumerated() { #expect(try await waiter.value == i + 1) }
        #expect(served.numbers.withLock { $0 } == [1, 2, 3, 4, 5])
    }
}

/// The order in which the pool ran the waiters' work.
final class ServedOrder: Sendable {
    let numbers = Mutex<[Int]>([])
}
