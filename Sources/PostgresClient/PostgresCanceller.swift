import CLibPQ
import Foundation

/// Asks the server to cancel whatever statement a connection is running (libpq's
/// `PQcancel`). Unlike the connection, it may be used from any thread, also while another
/// thread is blocked in that connection's statement; the statement then fails with
/// SQLSTATE 57014 (`SQLState.queryCanceled`). Asking when nothing runs does nothing.
// @unchecked Sendable: libpq documents PQcancel as thread-safe on a PGcancel object; the
// object is created once, never mutated, and freed in deinit.
public final class PostgresCanceller: @unchecked Sendable {
    private let handle: OpaquePointer

    init?(connection: OpaquePointer) {
        guard let handle = PQgetCancel(connection) else { return nil }
        self.handle = handle
    }

    deinit { PQfreeCancel(handle) }

    /// Sends the cancel request (a short separate connection to the server). False when
    /// it could not be sent.
    @discardableResult
    public func cancel() -> Bool {
        var buffer = [CChar](repeating: 0, count: 256)
        return PQcancel(handle, &buffer, Int32(buffer.count)) == 1
    }
}

extension PostgresConnection {
    /// A canceller for this session's running statements; nil when closed. It stays valid
    /// (and harmless) after the connection closes.
    public func makeCanceller() -> PostgresCanceller? {
        guard let conn = rawConnection else { return nil }
        return PostgresCanceller(connection: conn)
    }
}
