/// What one record of a dump said, once parsed. Field values are in the parser's `fields`.
enum LineOutcome {
    /// Blank, comment, DDL or a data line with no field besides `product_imei`.
    case nothing
    case points(measurement: String, imei: String, time: Int64, selected: Bool)
    /// `column` is 1-based, in bytes from the start of the record.
    case malformed(column: Int?, reason: String)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an export's points are, as its CONTEXT lines say (nil: not stated).
struct ExportContext: Equatable {
    var database: String?
    var retentionPolicy: String?
}

/// One field of a parsed line.
struct ParsedField {
    var key: String
    var value: FieldValue
}

private let space: UInt8 = 0x20, tab: UInt8 = 0x09, comma: UInt8 = 0x2C, equals: UInt8 = 0x3D
private let quote: UInt8 = 0x22, backslash: UInt8 = 0x5C, hash: UInt8 = 0x23

/// Parses line protocol as `influx_inspect export` writes it, byte by byte.
///
/// Handles the export framing: comments, `CREATE DATABASE` DDL, `# CONTEXT-DATABASE:` and
/// `# CONTEXT-RETENTION-POLICY:` (which set the context of the points after them), and the
/// `skipped missing file: PATH` text that InfluxDB before 1.11 wrote without a newline, glued
/// to whatever followed. Names are interned; Strings are built only for values handed out.
struct LineProtocolParser {
    let options: ReaderOptions
    private(set) var database: String?
    private(set) var retentionPolicy: String?
    /// The fields of the last `.points` outcome, in line order, `product_imei` left out.
    private(set) var fields: [ParsedField] = []
    private var names = NameTable()
    private var tagValues = NameTable()
    private var scratch: [UInt8] = []
    /// The tag keys of the line being parsed, as written (a repeated key is malformed).
    private var tagKeys: [Range<Int>] = []
    /// The series key (measurement and tags, as written) of the last well-formed data line and
    /// what it meant: consecutive lines of an export mostly share it, so it is parsed once.
    private var lastSeries = LastSeries()
    /// The last few field keys, as written, with their names and problems.
    private var fieldKeys = FieldKeyCache()

    private struct LastSeries {
        var bytes: [UInt8] = []
        var measurement = ""
        var imei = ""
        var selected = false
        var valid = false
        /// When the series key is `measurement,product_imei=DIGITS` (one tag, 1-15 digits):
        /// where the digits start in `bytes`; else 0. A key with these bytes up to there and
        /// other digits after them means the same measurement and selection, another IMEI.
        var imeiStart = 0
    }

    init(options: ReaderOptions) {
        self.options = options
        fields.reserveCapacity(16)
        scratch.reserveCapacity(256)
    }

    private static let contextDatabase = Array("# CONTEXT-DATABASE:".utf8)
    private static let contextRetentionPolicy = Array("# CONTEXT-RETENTION-POLICY:".utf8)
    private static let createDatabase = Array("CREATE DATABASE ".utf8)
    private static let skippedMissingFile = Array("skipped missing file: ".utf8)
    private static let productIMEI = Array("product_imei".utf8)

    /// True when the context (set by the export's CONTEXT lines) matches the options; a dump
    /// without context matches any database and retention policy.
    var contextSelected: Bool {
        if let wanted = options.database, let database, wanted != database { return false }
        if let wanted = options.retentionPolicy, let retentionPolicy, wanted != retentionPolicy { return false }
        return true
    }

    mutating func parse(_ p: UnsafeBufferPointer<UInt8>) -> LineOutcome {
        fields.removeAll(keepingCapacity: true)
        guard let start = preamble(p) else { return .nothing }
        return data(p, from: start)
    }

    /// Skips what may precede a data line in a record (blanks, the `skipped missing file`
    /// text) and takes in comments and DDL. Returns where the data line starts, or nil when
    /// the record holds none. The only part of parsing that changes `context`, so running it
    /// alone over records follows the context as `parse` would.
    mutating func preamble(_ p: UnsafeBufferPointer<UInt8>) -> Int? {
        // Nearly every record is a data line, and its first byte says so.
        if let first = p.first, first != space, first != tab, first != hash,
           first != 0x43, first != 0x73 {  // `C`REATE DATABASE, `s`kipped missing file
            return 0
        }
        var i = 0
        let n = p.count
        while true {
            while i < n, p[i] == space || p[i] == tab { i += 1 }
            if i == n { return nil }
            if p[i] == hash {
                comment(UnsafeBufferPointer(rebasing: p[i...]))
                return nil
            }
            if Self.hasPrefix(p, at: i, Self.createDatabase) { return nil }
            if Self.hasPrefix(p, at: i, Self.skippedMissingFile) {
                i = Self.endOfMissingFilePath(p, from: i + Self.skippedMissingFile.count)
                continue
            }
            return i
        }
    }

    /// The export's `# CONTEXT-DATABASE` and `# CONTEXT-RETENTION-POLICY` as the lines so far set them.
    var context: ExportContext {
        get { ExportContext(database: database, retentionPolicy: retentionPolicy) }
        set {
            database = newValue.database
            retentionPolicy = newValue.retentionPolicy
            lastSeries.valid = false  // `selected` depends on the context
        }
    }

    @inline(__always)
    private static func hasPrefix(_ p: UnsafeBufferPointer<UInt8>, at i: Int, _ prefix: [UInt8]) -> Bool {
        guard p.count - i >= prefix.count else { return false }
        for k in 0..<prefix.count where p[i + k] != prefix[k] { return false }
        return true
    }

    /// The export names the missing `.tsm` or `.wal` file; what follows the extension is the
    /// next thing it wrote (a data line, a comment, or another missing file).
    private static func endOfMissingFilePath(_ p: UnsafeBufferPointer<UInt8>, from: Int) -> Int {
        var i = from
        while i + 4 <= p.count {
            if p[i] == 0x2E,
               (p[i + 1] == 0x74 && p[i + 2] == 0x73 && p[i + 3] == 0x6D)      // .tsm
                || (p[i + 1] == 0x77 && p[i + 2] == 0x61 && p[i + 3] == 0x6C),  // .wal
               i + 4 == p.count || p[i + 4] != 0x2F {
                return i + 4
            }
            i += 1
        }
        return p.count
    }

    private mutating func comment(_ p: UnsafeBufferPointer<UInt8>) {
        if Self.hasPrefix(p, at: 0, Self.contextDatabase) {
            database = Self.trimmedString(p, from: Self.contextDatabase.count)
        } else if Self.hasPrefix(p, at: 0, Self.contextRetentionPolicy) {
            retentionPolicy = Self.trimmedString(p, from: Self.contextRetentionPolicy.count)
        }
        lastSeries.valid = false  // `selected` depends on the context
    }

    private static func trimmedString(_ p: UnsafeBufferPointer<UInt8>, from: Int) -> String {
        var end = p.count
        while end > from, p[end - 1] == space || p[end - 1] == tab { end -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: p[from..<end]), as: UTF8.self)
    }

    // MARK: Data lines

    /// Advances `i` from the start of a name to its end: the first unescaped `,` or space, or
    /// `=` when `stopAtEquals`. Returns whether the name holds backslashes (needs unescaping).
    @inline(__always)
    private static func scanName(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int, stopAtEquals: Bool) -> Bool {
        var escaped = false
        let n = p.count
        // The bytes that can end a name or escape, as bits of a mask over 0-63 (backslash is 92).
        let stops: UInt64 = 1 << UInt64(space) | 1 << UInt64(comma) | (stopAtEquals ? 1 << UInt64(equals) : 0)
        while i < n {
            let b = p[i]
            if b < 64 {
                if stops >> UInt64(b) & 1 != 0 { break }
            } else if b == backslash, i + 1 < n {
                escaped = true
                i += 2
                continue
            }
            i += 1
        }
        return escaped
    }

    /// Interns a name, unescaping `\,` `\ ` and (unless a measurement) `\=`.
    private mutating func name(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, escaped: Bool,
                               measurement: Bool, tagValue: Bool = false) -> String {
        if !escaped { return intern(UnsafeBufferPointer(rebasing: p[range]), tagValue: tagValue) }
        unescape(p, range, measurement: measurement)
        let bytes = scratch
        return bytes.withUnsafeBufferPointer { intern($0, tagValue: tagValue) }
    }

    /// A field key's name and, when it cannot be stored, why (DESIGN.md: at most 255 bytes,
    /// valid UTF-8, no NUL; checked on the unescaped bytes, never replaced with U+FFFD).
    private mutating func fieldKey(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, escaped: Bool) -> (String, String?) {
        if escaped {
            unescape(p, range, measurement: false)
            let bytes = scratch
            return bytes.withUnsafeBufferPointer { (intern($0, tagValue: false), Self.fieldKeyProblem($0)) }
        }
        let bytes = UnsafeBufferPointer(rebasing: p[range])
        return (intern(bytes, tagValue: false), Self.fieldKeyProblem(bytes))
    }

    /// Why a field key (unescaped) cannot be stored, or nil.
    static func fieldKeyProblem(_ key: UnsafeBufferPointer<UInt8>) -> String? {
        if key.isEmpty { return "missing field key" }
        if key.count > 255 { return "field key longer than 255 bytes" }
        if key.contains(0) { return "field key contains a NUL byte" }
        if validatedUTF8(key) == nil { return "field key is not valid UTF-8" }
        return nil
    }

    /// Fills `scratch` with the bytes of the name at `range`, unescaped.
    private mutating func unescape(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, measurement: Bool) {
        scratch.removeAll(keepingCapacity: true)
        var i = range.lowerBound
        while i < range.upperBound {
            let b = p[i]
            if b == backslash, i + 1 < range.upperBound {
                let next = p[i + 1]
                if next == comma || next == space || (!measurement && next == equals) {
                    scratch.append(next)
                    i += 2
                    continue
                }
            }
            scratch.append(b)
            i += 1
        }
    }

    /// Up to 15 UTF-8 bytes, a String is stored inline (no allocation), so interning only pays
    /// for longer names; IMEIs (15 digits at most) never touch the table.
    @inline(__always)
    private mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>, tagValue: Bool) -> String {
        if bytes.count <= 15 { return String(decoding: bytes, as: UTF8.self) }
        return tagValue ? tagValues.intern(bytes) : names.intern(bytes)
    }

    /// The end of the series key (measurement and tags) starting at `start`: the first unescaped space.
    @inline(__always)
    private static func seriesKeyEnd(_ p: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        let n = p.count
        let base = p.baseAddress! + start
        // Fast path: the first space, when no backslash comes before it.
        if let hit = memchr(base, Int32(space), n - start) {
            let end = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memchr(base, Int32(backslash), end) == nil { return start + end }
        }
        var i = start
        while i < n {
            let b = p[i]
            if b == backslash { i += 2; continue }
            if b == space { return i }
            i += 1
        }
        return n
    }

    private mutating func data(_ p: UnsafeBufferPointer<UInt8>, from start: Int) -> LineOutcome {
        let seriesEnd = Self.seriesKeyEnd(p, from: start)
        if lastSeries.valid, seriesEnd < p.count, lastSeries.bytes.hasSameBytes(as: UnsafeBufferPointer(rebasing: p[start..<seriesEnd])) {
            var i = seriesEnd
            while i < p.count, p[i] == space { i += 1 }
            if i < p.count {
                return fieldsAndTime(p, from: i, measurement: lastSeries.measurement, imei: lastSeries.imei,
                                     selected: lastSeries.selected)
            }
        }
        if lastSeries.valid, lastSeries.imeiStart > 0, let outcome = otherIMEI(p, from: start, seriesEnd: seriesEnd) {
            return outcome
        }
        let n = p.count
        var i = start
        let escapedMeasurement = Self.scanName(p, &i, stopAtEquals: false)
        if i == start { return .malformed(column: start + 1, reason: "missing measurement") }
        let measurement = name(p, start..<i, escaped: escapedMeasurement, measurement: true)
        if i == n { return .malformed(column: n + 1, reason: "missing fields") }

        // Tags
        var imeiRange: Range<Int>?
        var imeiEscaped = false
        tagKeys.removeAll(keepingCapacity: true)
        while i < n, p[i] == comma {
            i += 1
            let keyStart = i
            _ = Self.scanName(p, &i, stopAtEquals: true)
            if i == keyStart { return .malformed(column: i + 1, reason: "missing tag key") }
            guard i < n, p[i] == equals else { return .malformed(column: i + 1, reason: "expected '=' after tag key") }
            let key = UnsafeBufferPointer(rebasing: p[keyStart..<i])
            if tagKeys.contains(where: { p[$0].elementsEqual(key) }) {
                return .malformed(column: keyStart + 1, reason: "duplicate tags")
            }
            tagKeys.append(keyStart..<i)
            let isIMEI = i - keyStart == Self.productIMEI.count && Self.hasPrefix(p, at: keyStart, Self.productIMEI)
            i += 1
            let valueStart = i
            let escaped = Self.scanName(p, &i, stopAtEquals: false)
            if i == valueStart {
                return .malformed(column: i + 1, reason: isIMEI ? "empty product_imei tag" : "missing tag value")
            }
            if isIMEI {
                imeiRange = valueStart..<i
                imeiEscaped = escaped
            }
        }
        guard i < n else { return .malformed(column: n + 1, reason: "missing fields") }
        let tagsEnd = i
        while i < n, p[i] == space { i += 1 }
        guard i < n else { return .malformed(column: n + 1, reason: "missing fields") }

        let selected = measurement == options.measurement && contextSelected
        var imei = ""
        if let imeiRange {
            if selected, let reason = Self.imeiProblem(p, imeiRange) {
                return .malformed(column: imeiRange.lowerBound + 1, reason: reason)
            }
            imei = name(p, imeiRange, escaped: imeiEscaped, measurement: false, tagValue: true)
        } else if selected {
            return .malformed(column: nil, reason: "missing product_imei tag")
        }
        if tagsEnd == seriesEnd {
            lastSeries.bytes.removeAll(keepingCapacity: true)
            lastSeries.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<seriesEnd]))
            lastSeries.measurement = measurement
            lastSeries.imei = imei
            lastSeries.selected = selected
            lastSeries.valid = true
            lastSeries.imeiStart = 0
            if tagKeys.count == 1, let imeiRange, !imeiEscaped, imeiRange.upperBound == seriesEnd,
               Self.imeiProblem(p, imeiRange) == nil {
                lastSeries.imeiStart = imeiRange.lowerBound - start
            }
        }
        return fieldsAndTime(p, from: i, measurement: measurement, imei: imei, selected: selected)
    }

    /// The line of a series that differs from the last one only in its IMEI's digits, as an
    /// export's lines mostly do from one unit to the next; nil for any other line, which the
    /// full parse takes. Same outcome as the full parse: the bytes before the digits are the
    /// last series' own (so the same measurement, the one tag `product_imei`, the same
    /// selection), and 1-15 digits are a valid IMEI that needs no unescaping.
    @inline(__always)
    private mutating func otherIMEI(_ p: UnsafeBufferPointer<UInt8>, from start: Int, seriesEnd: Int) -> LineOutcome? {
        let digitsStart = start + lastSeries.imeiStart
        let count = seriesEnd - digitsStart
        guard count >= 1, count <= 15, seriesEnd < p.count else { return nil }
        let same = lastSeries.bytes.withUnsafeBufferPointer { last in
            memcmp(last.baseAddress!, p.baseAddress! + start, lastSeries.imeiStart) == 0
        }
        guard same else { return nil }
        for k in digitsStart..<seriesEnd where !Numbers.isDigit(p[k]) { return nil }
        var i = seriesEnd
        while i < p.count, p[i] == space { i += 1 }
        guard i < p.count else { return nil }
        let digits = UnsafeBufferPointer(rebasing: p[digitsStart..<seriesEnd])
        let imei = String(decoding: digits, as: UTF8.self)
        lastSeries.bytes.removeSubrange(lastSeries.imeiStart...)
        lastSeries.bytes.append(contentsOf: digits)
        lastSeries.imei = imei
        return fieldsAndTime(p, from: i, measurement: lastSeries.measurement, imei: imei, selected: lastSeries.selected)
    }

    /// The field set and timestamp, from `i` on the first field key.
    private mutating func fieldsAndTime(_ p: UnsafeBufferPointer<UInt8>, from start: Int, measurement: String,
                                        imei: String, selected: Bool) -> LineOutcome {
        let n = p.count
        var i = start
        while true {
            let keyStart = i
            var isIMEIField = false
            var fieldName = ""
            if let (known, length) = fieldKeys.match(p, at: keyStart) {
                i += length
                if let problem = fieldKeys.problems[known] { return .malformed(column: keyStart + 1, reason: problem) }
                fieldName = fieldKeys.names[known]
            } else {
                let escapedKey = Self.scanName(p, &i, stopAtEquals: true)
                if i == keyStart { return .malformed(column: i + 1, reason: "missing field key") }
                guard i < n, p[i] == equals else { return .malformed(column: i + 1, reason: "expected '=' after field key") }
                let keyRange = keyStart..<i
                isIMEIField = keyRange.count == Self.productIMEI.count && Self.hasPrefix(p, at: keyStart, Self.productIMEI)
                if !isIMEIField {
                    let written = UnsafeBufferPointer(rebasing: p[keyRange])
                    let known = fieldKeys.insert(written, name: fieldKey(p, keyRange, escaped: escapedKey))
                    if let problem = fieldKeys.problems[known] { return .malformed(column: keyStart + 1, reason: problem) }
                    fieldName = fieldKeys.names[known]
                }
            }
            i += 1
            guard i < n, p[i] != space, p[i] != comma else {
                return .malformed(column: i + 1, reason: "missing field value")
            }
            let valueColumn = i + 1
            let value: FieldValue
            if p[i] == quote {
                switch stringValue(p, &i, validate: selected) {
                case .success(let v): value = .string(v)
                case .failure(let problem): return .malformed(column: problem.column, reason: problem.reason)
                }
            } else {
                let valueStart = i
                while i < n, p[i] != comma, p[i] != space { i += 1 }
                switch Self.scalar(UnsafeBufferPointer(rebasing: p[valueStart..<i])) {
                case .success(let v): value = v
                case .failure(let problem): return .malformed(column: valueColumn, reason: problem.reason)
                }
            }
            if !isIMEIField { fields.append(ParsedField(key: fieldName, value: value)) }
            if i == n { return .malformed(column: n + 1, reason: "missing timestamp") }
            if p[i] == comma {
                i += 1
                continue
            }
            if p[i] == space { break }
            return .malformed(column: i + 1, reason: "expected ',' or ' ' after field value")
        }

        // Timestamp
        while i < n, p[i] == space { i += 1 }
        if i == n { return .malformed(column: n + 1, reason: "missing timestamp") }
        let timeStart = i
        // Mostly the timestamp is the rest of the record: parsed at once, without a search for its end.
        var parsed = Numbers.int64(UnsafeBufferPointer(rebasing: p[timeStart..<n]))
        if parsed != nil {
            i = n
        } else {
            while i < n, p[i] != space, p[i] != tab { i += 1 }
            parsed = Numbers.int64(UnsafeBufferPointer(rebasing: p[timeStart..<i]))
        }
        let timeBytes = UnsafeBufferPointer(rebasing: p[timeStart..<i])
        guard let raw = parsed else {
            let reason = Numbers.isIntegerLiteral(timeBytes) ? "timestamp out of range" : "invalid timestamp"
            return .malformed(column: timeStart + 1, reason: reason)
        }
        let (time, overflow) = raw.multipliedReportingOverflow(by: options.precision.nanos)
        if overflow { return .malformed(column: timeStart + 1, reason: "timestamp out of range") }
        while i < n, p[i] == space || p[i] == tab { i += 1 }
        if i < n { return .malformed(column: i + 1, reason: "unexpected text after timestamp") }
        if fields.isEmpty { return .nothing }
        return .points(measurement: measurement, imei: imei, time: time, selected: selected)
    }

    struct Problem: Error {
        var column: Int?
        var reason: String
    }

    /// Why a `product_imei` cannot be a product's IMEI, or nil when it is 1-15 ASCII digits.
    static func imeiProblem(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String? {
        if range.isEmpty { return "empty product_imei tag" }
        if range.count > 15 { return "product_imei longer than 15 characters" }
        for k in range where !Numbers.isDigit(p[k]) { return "product_imei is not all digits" }
        return nil
    }

    /// A quoted string value at `i` (which is on the opening quote); unescapes `\"` and `\\`.
    /// Leaves `i` after the closing quote.
    private mutating func stringValue(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int, validate: Bool) -> Result<String, Problem> {
        let open = i
        let n = p.count
        i += 1
        let start = i
        var escaped = false
        while i < n {
            let b = p[i]
            if b == backslash, i + 1 < n {
                escaped = true
                i += 2
                continue
            }
            if b == quote { break }
            i += 1
        }
        guard i < n else { return .failure(Problem(column: open + 1, reason: "unterminated string value")) }
        let end = i
        i += 1
        guard escaped else {
            return Self.makeString(UnsafeBufferPointer(rebasing: p[start..<end]), validate: validate, column: open + 1)
        }
        scratch.removeAll(keepingCapacity: true)
        var k = start
        while k < end {
            if p[k] == backslash, k + 1 < end, p[k + 1] == quote || p[k + 1] == backslash {
                scratch.append(p[k + 1])
                k += 2
            } else {
                scratch.append(p[k])
                k += 1
            }
        }
        return scratch.withUnsafeBufferPointer { Self.makeString($0, validate: validate, column: open + 1) }
    }
}

/// The last few field keys a parser met, as written, with their names and, when a key
/// cannot be stored, why. Lines mostly cycle through a handful of fields, so each key is
/// checked and interned once, not once a line. Replaced round-robin.
private struct FieldKeyCache {
    private static let size = 8
    private var keys: [[UInt8]] = []
    private(set) var names: [String] = []
    private(set) var problems: [String?] = []
    private var next = 0

    /// The cached key written at `i` and its length, when `=` follows it: the key a scan from
    /// `i` would find, since a cached key was scanned whole and followed by `=` (so it holds no
    /// unescaped stop byte and does not end in an escaping backslash).
    @inline(__always)
    func match(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> (index: Int, length: Int)? {
        let available = p.count - i
        for k in keys.indices {
            let length = keys[k].count
            guard length < available, p[i + length] == 0x3D else { continue }  // `=`
            let same = keys[k].withUnsafeBufferPointer { memcmp($0.baseAddress!, p.baseAddress! + i, length) == 0 }
            if same { return (k, length) }
        }
        return nil
    }

    /// Caches a key (as written, with its name and problem); returns its index.
    mutating func insert(_ written: UnsafeBufferPointer<UInt8>, name: (String, String?)) -> Int {
        let (name, problem) = name
        if keys.count < Self.size {
            keys.append(Array(written))
            names.append(name)
            problems.append(problem)
            return keys.count - 1
        }
        let i = next
        next = (next + 1) % Self.size
        keys[i] = Array(written)
        names[i] = name
        problems[i] = problem
        return i
    }
}
