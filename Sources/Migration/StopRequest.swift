import Foundation
import PostgresClient

/// A request to stop a run early (SIGTERM from systemd or Kubernetes, Ctrl-C), made from any
/// thread. Requesting cancels the statements the run's connections have in flight; the run
/// checks the request before each dump and every 65,536 points it reads, so the dump in
/// progress fails and is rolled back whole, and the run ends with its report (status
/// `failed`, exit 1) as for any failed dump. Invariant: what committed before the request
/// stays committed and is reported; nothing after it commits but a transaction already
/// committing when it came.
public final class StopRequest: @unchecked Sendable {
    // @unchecked Sendable: every stored property is read and written under `lock`.
    private let lock = NSLock()
    private var why: String?
    private var cancellers: [PostgresCanceller] = []

    public init() {}

    /// What asked the run to stop (`"SIGTERM"`), or nil.
    public var reason: String? { lock.withLock { why } }

    /// Asks the run to stop (the first reason is kept) and cancels the watched connections'
    /// running statements.
    public func request(_ reason: String) {
        let toCancel: [PostgresCanceller] = lock.withLock {
            if why == nil { why = reason }
            return cancellers
        }
        for canceller in toCancel { canceller.cancel() }
    }

    /// Cancels `connection`'s running statement when the run is asked to stop.
    public func watch(_ connection: PostgresConnection) {
        guard let canceller = connection.makeCanceller() else { return }
        lock.withLock { cancellers.append(canceller) }
    }

    /// Throws `RunStopped` once the run has been asked to stop.
    func check() throws {
        if let reason { throw RunStopped(reason: reason) }
    }
}

/// The run was asked to stop (`StopRequest`): the dump in progress is rolled back.
public struct RunStopped: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "stopped by \(reason): the dump in progress was rolled back; run again to go on" }
}
