/// Time as this project stores it: an integer count since the Unix epoch, always UTC.
///
/// InfluxDB speaks nanoseconds; PostgreSQL's `timestamp` holds microseconds. Conversions
/// between the two floor (round towards minus infinity), so that a point's microsecond is
/// the one it lies in, also before 1970.
public enum UTCTime {
    public static let nanosPerMicro: Int64 = 1_000
    public static let microsPerSecond: Int64 = 1_000_000
    public static let secondsPerDay: Int64 = 86_400

    /// Nanoseconds to microseconds, flooring: -1 ns is -1 µs, not 0.
    @inlinable
    public static func micros(fromNanos nanos: Int64) -> Int64 {
        floorDiv(nanos, nanosPerMicro)
    }

    @inlinable
    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    // MARK: Civil dates (Howard Hinnant's days_from_civil / civil_from_days)

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01.
    public static func civil(days z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }

    // MARK: Formatting

    public enum Style: Sendable {
        /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`: the report format of DESIGN.md.
        case iso
        /// `YYYY-MM-DD HH:MM:SS`: the SMART Solar API's datetime format.
        case api
        /// `YYYY-MM-DD HH:MM:SS.ffffff`: a PostgreSQL `timestamp` literal.
        case sql
    }

    /// Formats microseconds since the epoch.
    public static func format(micros: Int64, _ style: Style = .iso) -> String {
        let seconds = floorDiv(micros, microsPerSecond)
        let fraction = micros - seconds * microsPerSecond
        let dayNumber = floorDiv(seconds, secondsPerDay)
        let secondOfDay = seconds - dayNumber * secondsPerDay
        let (y, m, d) = civil(days: dayNumber)
        var out = ""
        out.reserveCapacity(27)
        if y < 0 { out += "-" }
        out += pad(abs(y), 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
        out += style == .iso ? "T" : " "
        out += pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        switch style {
        case .iso: out += "." + pad(fraction, 6) + "Z"
        case .sql: out += "." + pad(fraction, 6)
        case .api: break
        }
        return out
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    // MARK: Parsing

    /// Parses RFC 3339 (`2024-10-06T00:00:00Z`, `…T00:00:00.123456789+02:00`), the SQL form
    /// `YYYY-MM-DD HH:MM:SS[.fffffffff]` (UTC) and a bare date `YYYY-MM-DD` (midnight UTC).
    /// Returns nanoseconds since the epoch, or nil when the text is not one of those forms
    /// or lies outside what an `Int64` of nanoseconds can hold.
    public static func parseNanos(_ text: some StringProtocol) -> Int64? {
        var text = String(text)
        return text.withUTF8 { parseNanos(utf8: $0) }
    }

    /// Byte-level variant of `parseNanos(_:)`, used by the dump reader on raw cells. Not
    /// generic (as `parseMicros(utf8:)`), so that the parse is specialized for these bytes in
    /// this module whatever module calls it.
    public static func parseNanos(utf8 b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard let (seconds, nanos) = parse(utf8: b) else { return nil }
        let (scaled, o1) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, o2) = scaled.addingReportingOverflow(nanos)
        return o1 || o2 ? nil : total
    }

    /// Parses the same forms as `parseNanos(_:)` and floors to microseconds; covers the
    /// whole range of years 0000-9999.
    public static func parseMicros(_ text: some StringProtocol) -> Int64? {
        // Over the string's own bytes (as `parseNanos(_:)`): copying them into an Array first cost
        // 1,100 instructions a timestamp, a tenth of a second to read 100,000 watermarks.
        var text = String(text)
        return text.withUTF8 { parseMicros(utf8: $0) }
    }

    /// `parseMicros(_:)` of text given as its UTF-8 bytes (a database driver's buffer).
    public static func parseMicros(utf8 b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard let (seconds, nanos) = parse(utf8: b) else { return nil }
        return seconds * microsPerSecond + nanos / nanosPerMicro
    }

    /// Seconds since the epoch and the nanosecond fraction (0..<1e9).
    static func parse(utf8 b: some RandomAccessCollection<UInt8>) -> (Int64, Int64)? {
        var i = b.startIndex
        func digits(_ count: Int) -> Int64? {
            var v: Int64 = 0
            for _ in 0..<count {
                guard i != b.endIndex, b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[i] - 0x30)
                i = b.index(after: i)
            }
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i != b.endIndex, b[i] == c else { return false }
            i = b.index(after: i)
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D),
              let day = digits(2), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        var seconds = days(year: year, month: month, day: day) * secondsPerDay
        var nanos: Int64 = 0
        if i == b.endIndex { return (seconds, 0) }
        guard b[i] == 0x54 || b[i] == 0x74 || b[i] == 0x20 else { return nil }  // T t space
        i = b.index(after: i)
        guard let hour = digits(2), expect(0x3A), let minute = digits(2), expect(0x3A), let second = digits(2),
              hour < 24, minute < 60, second < 61
        else { return nil }
        seconds += hour * 3600 + minute * 60 + second
        if i != b.endIndex, b[i] == 0x2E {  // fraction: up to 9 digits count, further digits are truncated
            i = b.index(after: i)
            var count = 0
            while i != b.endIndex, b[i] >= 0x30, b[i] <= 0x39 {
                if count < 9 { nanos = nanos * 10 + Int64(b[i] - 0x30) }
                count += 1
                i = b.index(after: i)
            }
            guard count > 0 else { return nil }
            for _ in count..<max(count, 9) { nanos *= 10 }
        }
        if i != b.endIndex {
            if b[i] == 0x5A || b[i] == 0x7A {  // Z z
                i = b.index(after: i)
            } else if b[i] == 0x2B || b[i] == 0x2D {  // + -
                let sign: Int64 = b[i] == 0x2B ? 1 : -1
                i = b.index(after: i)
                guard let oh = digits(2), expect(0x3A), let om = digits(2), oh < 24, om < 60 else { return nil }
                seconds -= sign * (oh * 3600 + om * 60)
            } else {
                return nil
            }
        }
        guard i == b.endIndex else { return nil }
        return (seconds, nanos)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
