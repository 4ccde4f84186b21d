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

    /// The report as a JSON document; `products` may be left out (see `recordJSON`).
    public func json(withProducts: Bool = true) -> JSONValue {
        .object([
            ("mode", .string(mode)),
            ("dry_run", .bool(dryRun)),
            ("status", .string(status.rawValue)),
            ("dumps", .array(dumps.map(\.json))),
            withProducts ? ("products", .array(products.map(\.json))) : ("products_touched", .int(products.count)),
            ("totals", totals.json),
            ("duration_s", .double((durationSeconds * 1000).rounded() / 1000)),
            ("points_per_second", .double(pointsPerSecond.rounded())),
            ("message", .string(message)),
            ("run_id", runID.map { .int(Int($0)) } ?? .null),
        ])
    }

    /// What `migrate_run.report` keeps: the report without its per-product list (a fleet's
    /// run touches 100,000 products), with their count instead.
    public var recordJSON: String { json(withProducts: false).rendered() }

    /// The JSON report, indented, with one line per product. Products are written straight
    /// into the text, not built as a document first: a fleet's report lists 100,000 of them,
    /// and memory must not grow with that.
    func jsonText() -> String {
        let marker = "\n  \"products\": []"
        var document = json(withProducts: false)
        if case .object(var members) = document {
            members[4] = ("products", .array([]))
            document = .object(members)
        }
        let skeleton = document.rendered(pretty: true)
        guard let range = skeleton.range(of: marker) else { return skeleton + "\n" }
        var out = String(skeleton[..<range.lowerBound])
        out.reserveCapacity(skeleton.utf8.count + products.count * 130)
        out += "\n  \"products\": ["
        for (index, product) in products.enumerated() {
            out += index == 0 ? "\n    " : ",\n    "
            product.appendJSON(to: &out)
        }
        out += products.isEmpty ? "]" : "\n  ]"
        out += skeleton[range.upperBound...]
        out += "\n"
        return out
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
            [dump.name, dump.status.rawValue] + textCounts(dump.counts)
        }
        rows.append(["total", ""] + textCounts(totals))
        out += Table(header: header, rows: rows, rightAligned: Set(2..<10)).rendered()
        for dump in dumps where dump.error != nil {
            out += "\n\(dump.name): \(dump.error!)\n"
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
    var json: JSONValue {
        var members = [("name", JSONValue.string(name)), ("status", .string(status.rawValue))]
        members += counts.jsonMembers
        members.append(("error", .string(error)))
        return .object(members)
    }
}

extension DumpCounts {
    var jsonMembers: [(String, JSONValue)] {
        [
            ("read", .int(read)), ("inserted", .int(inserted)), ("stale", .int(stale)), ("present", .int(present)),
            ("unknown_product", .int(unknownProduct)), ("other_measurement", .int(otherMeasurement)),
            ("malformed", .int(malformed)), ("duplicates", .int(duplicates)), ("filtered", .int(filtered)),
            ("first_time", .string(firstTime.map { UTCTime.format(micros: $0) })),
            ("last_time", .string(lastTime.map { UTCTime.format(micros: $0) })),
        ]
    }

    var json: JSONValue { .object(jsonMembers) }
}

extension ProductReport {
    /// `json`, compact, appended without building it first.
    func appendJSON(to out: inout String) {
        out += "{\"product_imei\": "
        JSONString.append(imei, to: &out)
        out += ", \"watermark_before\": "
        if let watermarkBefore { out += "\"" + UTCTime.format(micros: watermarkBefore) + "\"" } else { out += "null" }
        out += ", \"watermark_after\": "
        if let watermarkAfter { out += "\"" + UTCTime.format(micros: watermarkAfter) + "\"" } else { out += "null" }
        out += ", \"rows\": " + String(rows) + "}"
    }

    var json: JSONValue {
        .object([
            ("product_imei", .string(imei)),
            ("watermark_before", .string(watermarkBefore.map { UTCTime.format(micros: $0) })),
            ("watermark_after", .string(watermarkAfter.map { UTCTime.format(micros: $0) })),
            ("rows", .int(rows)),
        ])
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

    public init(header: [String], rows: [[String]], rightAligned: Set<Int> = []) {
        self.header = header
        self.rows = rows
        self.rightAligned = rightAligned
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
        var out = line(header) + "\n" + line(widths.map { String(repeating: "-", count: $0) }) + "\n"
        for row in rows { out += line(row) + "\n" }
        return out
    }
}
