/// Encodes rows in PostgreSQL's binary COPY format and hands full buffers to the connection.
///
/// Each row: `startRow(columnCount:)`, then exactly that many `write` calls in column order,
/// each with the column's exact type (int8 for bigint, float8 for double precision, ...).
/// Invariant: the buffer holds at most one row beyond `flushThreshold` bytes.
/// A failed send (the connection lost) is remembered, and the `startRow` or
/// `append(encoded:)` whose flush failed throws, as does every one after it, so that the
/// body stops there (not after reading the rest of its input into a dead socket); `copyIn`
/// reports the connection's error instead.
public struct BinaryCopyWriter {
    /// Flush once the buffer holds this many bytes.
    static let flushThreshold = 256 * 1024
    /// µs between 1970-01-01 and 2000-01-01, PostgreSQL's timestamp epoch.
    static let postgresEpochMicros: Int64 = 946_684_800_000_000

    private var buffer: [UInt8] = []
    private let sink: CopySink
    /// Rows started so far.
    public private(set) var rowCount = 0

    init(sink: CopySink, header: Bool = true) {
        self.sink = sink
        buffer.reserveCapacity(Self.flushThreshold + 64 * 1024)
        guard header else { return }
        buffer.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])  // PGCOPY\n\377\r\n\0
        append(Int32(0))  // flags
        append(Int32(0))  // header extension length
    }

    /// A writer with no connection: it encodes rows only (no header, no trailer) and hands
    /// each full buffer to `chunk`, for another thread to send with `append(encoded:)` into
    /// a `copyIn` of the same columns. Call `flushRows()` after the last row.
    public init(encodingRowsInto chunk: @escaping ([UInt8]) -> Void) {
        self.init(sink: CopySink { bytes in chunk(Array(bytes)); return nil }, header: false)
    }

    /// Hands the rows buffered so far to the sink (the chunk closure of `init(encodingRowsInto:)`).
    public mutating func flushRows() {
        flush()
    }

    /// Appends whole rows encoded by an `init(encodingRowsInto:)` writer. Throws once a
    /// send failed.
    public mutating func append(encoded rows: [UInt8]) throws {
        flush()
        if !rows.isEmpty, sink.failure == nil {
            sink.failure = rows.withUnsafeBufferPointer { sink.send(UnsafeRawBufferPointer($0)) }
        }
        if sink.failure != nil { throw CopySendFailed() }
    }

    /// Starts a row of `columnCount` values. Throws once a send failed.
    public mutating func startRow(columnCount: Int16) throws {
        if buffer.count >= Self.flushThreshold {
            flush()
            if sink.failure != nil { throw CopySendFailed() }
        }
        append(columnCount)
        rowCount += 1
    }

    /// text / varchar; nil is NULL.
    public mutating func write(_ value: String?) {
        guard var text = value else { return writeNull() }
        text.withUTF8 { bytes in
            append(Int32(bytes.count))
            buffer.append(contentsOf: bytes)
        }
    }

    /// int8 (bigint).
    public mutating func write(_ value: Int64?) {
        guard let value else { return writeNull() }
        append(Int32(8))
        append(value)
    }

    /// int4 (integer).
    public mutating func write(int32 value: Int32?) {
        guard let value else { return writeNull() }
        append(Int32(4))
        append(value)
    }

    /// float8 (double precision); NaN and ±infinity are preserved.
    public mutating func write(_ value: Double?) {
        guard let value else { return writeNull() }
        append(Int32(8))
        append(value.bitPattern)
    }

    /// bool.
    public mutating func write(_ value: Bool?) {
        guard let value else { return writeNull() }
        append(Int32(1))
        buffer.append(value ? 1 : 0)
    }

    /// timestamp (without time zone) from µs since 1970-01-01 UTC.
    public mutating func writeTimestamp(micros: Int64?) {
        guard let micros else { return writeNull() }
        append(Int32(8))
        append(micros &- Self.postgresEpochMicros)
    }

    public mutating func writeNull() {
        append(Int32(-1))
    }

    /// Appends the trailer and sends what is left.
    mutating func finish() {
        append(Int16(-1))
        flush()
    }

    private mutating func flush() {
        guard !buffer.isEmpty else { return }
        if sink.failure == nil {
            sink.failure = buffer.withUnsafeBufferPointer { sink.send(UnsafeRawBufferPointer($0)) }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private mutating func append<I: FixedWidthInteger>(_ value: I) {
        // As typed bytes: `append(contentsOf:)` copies those in one go (raw bytes went one
        // by one, 5% of a nightly's CPU).
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0.assumingMemoryBound(to: UInt8.self)) }
    }
}

/// A send of a `BinaryCopyWriter` failed: `copyIn` throws the connection's error instead.
struct CopySendFailed: Error {}

/// Where a `BinaryCopyWriter` sends its bytes (`PQputCopyData` in `copyIn`).
final class CopySink {
    /// Sends bytes; returns an error message on failure.
    let send: (UnsafeRawBufferPointer) -> String?
    /// The first failure; later sends are skipped.
    var failure: String?

    init(send: @escaping (UnsafeRawBufferPointer) -> String?) {
        self.send = send
    }
}
