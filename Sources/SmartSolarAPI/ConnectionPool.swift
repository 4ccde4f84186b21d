import Dispatch
import Foundation
import PostgresClient

/// Time limits of the pool and of every statement it runs.
public struct PoolLimits: Sendable {
    /// `statement_timeout` of every pooled session (milliseconds; 0 disables).
    public var statementTimeoutMs: Int
    /// `lock_timeout` of every pooled session (milliseconds; 0 disables).
    public var lockTimeoutMs: Int
    /// How long a request waits for a free connection before it is refused (503).
    public var acquireTimeout: Duration

    public init(statementTimeoutMs: Int = 5_000, lockTimeoutMs: Int = 1_000, acquireTimeout: Duration = .seconds(2)) {
        self.statementTimeoutMs = statementTimeoutMs
        self.lockTimeoutMs = lockTimeoutMs
        self.acquireTimeout = acquireTimeout
    }
}

/// No connection became free within `PoolLimits.acquireTimeout`.
struct PoolExhausted: Error {}

/// A fixed number of PostgreSQL connections shared by async request handlers.
///
/// libpq is synchronous and a `PostgresConnection` is not thread-safe, so each connection
/// lives in a `Slot` with its own serial queue: blocking calls never run on Swift's
/// cooperative threads, and a connection is used by one request at a time. At most `size`
/// requests use the database at once; the others wait in FIFO order, at most
/// `acquireTimeout`. A request's work is handed to a slot as a `Job`: an idle slot starts it
/// at once; a busy slot, when it finishes a job, takes the next waiting one itself, on its
/// own queue, so passing a connection on costs no task switch. A cancelled task gives up
/// its wait, does not start its work, or has its running statement cancelled (`PQcancel`).
/// Connections are opened lazily, with the limits of `PoolLimits` set, and reopened when no
/// longer healthy.
///
/// Invariants (under `lock`): a slot index is in `idle` exactly when its slot runs no job;
/// `waiting` is non-empty only while no slot is idle; a job is resumed exactly once, by
/// whoever removed it from `waiting` (a slot, the expiry, its cancellation) or by the slot
/// it was handed to.
// @unchecked Sendable: `idle`, `waiting`, `expiring` and `closed` are read and written under `lock` only.
public final class ConnectionPool: @unchecked Sendable {
    private let slots: [Slot]
    private let limits: PoolLimits
    private let lock = NSLock()
    private var idle: [Int]
    /// Jobs waiting for a slot, oldest first; with one timeout for all, their deadlines come
    /// in about that order too (give or take the moment between a job's creation and its queuing).
    private var waiting = JobQueue()
    /// True while a task expires the waiting jobs whose deadline passed.
    private var expiring = false
    private var closed = false
    private var nextJobID: UInt64 = 0

    /// - Parameters: `url` nil means libpq's `PG*` environment; `size` >= 1.
    public init(url: String?, size: Int, limits: PoolLimits = PoolLimits(),
                applicationName: String = "telemetry-migrate serve") {
        precondition(size >= 1, "a pool needs at least one connection")
        slots = (0..<size).map { Slot(index: $0, url: url, limits: limits, applicationName: applicationName) }
        idle = Array((0..<size).reversed())
        self.limits = limits
    }

    public var size: Int { slots.count }

    /// Runs `body` with a connection of its own, off the cooperative thread pool.
    /// With `retryOnLostConnection` (only for work that is safe to repeat), a connection
    /// found broken while `body` runs is reopened and `body` runs once more, so a
    /// restarted PostgreSQL costs no failed request.
    /// The task's cancellation, or `client` going away, cancels the work: it gives up its
    /// wait, does not start, or has its running statement cancelled.
    /// Throws `PoolExhausted` after waiting `acquireTimeout`, `CancellationError` when the
    /// work was cancelled first, the `PostgresError` of a failed connect, or what `body` throws.
    func withConnection<T: Sendable>(retryOnLostConnection: Bool = false, client: ClientPresence? = nil,
                                     _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try Task.checkCancellation()
        let run = RunState()
        let id = lock.withLock { () -> UInt64 in nextJobID += 1; return nextJobID }
        // Called at once when the client is gone already: the job is then refused when submitted.
        let watch = client?.onGone { [self] in
            run.cancel()
            withdraw(id)
        }
        defer { client?.remove(watch) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let job = Job(id: id, run: run, deadline: .now + limits.acquireTimeout, perform: { slot in
                    continuation.resume(with: Result { try slot.execute(run, retry: retryOnLostConnection, body) })
                }, abandon: { error in
                    continuation.resume(throwing: error)
                })
                submit(job)
            }
        } onCancel: {
            run.cancel()
            withdraw(id)
        }
    }

    /// Starts `job` on an idle slot, or queues it.
    private func submit(_ job: Job) {
        enum Next { case start(Slot), abandon(any Error), wait(startExpiry: Bool) }
        let next: Next = lock.withLock {
            if closed { return .abandon(CancellationError()) }
            if job.run.isCancelled { return .abandon(CancellationError()) }  // cancelled before it was queued
            if let index = idle.popLast() { return .start(slots[index]) }
            waiting.append(job)
            defer { expiring = true }
            return .wait(startExpiry: !expiring)
        }
        switch next {
        case .start(let slot): slot.start(job, pool: self)
        case .abandon(let error): job.abandon(error)
        case .wait(let startExpiry): if startExpiry { Task { await self.expireOverdue() } }
        }
    }

    /// The job `slot` runs after the one it finished (the oldest waiting one), or nil, and
    /// the slot is idle. Jobs past their deadline are refused on the way (`PoolExhausted`).
    func next(after slot: Slot) -> Job? {
        let now = ContinuousClock.now
        var overdue: [Job] = []
        let job: Job? = lock.withLock {
            while let job = waiting.popFirst() {
                if job.deadline <= now { overdue.append(job); continue }
                return job
            }
            idle.append(slot.index)
            return nil
        }
        for expired in overdue { expired.abandon(PoolExhausted()) }
        return job
    }

    /// A cancelled request gives up its place in the queue (nothing when it is not waiting).
    private func withdraw(_ id: UInt64) {
        let job = lock.withLock { waiting.remove(id: id) }
        job?.abandon(CancellationError())
    }

    /// Refuses the waiting jobs whose deadline passed, sleeping until the oldest one's, for
    /// as long as jobs wait. One such task at a time (`expiring`).
    private func expireOverdue() async {
        while true {
            let now = ContinuousClock.now
            var overdue: [Job] = []
            let nextDeadline: ContinuousClock.Instant? = lock.withLock {
                while let first = waiting.first, first.deadline <= now { overdue.append(waiting.popFirst()!) }
                guard let first = waiting.first else {
                    expiring = false
                    return nil
                }
                return first.deadline
            }
            for job in overdue { job.abandon(PoolExhausted()) }
            guard let nextDeadline else { return }
            try? await Task.sleep(until: nextDeadline, tolerance: .milliseconds(10), clock: .continuous)
        }
    }

    /// Closes every open connection; waits for running work on each slot to finish. Jobs
    /// still waiting, and any submitted later, end with `CancellationError`.
    public func close() {
        let abandoned: [Job] = lock.withLock {
            closed = true
            var all: [Job] = []
            while let job = waiting.popFirst() { all.append(job) }
            return all
        }
        for job in abandoned { job.abandon(CancellationError()) }
        for slot in slots { slot.close() }
    }
}

/// One request's work for a slot. `perform` (on the slot's queue) runs it and resumes the
/// waiting task with its outcome; `abandon` resumes the task with an error instead. The pool
/// calls exactly one of them, once.
final class Job: Sendable {
    let id: UInt64
    let run: RunState
    let deadline: ContinuousClock.Instant
    let perform: @Sendable (Slot) -> Void
    let abandon: @Sendable (any Error) -> Void

    init(id: UInt64, run: RunState, deadline: ContinuousClock.Instant,
         perform: @escaping @Sendable (Slot) -> Void, abandon: @escaping @Sendable (any Error) -> Void) {
        self.id = id
        self.run = run
        self.deadline = deadline
        self.perform = perform
        self.abandon = abandon
    }
}

/// A FIFO of jobs: append at the end, take from the front in O(1) (amortised), remove one
/// by id (a cancelled wait: rare, linear).
struct JobQueue {
    private var jobs: [Job] = []
    private var head = 0

    var first: Job? { head < jobs.count ? jobs[head] : nil }

    mutating func append(_ job: Job) { jobs.append(job) }

    mutating func popFirst() -> Job? {
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }

    mutating func remove(id: UInt64) -> Job? {
        guard let position = jobs[head...].firstIndex(where: { $0.id == id }) else { return nil }
        return jobs.remove(at: position)
    }
}

/// One connection and the serial queue that alone touches it.
// @unchecked Sendable: `connection` and `canceller` are only read and written inside
// blocks on `queue`.
final class Slot: @unchecked Sendable {
    let index: Int
    private let queue: DispatchQueue
    private let url: String?
    private let limits: PoolLimits
    private let applicationName: String
    private var connection: PostgresConnection?
    private var canceller: PostgresCanceller?

    init(index: Int, url: String?, limits: PoolLimits, applicationName: String) {
        self.index = index
        queue = DispatchQueue(label: "smartsolar.api.pg.\(index)")
        self.url = url
        self.limits = limits
        self.applicationName = applicationName
    }

    /// Runs `job` on the queue, then the jobs `pool` has waiting, until there are none.
    func start(_ job: Job, pool: ConnectionPool) {
        queue.async {
            var current: Job? = job
            while let job = current {
                job.perform(self)
                current = pool.next(after: self)
            }
        }
    }

    /// Runs `body` unless `run` was cancelled, once more on a fresh connection when the
    /// connection was lost and `retry` allows. Call on `queue` only.
    func execute<T>(_ run: RunState, retry: Bool, _ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try openConnection()
        guard run.begin(canceller) else { throw CancellationError() }
        defer { run.end() }
        do {
            return try body(connection)
        } catch let error as PostgresError where retry && error.isConnectionLoss {
            drop()
            let fresh = try openConnection()
            run.replace(canceller)
            return try body(fresh)
        }
    }

    func close() {
        queue.sync { drop() }
    }

    private func drop() {
        connection?.close()
        connection = nil
        canceller = nil
    }

    /// The slot's connection, (re)opened when absent or unhealthy. Call on `queue` only.
    private func openConnection() throws -> PostgresConnection {
        if let connection, connection.isHealthy { return connection }
        drop()
        let fresh = try PostgresConnection(url: url, applicationName: applicationName)
        // Token bookkeeping (`last_used_at`) needs no WAL flush; statements that must be
        // durable turn it back on (`ResourceStore.delete`). Every statement and lock wait
        // is limited in time.
        try fresh.executeScript("""
            SET synchronous_commit TO off; SET statement_timeout = \(limits.statementTimeoutMs);
            SET lock_timeout = \(limits.lockTimeoutMs)
            """)
        connection = fresh
        canceller = fresh.makeCanceller()
        return fresh
    }
}

/// The cancellation state of one request's work on a slot, shared between the slot's
/// queue and the task's cancellation handler.
// @unchecked Sendable: every field is read and written under `lock`.
final class RunState: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var running: PostgresCanceller?

    var isCancelled: Bool { lock.withLock { cancelled } }

    /// Marks the work as started; false when it was cancelled before.
    func begin(_ canceller: PostgresCanceller?) -> Bool {
        lock.withLock {
            if cancelled { return false }
            running = canceller
            return true
        }
    }

    func replace(_ canceller: PostgresCanceller?) {
        lock.withLock { running = cancelled ? nil : canceller }
    }

    /// Ends the work; waits while a cancel request is being sent, so that it cannot reach
    /// the next request's statement.
    func end() {
        lock.withLock { running = nil }
    }

    /// Prevents the work from starting, or cancels its running statement.
    func cancel() {
        lock.withLock {
            cancelled = true
            running?.cancel()
        }
    }
}

extension PostgresError {
    /// The session is gone: lost connection, or the server shut down or restarted
    /// (class 08, 57P01-57P03). Work that is safe to repeat may run again on a new one.
    var isConnectionLoss: Bool {
        if kind == .connectionLost { return true }
        guard let state = sqlState else { return false }
        return state.isConnectionException || [.adminShutdown, .crashShutdown, .cannotConnectNow].contains(state)
    }
}
