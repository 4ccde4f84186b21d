import Dispatch
import PostgresClient

/// A fixed number of PostgreSQL connections shared by async request handlers.
///
/// libpq is synchronous and a `PostgresConnection` is not thread-safe, so each connection
/// lives in a `Slot` with its own serial queue: blocking calls never run on Swift's
/// cooperative threads, and a connection is used by one request at a time. At most `size`
/// requests use the database at once; the others wait in FIFO order for a free slot.
/// Connections are opened lazily and reopened when no longer healthy.
public final class ConnectionPool: Sendable {
    private let slots: [Slot]
    private let dispenser: SlotDispenser

    /// - Parameters: `url` nil means libpq's `PG*` environment; `size` >= 1.
    public init(url: String?, size: Int, applicationName: String = "telemetry-migrate serve") {
        precondition(size >= 1, "a pool needs at least one connection")
        slots = (0..<size).map { Slot(index: $0, url: url, applicationName: applicationName) }
        dispenser = SlotDispenser(count: size)
    }

    public var size: Int { slots.count }

    /// Runs `body` with a connection of its own, off the cooperative thread pool.
    /// Throws the `PostgresError` of a failed connect, or whatever `body` throws.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let index = await dispenser.take()
        do {
            let result = try await slots[index].run(body)
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
// @unchecked Sendable: `connection` is only read and written inside blocks on `queue`.
final class Slot: @unchecked Sendable {
    private let queue: DispatchQueue
    private let url: String?
    private let applicationName: String
    private var connection: PostgresConnection?

    init(index: Int, url: String?, applicationName: String) {
        queue = DispatchQueue(label: "smartsolar.api.pg.\(index)")
        self.url = url
        self.applicationName = applicationName
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self.openConnection()) })
            }
        }
    }

    func close() {
        queue.sync {
            connection?.close()
            connection = nil
        }
    }

    /// The slot's connection, (re)opened when absent or unhealthy. Call on `queue` only.
    private func openConnection() throws -> PostgresConnection {
        if let connection, connection.isHealthy { return connection }
        connection?.close()
        connection = nil
        let fresh = try PostgresConnection(url: url, applicationName: applicationName)
        // Token bookkeeping (`last_used_at`) is written on every request; losing the last
        // few of those writes in a server crash is harmless, waiting for a WAL flush each
        // time is not. Statements that must be durable turn it back on (`ResourceStore.delete`).
        try fresh.execute("SET synchronous_commit TO off")
        connection = fresh
        return fresh
    }
}

/// Hands out free slot indices; callers wait, first come first served, when none is free.
actor SlotDispenser {
    private var free: [Int]
    private var waiters: [CheckedContinuation<Int, Never>] = []

    init(count: Int) { free = Array((0..<count).reversed()) }

    func take() async -> Int {
        if let index = free.popLast() { return index }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func give(_ index: Int) {
        if waiters.isEmpty {
            free.append(index)
        } else {
            waiters.removeFirst().resume(returning: index)
        }
    }
}
