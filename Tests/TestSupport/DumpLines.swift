import Foundation

// MARK: Dumps written for tests

/// One line of a generated line-protocol dump.
public enum DumpLine: Sendable {
    case point(imei: String, field: String, value: ModelValue, timeNanos: Int64, measurement: String = "telemetry")
    case malformed(String)
    /// A comment line, such as the export's `# writing wal data`.
    case comment(String)

    public var text: String {
        switch self {
        case .point(let imei, let field, let value, let time, let measurement):
            return "\(measurement),product_imei=\(imei) \(field)=\(value.lineProtocol) \(time)"
        case .malformed(let text), .comment(let text):
            return text
        }
    }
}

/// A field value as the model and the database see it: `value` or `value_text`.
public enum ModelValue: Sendable, Hashable {
    case number(Double)
    case integer(Int64)
    case boolean(Bool)
    case text(String)

    public var lineProtocol: String {
        switch self {
        case .number(let d): String(d)
        case .integer(let i): "\(i)i"
        case .boolean(let b): b ? "true" : "F"
        case .text(let s): "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
    }
}

/// Writes dumps as real gzip files (through the system's `gzip`), in export framing.
public enum DumpWriter {
    public static func write(_ lines: [DumpLine], to url: URL, framing: Bool = true) throws {
        var text = ""
        if framing {
            text += "# INFLUXDB EXPORT: 1677-09-21T00:12:43Z - 2262-04-11T23:47:16Z\n# DDL\nCREATE DATABASE smartsolar WITH NAME telemetry_rp\n"
            text += "# DML\n# CONTEXT-DATABASE:smartsolar\n# CONTEXT-RETENTION-POLICY:telemetry_rp\n# writing tsm data\n"
        }
        text += lines.map(\.text).joined(separator: "\n") + "\n"
        let plain = url.deletingPathExtension()
        try Data(text.utf8).write(to: plain)
        let result = run("/usr/bin/env", ["gzip", "-n", "-f", plain.path])
        guard result.status == 0 else { throw TestFailure("gzip failed: \(result.stderr)") }
    }

    /// Cuts a gzip file short: a truncated stream the reader must refuse.
    public static func truncate(_ url: URL, keeping fraction: Double) throws {
        let data = try Data(contentsOf: url)
        try data.prefix(Int(Double(data.count) * fraction)).write(to: url)
    }
}

/// Deterministic pseudo-random numbers (SplitMix64), so a failing seed can be replayed.
public struct SeededRandom: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

