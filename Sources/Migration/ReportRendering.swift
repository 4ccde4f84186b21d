import Foundation
import TelemetryCore

/// The three renderings of a `RunReport`: a table for a person, JSON and CSV for machines.
public enum ReportFormat: String, Sendable, CaseIterable {
    case text, json, csv
}

extension RunReport {
    public func rendered(as format: ReportFormat) -> String {
        switch format {
        case .text: textTable()
        case .json: jsonText()
        case .csv: csv()
        }
    }

    // MARK: JSON (keys fixed by DESIGN.md; more keys are welcome)

    /// What `migrate_run.report` keeps: the report, compact, without its per-product list (a
    /// fleet's run touches 100,000 products), with their count (`products_touched`) instead.
    public var recordJSON: String {
        var json = JSONWriter(style: .compact)
        write(to: &json, withProducts: false)
        return json.output
    }

    /// The JSON report, indented, with one line per product, written straight into the text:
    /// a fleet's report lists 100,000 products, and nothing but the text grows with that.
    func jsonText() -> String {
        var json = JSONWriter(style: .pretty, reservingCapacity: 2048 + dumps.count * 400 + products.count * 130)
        write(to: &json, withProducts: true)
        return json.output + "\n"
    }

    private func write(to json: inout JSONWriter, withProducts: Bool) {
        json.object { json in
            json.member("mode", mode)
            json.member("dry_run", dryRun)
            json.member("status", status.rawValue)
            json.key("dumps")
            json.array { json in
                for dump in dumps { dump.write(to: &json) }
            }
            if withProducts {
                json.key("products")
                json.array { json in
                    for product in products { product.write(to: &json) }
                }
            } else {
                json.member("products_touched", products.count)
            }
            json.key("totals")
            json.object { totals.writeMembers(to: &$0) }
            json.member("duration_s", (durationSeconds * 1000).rounded() / 1000)
            json.member("points_per_second", pointsPerSecond.rounded())
            json.member("message", message)
            json.member("run_id", runID)
        }
    }

    // MARK: CSV: one header, a row per dump, a totals row, a row per product

    static let csvHeader = [
        "section", "name", "status", "read", "inserted", "stale", "present", "unknown_product",
        "other_measurement", "malformed", "duplicates", "filtered", "first_time", "last_time", "error",
        "watermark_before", "watermark_after", "rows",
    ]

    public func csv() -> String {
        var out = Self.csvHeader.joined(separator: ",") + "\n"
        out.reserveCapacity(products.count * 80)
        func append(_ cells: [String]) {
            for (index, cell) in cells.enumerated() {
                if index > 0 { out += "," }
                out += csvEscape(cell)
            }
            out += "\n"
        }
        func countCells(_ c: DumpCounts) -> [String] {
            [c.read, c.inserted, c.stale, c.present, c.unknownProduct, c.otherMeasurement, c.malformed,
             c.duplicates, c.filtered].map(String.init) + [formatTime(c.firstTime), formatTime(c.lastTime)]
        }
        for dump in dumps {
            append(["dump", dump.name, dump.status.rawValue] + countCells(dump.counts) + [dump.error ?? "", "", "", ""])
        }
        append(["total", "", status.rawValue] + countCells(totals) + [message ?? "", "", "", ""])
        let emptyCounts = String(repeating: ",", count: 12)
        for product in products {
            out += "product,"
            out += csvEscape(product.imei)
            out += ",," + emptyCounts
            out += formatTime(product.watermarkBefore) + "," + formatTime(product.watermarkAfter) + "," + String(product.rows) + "\n"
        }
        return out
    }

    // MARK: Text

    public func textTable() -> String {
        var out = "telemetry-migrate \(mode)\(dryRun ? " (dry run: nothing written)" : "") — status \(status.rawValue)\n"
        if let message { out += "  \(message)\n" }
        out += "\n"
        let verb = dryRun ? "would insert" : "inserted"
        let header = ["dump", "status", "read", verb, "stale", "present", "unknown", "other", "malformed", "dups", "first time", "last time"]
        var rows = dumps.map { dump -> [String] in
            [Table.cell(dump.name), dump.status.rawValue] + textCounts(dump.counts)
        }
        rows.append(["total", ""] + textCounts(totals))
        out += Table(header: header, rows: rows, rightAligned: Set(2..<10)).rendered()
        for dump in dumps where dump.error != nil {
            out += "\n\(Table.cell(dump.name)): \(dump.error!)\n"
        }
        if !products.isEmpty {
            out += "\n"
            let shown = products.prefix(50)
            out += Table(header: ["product_imei", "watermark before", "watermark after", "rows"],
                         rows: shown.map { [$0.imei, formatTime($0.watermarkBefore, empty: "-"), formatTime($0.watermarkAfter, empty: "-"), String($0.rows)] },
                         rightAligned: [3]).rendered()
            if products.count > shown.count {
                out += "… and \(products.count - shown.count) more products (see --report json)\n"
            }
        }
        let t = totals
        out += "\n\(dumps.filter { $0.status == .completed || $0.status == .planned }.count) dumps processed, "
        out += "\(dumps.filter { $0.status == .skipped }.count) skipped; \(t.read) points read, \(t.inserted) \(verb); "
        out += "\(products.count) products touched; \(String(format: "%.2f", durationSeconds)) s, \(Int(pointsPerSecond.rounded())) points/s\n"
        return out
    }

    private func textCounts(_ c: DumpCounts) -> [String] {
        [c.read, c.inserted, c.stale, c.present, c.unknownProduct, c.otherMeasurement, c.malformed, c.duplicates].map(String.init)
            + [formatTime(c.firstTime, empty: "-"), formatTime(c.lastTime, empty: "-")]
    }
}

extension DumpReport {
    func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("name", name)
            json.member("status", status.rawValue)
            counts.writeMembers(to: &json)
            json.member("error", error)
        }
    }
}

extension DumpCounts {
    /// The counters as members of an enclosing object, in DESIGN.md's order.
    func writeMembers(to json: inout JSONWriter) {
        json.member("read", read)
        json.member("inserted", inserted)
        json.member("stale", stale)
        json.member("present", present)
        json.member("unknown_product", unknownProduct)
        json.member("other_measurement", otherMeasurement)
        json.member("malformed", malformed)
        json.member("duplicates", duplicates)
        json.member("filtered", filtered)
        json.member("first_time", firstTime.map { UTCTime.format(micros: $0) })
        json.member("last_time", lastTime.map { UTCTime.format(micros: $0) })
    }
}

extension ProductReport {
    /// One product, on one line.
    func write(to json: inout JSONWriter) {
        json.object(style: .inline) { json in
            json.member("product_imei", imei)
            json.member("watermark_before", watermarkBefore.map { UTCTime.format(micros: $0) })
            json.member("watermark_after", watermarkAfter.map { UTCTime.format(micros: $0) })
            json.member("rows", rows)
        }
    }
}

func formatTime(_ micros: Int64?, empty: String = "") -> String {
    micros.map { UTCTime.format(micros: $0) } ?? empty
}

/// RFC 4180 quoting where a cell needs it.
public func csvEscape(_ cell: String) -> String {
    guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
    return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// A plain-text table with padded columns.
public struct Table: Sendable {
    public var header: [String]
    public var rows: [[String]]
    public var rightAligned: Set<Int>
    /// A line of dashes under the header.
    public var underlined: Bool

    public init(header: [String], rows: [[String]], rightAligned: Set<Int> = [], underlined: Bool = true) {
        self.header = header
        self.rows = rows
        self.rightAligned = rightAligned
        self.underlined = underlined
    }

    /// `text` as a cell that keeps the table a table: as it is when it is printable ASCII,
    /// else quoted as a JSON string of ASCII only (`"a\tb"`, `"donn\u00e9es"`), so no name can
    /// split a row or shift a column.
    public static func cell(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value >= 0x7F }) else { return text }
        var out = ""
        JSONWriter.appendQuoted(text, to: &out, asciiOnly: true)
        return out
    }

    public func rendered() -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
                return rightAligned.contains(index) ? padding + cell : cell + padding
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = line(header) + "\n"
        if underlined { out += line(widths.map { String(repeating: "-", count: $0) }) + "\n" }
        for row in rows { out += line(row) + "\n" }
        return out
    }
}
