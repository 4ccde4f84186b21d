import CLibPQ
import TelemetryCore

/// The rows of a query result, copied out of libpq's `PGresult` (which is cleared before
/// the query returns), so they outlive the connection and may cross threads.
/// Values are PostgreSQL's text output; the typed accessors of `PostgresRow` parse it.
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// Storage is immutable after creation, so sharing it between copies is safe.
    final class Storage: Sendable {
        let columns: [String]
        /// Row-major: `values[row * columns.count + column]`; nil = SQL NULL.
        let values: [String?]

        init(columns: [String], values: [String?]) {
            self.columns = columns
            self.values = values
        }
    }

    let storage: Storage

    init(columns: [String], values: [String?]) {
        storage = Storage(columns: columns, values: values)
    }

    /// Column names in result order.
    public var columns: [String] { storage.columns }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.columns.isEmpty ? 0 : storage.values.count / storage.columns.count }
    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < endIndex, "row index out of range")
        return PostgresRow(storage: storage, row: position)
    }
}

/// One row of `PostgresRows`. Column accessors take the column's position; an index out of
/// range is a programming error (trap). Every accessor returns nil for SQL NULL.
public struct PostgresRow: Sendable {
    let storage: PostgresRows.Storage
    let row: Int

    /// The raw text value.
    public func string(_ column: Int) -> String? {
        precondition(column >= 0 && column < storage.columns.count, "column index out of range")
        return storage.values[row * storage.columns.count + column]
    }

    /// The value of the first column named `name`, or nil when NULL or no such column.
    /// A linear search: results have few columns, and most readers use positions, so no
    /// result pays for an index of its names.
    public subscript(_ name: String) -> String? {
        guard let column = storage.columns.firstIndex(of: name) else { return nil }
        return string(column)
    }

    public func int64(_ column: Int) -> Int64? {
        string(column).flatMap { Int64($0) }
    }

    /// `double precision` / `real` / `numeric` text, including `NaN`, `Infinity`, `-Infinity`.
    public func double(_ column: Int) -> Double? {
        guard let text = string(column) else { return nil }
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text)
        }
    }

    /// `t`/`f` (also `true`/`false`).
    public func bool(_ column: Int) -> Bool? {
        switch string(column) {
        case "t", "true": return true
        case "f", "false": return false
        default: return nil
        }
    }

    /// Microseconds since 1970-01-01 of a `timestamp` (UTC by this project's convention)
    /// printed as `YYYY-MM-DD HH:MM:SS[.ffffff]` (the connection sets `DateStyle=ISO`).
    /// nil for NULL and for what has no microsecond: `infinity`, `-infinity`, BC dates.
    public func timestampMicros(_ column: Int) -> Int64? {
        string(column).flatMap { UTCTime.parseMicros($0) }
    }
}

/// One row of a result as libpq holds it (`PostgresConnection.forEachRow`), valid only during
/// the call that receives it. Text values, read as `PostgresRow` reads them.
public struct PostgresResultRow {
    let result: OpaquePointer
    let row: Int32

    /// The raw text value; nil for SQL NULL.
    public func string(_ column: Int) -> String? {
        withBytes(column) { String(decoding: $0, as: UTF8.self) }
    }

    /// As `PostgresRow.timestampMicros`, parsed where libpq holds the text.
    public func timestampMicros(_ column: Int) -> Int64? {
        withBytes(column) { UTCTime.parseMicros(utf8: $0) } ?? nil
    }

    private func withBytes<T>(_ column: Int, _ read: (UnsafeBufferPointer<UInt8>) -> T) -> T? {
        precondition(column >= 0 && column < Int(PQnfields(result)), "column index out of range")
        let column = Int32(column)
        guard PQgetisnull(result, row, column) == 0, let value = PQgetvalue(result, row, column) else { return nil }
        let bytes = UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self)
        return read(UnsafeBufferPointer(start: bytes, count: Int(PQgetlength(result, row, column))))
    }
}
