import Foundation
import PostgresClient

/// A request to stop a run early (SIGTERM from systemd or Kubernetes, Ctrl-C), made from any
/// thread. The run checks it before each dump and every 65,536 points it reads; made while a
/// dump is being written (`whileWriting`), it also cancels the statements the run's
/// connections have in flight. So the dump in progress fails and is not committed, and the
/// run ends with its report (status `failed`, exit 1) as for any failed dump. Invariant: what
/// committed before the request stays committed and is reported; nothing commits after it
/// but a transaction already committing when it came; and no statement outside a dump's
/// writing (the run's record, its set-up) is cancelled.
public final class StopRequest: @unchecked Sendable {
    // @unchecked Sendable: every stored property is read and written under `lock`.
    private let lock = NSLock()
    private var why: String?
    private var cancellers: [PostgresCanceller] = []
    private var writing = false

    public init() {}

    /// What asked the run to stop (`"SIGTERM"`), or nil.
    public var reason: String? { lock.withLock { why } }

    /// Asks the run to stop (the first reason is kept); while a dump is being written, cancels
    /// the watched connections' running statements (under the lock, so none is sent once
    /// `whileWriting` has returned).
    public func request(_ reason: String) {
        lock.withLock {
            if why == nil { why = reason }
            if writing { for canceller in cancellers { canceller.cancel() } }
        }
    }

    /// Runs `body`, a dump's reading and writing, with its statements cancelled by a request.
    func whileWriting<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            if let why { throw RunStopped(reason: why) }
            writing = true
        }
        defer { lock.withLock { writing = false } }
        return try body()
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

/// The run was asked to stop (`StopRequest`): the dump in progress was not committed.
public struct RunStopped: Error, CustomStringConvertible {
    public let reason: String
    public var description: String {
        "stopped by \(reason): the dump in progress was rolled back (under --workers, by the units still writing it); run again to go on"
    }

    /// Whether `error` is what a stop makes of a dump: the stop itself, or a statement it cancelled.
    static func isStop(_ error: Error) -> Bool {
        switch error {
        case is RunStopped: true
        case let error as PostgresError: error.sqlState == .queryCanceled
        case let error as UnitFailed: isStop(error.underlying)
        default: false
        }
    }
}
