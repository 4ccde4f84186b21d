import ArgumentParser
import DumpReader
import Foundation
import Migration

/// `telemetry-migrate inspect FILE...`: reads dumps without any database and reports, per
/// dump, what the reader sees in it.
extension TelemetryMigrate {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read dumps without any database and print per-dump counts.",
            discussion: """
            For each dump: points read (of any measurement), points of other measurements, \
            points per measurement, \
            distinct products, first and last time, malformed lines (count and the first 10 with \
            line, column and reason) and the compression verdict (gzip members, plain, or the \
            error). Exits 1 when any dump cannot be read to its end (truncated or corrupt gzip, \
            I/O error).

            Example:
              $ telemetry-migrate inspect fixtures/dumps/20241007_plain_crlf_malformed.lp.gz
              dump                                 status     read  other  malformed  products  ...
              20241007_plain_crlf_malformed.lp.gz  completed    12      1          5         5  ...

              20241007_plain_crlf_malformed.lp.gz: line-protocol, measurements cpu=1 telemetry=11
                line 7:47: expected '=' after field key
                line 8:52: missing timestamp
                ...
              $ telemetry-migrate inspect --report json --retention-policy telemetry_rp dump.lp.gz | jq '.dumps[0].read'
            """
        )

        @Argument(help: "Dump files (gzip or plain; line protocol or influx CSV).")
        var files: [String] = []

        @OptionGroup var reader: ReaderOptionGroup
        @OptionGroup var report: ReportOptionGroup

        func validate() throws {
            if files.isEmpty { throw ValidationError("give at least one dump file") }
            guard report.report != .csv else { throw ValidationError("--report must be text or json") }
            if reader.measurement.isEmpty { throw ValidationError("--measurement must not be empty") }
        }

        func run() throws {
            let summaries = files.map { DumpSummary.inspect(path: $0, options: reader.readerOptions) }
            try report.emit(report.report == .json ? DumpSummary.json(summaries) : Self.text(summaries))
            if summaries.contains(where: { $0.error != nil }) { throw ExitCode.dumpFailed }
        }

        /// A table of the dumps, then per dump its measurements and first malformed lines.
        static func text(_ summaries: [DumpSummary]) -> String {
            let header = ["dump", "status", "read", "other", "malformed", "products", "first time", "last time", "compression"]
            let rows = summaries.map { s in
                [Table.cell(s.name), s.error == nil ? "completed" : "failed", String(s.read), String(s.otherMeasurement),
                 String(s.malformed), String(s.products), DumpSummary.time(s.firstTime) ?? "-", DumpSummary.time(s.lastTime) ?? "-",
                 s.compression]
            }
            var out = Table(header: header, rows: rows, rightAligned: Set(2...5), underlined: false).rendered()
            for s in summaries {
                out += "\n\(Table.cell(s.name)):"
                if let format = s.format { out += " \(format)," }
                out += " measurements " + (s.measurements.isEmpty ? "none" :
                    s.measurements.sorted { $0.key < $1.key }.map { "\(Table.cell($0.key))=\($0.value)" }.joined(separator: " ")) + "\n"
                if let error = s.error { out += "  error: \(error)\n" }
                for r in s.rejects {
                    out += "  line \(r.line)\(r.column.map { ":\($0)" } ?? ""): \(r.reason)\n"
                }
                if s.malformed > s.rejects.count { out += "  ... and \(s.malformed - s.rejects.count) more malformed lines\n" }
            }
            return out
        }
    }
}
