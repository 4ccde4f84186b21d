import ArgumentParser
import DumpReader
import Foundation
import TelemetryCore

/// `telemetry-migrate inspect FILE...`: reads dumps without any database and reports, per
/// dump, what the reader sees in it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read dumps without any database and print per-dump counts.",
        discussion: """
        For each dump: points read of the selected measurement, points per measurement, \
        distinct products, first and last time, malformed lines (count and the first 10 with \
        line, column and reason) and the compression verdict (gzip members, plain, or the \
        error). Exits 1 when any dump cannot be read to its end (truncated or corrupt gzip, \
        I/O error).

        Example:
          $ telemetry-migrate inspect fixtures/dumps/20241007_plain_crlf_malformed.lp.gz
          dump                                 status     read  other  malformed  products  ...
          20241007_plain_crlf_malformed.lp.gz  completed    11      1          5         5  ...

          20241007_plain_crlf_malformed.lp.gz: line-protocol, measurements cpu=1 telemetry=11
            line 7:47: expected '=' after field key
            line 8:52: missing timestamp
            ...
          $ telemetry-migrate inspect --report json --retention-policy telemetry_rp dump.lp.gz | jq '.dumps[0].read'
        """
    )

    @Argument(help: "Dump files (gzip or plain; line protocol or influx CSV).")
    var files: [String] = []

    @Option(help: "Report format: text or json.")
    var report: String = "text"

    @Option(help: "The measurement to migrate.")
    var measurement: String = "telemetry"

    @Option(help: "Timestamp precision of line-protocol data: ns, us, ms or s.")
    var precision: String = "ns"

    @Option(help: "Only points under this # CONTEXT-DATABASE count as read (dumps without context match).")
    var database: String?

    @Option(name: .customLong("retention-policy"), help: "Only points under this # CONTEXT-RETENTION-POLICY count as read.")
    var retentionPolicy: String?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one dump file") }
        guard ["text", "json"].contains(report) else { throw ValidationError("--report must be text or json") }
        guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision must be ns, us, ms or s") }
        if measurement.isEmpty { throw ValidationError("--measurement must not be empty") }
    }

    func run() throws {
        let options = ReaderOptions(measurement: measurement, database: database, retentionPolicy: retentionPolicy,
                                    precision: Precision(rawValue: precision) ?? .ns)
        let summaries = files.map { DumpSummary.inspect(path: $0, options: options) }
        let output = report == "json" ? DumpSummary.json(summaries) : DumpSummary.text(summaries)
        FileHandle.standardOutput.write(Data(output.utf8))
        if summaries.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}

/// What `inspect` found in one dump.
struct DumpSummary {
    var name: String
    var read = 0
    var otherMeasurement = 0
    var malformed = 0
    var measurements: [String: Int] = [:]
    /// Distinct IMEIs of selected points (the set itself lives only while the dump is read).
    var products = 0
    var firstTime: Int64?
    var lastTime: Int64?
    var rejects: [Reject] = []
    var compression: String = "unknown"
    var format: String?
    var error: String?

    static let rejectLimit = 10

    static func inspect(path: String, options: ReaderOptions) -> DumpSummary {
        var summary = DumpSummary(name: (path as NSString).lastPathComponent)
        do {
            let dump = try DumpFile(path: path, options: options)
            defer {
                summary.compression = dump.compression?.description ?? "unknown"
                summary.format = dump.format?.rawValue
            }
            var lastIMEI = ""
            var products = Set<String>()
            defer { summary.products = products.count }
            defer { if summary.read > 0 { summary.measurements[options.measurement, default: 0] += summary.read } }
            try dump.read { event in
                switch event {
                case .point(let point):
                    // Every selected point is of `options.measurement`; consecutive points mostly share an IMEI.
                    summary.read += 1
                    if point.imei != lastIMEI {
                        products.insert(point.imei)
                        lastIMEI = point.imei
                    }
                    summary.firstTime = min(summary.firstTime ?? point.time, point.time)
                    summary.lastTime = max(summary.lastTime ?? point.time, point.time)
                case .other(let point):
                    summary.otherMeasurement += 1
                    summary.measurements[point.measurement, default: 0] += 1
                case .malformed(let reject):
                    summary.malformed += 1
                    if summary.rejects.count < rejectLimit { summary.rejects.append(reject) }
                }
            }
        } catch let error as DumpError {
            summary.error = error.description
        } catch {
            summary.error = "\(error)"
        }
        if summary.error != nil { summary.compression = "error" }
        return summary
    }

    static func time(_ nanos: Int64?) -> String? {
        nanos.map { UTCTime.format(micros: UTCTime.micros(fromNanos: $0), .iso) }
    }

    // MARK: JSON (the `dumps` array of DESIGN.md's report, plus inspect's own keys)

    static func json(_ summaries: [DumpSummary]) -> String {
        let dumps: [[String: Any]] = summaries.map { s in
            [
                "name": s.name,
                "status": s.error == nil ? "completed" : "failed",
                "read": s.read,
                "inserted": NSNull(), "stale": NSNull(), "present": NSNull(),
                "unknown_product": NSNull(), "duplicates": NSNull(),
                "other_measurement": s.otherMeasurement,
                "malformed": s.malformed,
                "first_time": time(s.firstTime) ?? NSNull(),
                "last_time": time(s.lastTime) ?? NSNull(),
                "error": s.error ?? NSNull(),
                "measurements": s.measurements,
                "products": s.products,
                "compression": s.compression,
                "format": s.format ?? NSNull(),
                "rejects": s.rejects.map { r in
                    ["line": r.line, "column": r.column.map { $0 as Any } ?? NSNull(), "reason": r.reason] as [String: Any]
                },
            ]
        }
        let data = (try? JSONSerialization.data(withJSONObject: ["dumps": dumps], options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // MARK: Text

    static func text(_ summaries: [DumpSummary]) -> String {
        var out = ""
        let header = ["dump", "status", "read", "other", "malformed", "products", "first time", "last time", "compression"]
        let rows = summaries.map { s in
            [s.name, s.error == nil ? "completed" : "failed", String(s.read), String(s.otherMeasurement),
             String(s.malformed), String(s.products), time(s.firstTime) ?? "-", time(s.lastTime) ?? "-", s.compression]
        }
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c >= 2 && c <= 5 ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        out += line(header)
        for row in rows { out += line(row) }
        for s in summaries {
            out += "\n\(s.name):"
            if let format = s.format { out += " \(format)," }
            out += " measurements " + (s.measurements.isEmpty ? "none" :
                s.measurements.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) + "\n"
            if let error = s.error { out += "  error: \(error)\n" }
            for r in s.rejects {
                out += "  line \(r.line)\(r.column.map { ":\($0)" } ?? ""): \(r.reason)\n"
            }
            if s.malformed > s.rejects.count { out += "  ... and \(s.malformed - s.rejects.count) more malformed lines\n" }
        }
        return out
    }
}
