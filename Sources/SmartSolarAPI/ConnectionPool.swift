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
/// requests use the database at once; the others wait in FIFO order for a free slot, at
/// most `acquireTimeout`. A cancelled task gives up its wait, does not start its work, or
/// has its running statement cancelled (`PQcancel`). Connections are opened lazily, with
/// the limits of `PoolLimits` set, and reopened when no longer healthy.
public final class ConnectionPool: Sendable {
    private let slots: [Slot]
    private let dispenser: SlotDispenser
    private let limits: PoolLimits

    /// - Parameters: `url` nil means libpq's `PG*` environment; `size` >= 1.
    public init(url: String?, size: Int, limits: PoolLimits = PoolLimits(),
                applicationName: String = "telemetry-migrate serve") {
        precondition(size >= 1, "a pool needs at least one connection")
        slots = (0..<size).map { Slot(index: $0, url: url, limits: limits, applicationName: applicationName) }
        dispenser = SlotDispenser(count: size)
        self.limits = limits
    }

    public var size: Int { slots.count }

    /// Runs `body` with a connection of its own, off the cooperative thread pool.
    /// With `retryOnLostConnection` (only for work that is safe to repeat), a connection
    /// found broken while `body` runs is reopened and `body` runs once more, so a
    /// restarted PostgreSQL costs no failed request.
    /// Throws `PoolExhausted` after waiting `acquireTimeout`, `CancellationError` when the
    /// task was cancelled first, the `PostgresError` of a failed connect, or what `body` throws.
    public func withConnection<T: Sendable>(retryOnLostConnection: Bool = false,
                                            _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        guard let index = await dispenser.take(timeout: limits.acquireTimeout) else {
            try Task.checkCancellation()
            throw PoolExhausted()
        }
        do {
            let result = try await slots[index].run(retry: retryOnLostConnection, body)
            await dispenser.give(index)
            return result
        } catch {
            await dispenser.give(index)
            throw error
        }
    }

    /// Closes every open connection; waits for running work on each slot to finish.
    public func close() {
        for slot in slots { slot.close() }
    }
}

/// One connection and the serial queue that alone touches it.
// @unchecked Sendable: `connection` and `canceller` are only read and written inside
// blocks on `queue`.
final class Slot: @unchecked Sendable {
    private let queue: DispatchQueue
    private let url: String?
    private let limits: PoolLimits
    private let applicationName: String
    private var connection: PostgresConnection?
    private var canceller: PostgresCanceller?

    init(index: Int, url: String?, limits: PoolLimits, applicationName: String) {
        queue = DispatchQueue(label: "smartsolar.api.pg.\(index)")
        self.url = url
        self.limits = limits
        self.applicationName = applicationName
    }

    func run<T: Sendable>(retry: Bool, _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let run = RunState()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async {
                    continuation.resume(with: Result { try self.execute(run, retry: retry, body) })
                }
            }
        } onCancel: {
            run.cancel()
        }
    }

    /// Runs `body` unless `run` was cancelled, once more on a fresh connection when the
    /// connection was lost and `retry` allows. Call on `queue` only.
    private func execute<T>(_ run: RunState, retry: Bool, _ body: (PostgresConnection) throws -> T) throws -> T {
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

/// Hands out free slot indices; callers wait, first come first served, when none is free,
/// at most a given time.
actor SlotDispenser {
    private var free: [Int]
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Int?, Never>)] = []
    private var nextID: UInt64 = 0

    init(count: Int) { free = Array((0..<count).reversed()) }

    /// A free index, or nil after `timeout` or when the task is cancelled.
    func take(timeout: Duration) async -> Int? {
        if let index = free.popLast() { return index }
        if Task.isCancelled { return nil }
        let id = nextID
        nextID += 1
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiters.append((id, continuation))
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    await self?.expire(id)
                }
            }
        } onCancel: {
            Task { await self.expire(id) }
        }
    }

    private func expire(_ id: UInt64) {
        guard let position = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: position).continuation.resume(returning: nil)
    }

    func give(_ index: Int) {
        if waiters.isEmpty {
            free.append(index)
        } else {
            waiters.removeFirst().continuation.resume(returning: index)
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
