import TelemetryCore

/// Parses the CSV that the `influx` CLI writes with `-format csv`.
///
/// A header `name,time,<columns>` or `name,tags,time,<columns>` starts each series (it repeats
/// when the series changes). `time` is epoch nanoseconds or RFC 3339. The `product_imei`
/// column, or the `product_imei=` pair of the `tags` cell, names the product; every other
/// non-empty cell is one field value: `true`/`false` a boolean, an integer literal that fits
/// an Int64 an `.integer`, another number a `.float`, anything else a `.string`. Cells are
/// RFC 4180 (`"a ""quoted"", b"`). A line `ERR: ...` that the CLI printed is malformed.
struct CSVParser {
    let options: ReaderOptions
    private(set) var fields: [ParsedField] = []
    private enum Column {
        case name, tags, time, imei
        case field(String)
        /// A column whose name cannot be a field key (empty, over 255 bytes, not UTF-8, NUL):
        /// a value in it makes its row malformed; an empty cell there is no value, as anywhere.
        case invalid(String)
    }
    private var columns: [Column] = []
    private var names = NameTable()
    private var tagValues = NameTable()
    /// Cell ranges of the current record, and whether each was quoted (needs unescaping).
    private var cells: [(range: Range<Int>, quoted: Bool)] = []
    private var scratch: [UInt8] = []

    init(options: ReaderOptions) {
        self.options = options
    }

    private static let errPrefix = Array("ERR:".utf8)

    mutating func parse(_ p: UnsafeBufferPointer<UInt8>) -> LineOutcome {
        fields.removeAll(keepingCapacity: true)
        if p.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return .nothing }
        if p.count >= 4, p[0] == 0x45, p[1] == 0x52, p[2] == 0x52, p[3] == 0x3A {
            return .malformed(column: 1, reason: "influx CLI error line")
        }
        if let problem = split(p) { return .malformed(column: problem.column, reason: problem.reason) }
        if isHeader(p) {
            readHeader(p)
            return .nothing
        }
        guard !columns.isEmpty else { return .malformed(column: 1, reason: "CSV row before any header") }
        guard cells.count == columns.count else {
            let column = cells.count > columns.count ? cells[columns.count].range.lowerBound + 1 : p.count + 1
            return .malformed(column: column, reason: "expected \(columns.count) cells, found \(cells.count)")
        }
        return row(p)
    }

    private struct Problem {
        var column: Int
        var reason: String
    }

    private mutating func split(_ p: UnsafeBufferPointer<UInt8>) -> Problem? {
        cells.removeAll(keepingCapacity: true)
        let n = p.count
        var i = 0
        while true {
            if i < n, p[i] == 0x22 {
                let open = i
                i += 1
                var closed = false
                while i < n {
                    if p[i] == 0x22 {
                        if i + 1 < n, p[i + 1] == 0x22 {
                            i += 2
                            continue
                        }
                        closed = true
                        break
                    }
                    i += 1
                }
                guard closed else { return Problem(column: open + 1, reason: "unterminated quoted cell") }
                cells.append((open + 1..<i, true))
                i += 1
                if i < n, p[i] != 0x2C { return Problem(column: i + 1, reason: "expected ',' after quoted cell") }
            } else {
                let start = i
                while i < n, p[i] != 0x2C { i += 1 }
                cells.append((start..<i, false))
            }
            if i >= n { return nil }
            i += 1  // the comma
        }
    }

    private func cellEquals(_ p: UnsafeBufferPointer<UInt8>, _ index: Int, _ text: String) -> Bool {
        index < cells.count && UnsafeBufferPointer(rebasing: p[cells[index].range]).elementsEqual(text.utf8)
    }

    private func isHeader(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        cellEquals(p, 0, "name") && (cellEquals(p, 1, "time") || (cellEquals(p, 1, "tags") && cellEquals(p, 2, "time")))
    }

    private mutating func readHeader(_ p: UnsafeBufferPointer<UInt8>) {
        var newColumns: [Column] = []
        let hasTags = cellEquals(p, 1, "tags")
        let timeIndex = hasTags ? 2 : 1
        for index in cells.indices {
            let text = cellBytes(p, index)
            if index == 0 {
                newColumns.append(.name)
            } else if hasTags && index == 1 {
                newColumns.append(.tags)
            } else if index == timeIndex {
                newColumns.append(.time)
            } else if text.elementsEqual("product_imei".utf8) {
                newColumns.append(.imei)
            } else if let problem = text.withUnsafeBufferPointer({ LineProtocolParser.fieldKeyProblem($0) }) {
                newColumns.append(.invalid(text.isEmpty ? "empty column name" : problem))
            } else {
                newColumns.append(.field(text.withUnsafeBufferPointer { names.intern($0) }))
            }
        }
        columns = newColumns
    }

    /// A cell's bytes, with `""` unescaped when it was quoted.
    private func cellBytes(_ p: UnsafeBufferPointer<UInt8>, _ index: Int) -> [UInt8] {
        let cell = cells[index]
        var out: [UInt8] = []
        out.reserveCapacity(cell.range.count)
        var i = cell.range.lowerBound
        while i < cell.range.upperBound {
            out.append(p[i])
            i += cell.quoted && p[i] == 0x22 ? 2 : 1
        }
        return out
    }

    /// Calls `body` with a cell's (unescaped) bytes without copying unquoted cells.
    private mutating func withCell<R>(_ p: UnsafeBufferPointer<UInt8>, _ index: Int,
                                      _ body: (UnsafeBufferPointer<UInt8>, inout NameTable, inout NameTable) -> R) -> R {
        let cell = cells[index]
        if !cell.quoted || !p[cell.range].contains(0x22) {
            return body(UnsafeBufferPointer(rebasing: p[cell.range]), &names, &tagValues)
        }
        scratch = cellBytes(p, index)
        let bytes = scratch
        return bytes.withUnsafeBufferPointer { body($0, &names, &tagValues) }
    }

    private mutating func row(_ p: UnsafeBufferPointer<UInt8>) -> LineOutcome {
        var measurement = ""
        var imei: (String, Int)?
        var imeiProblem: (String, Int)?
        var time: Int64?
        var timeColumn = 1
        for index in columns.indices {
            let column = cells[index].range.lowerBound + 1
            switch columns[index] {
            case .name:
                measurement = withCell(p, index) { bytes, names, _ in names.intern(bytes) }
            case .time:
                timeColumn = column
                time = withCell(p, index) { cell, _, _ in
                    let bytes = Self.trimmed(cell)
                    return Numbers.isIntegerLiteral(bytes) ? Numbers.int64(bytes) : UTCTime.parseNanos(utf8: bytes)
                }
            case .imei:
                let result = withCell(p, index) { bytes, _, tags -> (String?, String?) in
                    if let problem = LineProtocolParser.imeiProblem(bytes, 0..<bytes.count) { return (nil, problem) }
                    return (tags.intern(bytes), nil)
                }
                if let value = result.0 { imei = (value, column) } else if cells[index].range.isEmpty {
                    imeiProblem = ("missing product_imei", column)
                } else {
                    imeiProblem = (result.1!, column)
                }
            case .tags:
                if let found = tagIMEI(p, index) {
                    if let value = found.0 { imei = (value, column) } else { imeiProblem = (found.1!, column) }
                }
            case .field:
                break
            case .invalid(let reason):
                if !cells[index].range.isEmpty { return .malformed(column: column, reason: reason) }
            }
        }
        let selected = measurement == options.measurement
        guard let time else {
            return .malformed(column: timeColumn, reason: cells[columns.firstIndex { if case .time = $0 { true } else { false } } ?? 0].range.isEmpty ? "missing time" : "invalid time")
        }
        if selected {
            if let imeiProblem { return .malformed(column: imeiProblem.1, reason: imeiProblem.0) }
            if imei == nil { return .malformed(column: nil, reason: "missing product_imei") }
        }
        for index in columns.indices {
            guard case .field(let key) = columns[index], !cells[index].range.isEmpty else { continue }
            let column = cells[index].range.lowerBound + 1
            let value = withCell(p, index) { bytes, _, _ in Self.value(bytes, validate: selected, column: column) }
            switch value {
            case .success(let v): fields.append(ParsedField(key: key, value: v))
            case .failure(let problem): return .malformed(column: problem.column, reason: problem.reason)
            }
        }
        if fields.isEmpty { return .nothing }
        return .points(measurement: measurement, imei: imei?.0 ?? "", time: time, selected: selected)
    }

    /// The `product_imei` of a `tags` cell (`k=v` pairs joined by commas): the value, or why it is not one.
    private mutating func tagIMEI(_ p: UnsafeBufferPointer<UInt8>, _ index: Int) -> (String?, String?)? {
        withCell(p, index) { bytes, _, tags -> (String?, String?)? in
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != 0x2C { end += 1 }
                let pair = UnsafeBufferPointer(rebasing: bytes[start..<end])
                let key = Array("product_imei=".utf8)
                if pair.count >= key.count, pair.prefix(key.count).elementsEqual(key) {
                    let value = UnsafeBufferPointer(rebasing: pair[key.count...])
                    if let problem = LineProtocolParser.imeiProblem(value, 0..<value.count) { return (nil, problem) }
                    return (tags.intern(value), nil)
                }
                start = end + 1
            }
            return nil
        }
    }

    /// A cell without the blanks (space, TAB) the CLI may leave around it.
    static func trimmed(_ cell: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var lower = 0, upper = cell.count
        while lower < upper, cell[lower] == 0x20 || cell[lower] == 0x09 { lower += 1 }
        while upper > lower, cell[upper - 1] == 0x20 || cell[upper - 1] == 0x09 { upper -= 1 }
        return UnsafeBufferPointer(rebasing: cell[lower..<upper])
    }

    /// A boolean or number cell's value ignores blanks around it; a string keeps them.
    static func value(_ cell: UnsafeBufferPointer<UInt8>, validate: Bool, column: Int) -> Result<FieldValue, LineProtocolParser.Problem> {
        let b = trimmed(cell)
        if b.elementsEqual("true".utf8) { return .success(.boolean(true)) }
        if b.elementsEqual("false".utf8) { return .success(.boolean(false)) }
        if let first = b.first, first == 0x2D || first == 0x2E || Numbers.isDigit(first) {
            if Numbers.isIntegerLiteral(b), let value = Numbers.int64(b) { return .success(.integer(value)) }
            if let value = Numbers.double(b) { return .success(.float(value)) }
        }
        return LineProtocolParser.makeString(cell, validate: validate, column: column).map { .string($0) }
    }
}
