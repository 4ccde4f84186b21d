import TelemetryCore

/// A query parameter. Always sent as text with an unspecified type, so the server infers
/// the type from context; SQL may cast (`$1::timestamp`). Never spliced into SQL text.
public enum PostgresValue: Sendable, Hashable {
    case null
    case text(String)
    case int(Int64)
    /// NaN and ±infinity are sent as PostgreSQL spells them.
    case double(Double)
    case bool(Bool)
    /// Microseconds since 1970-01-01 UTC, sent as `YYYY-MM-DD HH:MM:SS.ffffff`.
    case timestamp(micros: Int64)

    /// The text form sent to the server; nil for SQL NULL.
    public var textValue: String? {
        switch self {
        case .null: return nil
        case .text(let s): return s
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return "\(d)"
        case .bool(let b): return b ? "t" : "f"
        case .timestamp(let micros): return UTCTime.format(micros: micros, .sql)
        }
    }
}

extension PostgresValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
}
