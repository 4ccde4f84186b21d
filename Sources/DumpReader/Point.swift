/// One field value as InfluxDB typed it.
public enum FieldValue: Sendable, Hashable {
    case float(Double)
    case integer(Int64)
    case unsigned(UInt64)
    case boolean(Bool)
    case string(String)
}

/// A point: one field value of one series at one instant, as DESIGN.md counts them.
public struct Point: Sendable, Hashable {
    public var measurement: String
    /// The `product_imei` tag. For the selected measurement it is always 1-15 ASCII digits
    /// (the reader rejects the line otherwise); for other measurements it may be "".
    public var imei: String
    public var field: String
    public var value: FieldValue
    /// Nanoseconds since the Unix epoch, after applying the configured precision.
    public var time: Int64
    /// The 1-based line of the dump this point starts on.
    public var line: Int

    public init(measurement: String, imei: String, field: String, value: FieldValue, time: Int64, line: Int) {
        self.measurement = measurement
        self.imei = imei
        self.field = field
        self.value = value
        self.time = time
        self.line = line
    }
}

/// A rejected (malformed) line: where it is, why, and what it said.
public struct Reject: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// 1-based line number the rejected line starts on.
    public var line: Int
    /// 1-based byte column where the problem was found, when known.
    public var column: Int?
    public var reason: String
    /// The line as read (lossily decoded, truncated to a sane length).
    public var raw: String

    public init(file: String, line: Int, column: Int?, reason: String, raw: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
        self.raw = raw
    }

    public var description: String {
        "\(file):\(line)\(column.map { ":\($0)" } ?? ""): \(reason)"
    }
}

/// Timestamp precision of line-protocol data lines (CSV times are always nanoseconds or RFC 3339).
public enum Precision: String, Sendable, CaseIterable {
    case ns, us, ms, s

    /// Nanoseconds per unit.
    public var nanos: Int64 {
        switch self {
        case .ns: 1
        case .us: 1_000
        case .ms: 1_000_000
        case .s: 1_000_000_000
        }
    }
}

/// Which points a reader hands on as `.point`; everything else well-formed is `.other`.
public struct ReaderOptions: Sendable {
    /// The measurement to migrate (DESIGN.md default: `telemetry`).
    public var measurement: String
    /// When set, only points under this `# CONTEXT-DATABASE` are selected. Dumps that state
    /// no context (plain line protocol, CSV) match any database.
    public var database: String?
    /// When set, only points under this `# CONTEXT-RETENTION-POLICY` are selected (same rule).
    public var retentionPolicy: String?
    public var precision: Precision
    /// A line longer than this is malformed (never an unbounded allocation).
    public var maxLineBytes: Int
    /// Decompressed bytes handed from the decoder to the parser at once (4 such buffers are
    /// in flight). Events and line numbers never depend on it; tests and fuzzers vary it to
    /// split inputs at every offset.
    public var chunkSize: Int

    public init(measurement: String = "telemetry", database: String? = nil, retentionPolicy: String? = nil,
                precision: Precision = .ns, maxLineBytes: Int = 1 << 20, chunkSize: Int = 1 << 18) {
        self.measurement = measurement
        self.database = database
        self.retentionPolicy = retentionPolicy
        self.precision = precision
        self.maxLineBytes = maxLineBytes
        self.chunkSize = max(1, chunkSize)
    }
}

/// What a reader reports, in file order.
public enum DumpEvent: Sendable {
    /// A point of the selected measurement (and database / retention policy), with a valid IMEI.
    case point(Point)
    /// A well-formed point of another measurement, database or retention policy.
    case other(Point)
    /// A rejected line. Counts once per line, whatever the number of fields on it.
    case malformed(Reject)
}
