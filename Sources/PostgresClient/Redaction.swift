import Foundation

/// Removes passwords from a PostgreSQL URL or libpq conninfo string so it can be shown:
/// `postgresql://u:secret@h/db` becomes `postgresql://u:***@h/db`, `password=x` (also quoted,
/// also `sslpassword`, also as a URL query parameter) becomes `password=***`.
/// Everything else is kept, so an operator still sees which host and database were meant.
public func redactedConnectionString(_ s: String) -> String {
    var out = ""
    var i = s.startIndex
    for range in passwordRanges(in: s) {
        out += s[i..<range.lowerBound] + "***"
        i = range.upperBound
    }
    return out + s[i...]
}

/// The passwords written in a URL or conninfo, as written and (for URLs) percent-decoded,
/// even when libpq cannot parse the string; used to scrub libpq's messages.
func passwordsWritten(in s: String) -> [String] {
    var found: [String] = []
    for range in passwordRanges(in: s) {
        var value = String(s[range])
        if value.hasPrefix("'"), value.hasSuffix("'"), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
        found.append(value)
        if let decoded = value.removingPercentEncoding, decoded != value { found.append(decoded) }
    }
    return found
}

/// Ranges of password values, ascending and disjoint: the URL user info's password and the
/// value of every key ending in "password" (case-insensitive).
private func passwordRanges(in s: String) -> [Range<String.Index>] {
    var ranges: [Range<String.Index>] = []
    if let range = urlPasswordRange(in: s) { ranges.append(range) }
    for range in keywordValueRanges(in: s) where !ranges.contains(where: { $0.overlaps(range) }) {
        ranges.append(range)
    }
    return ranges.sorted { $0.lowerBound < $1.lowerBound }
}

/// `scheme://user:PASSWORD@...` (the last `@` before the query ends the user info, since an
/// unencoded `@` in a password is more likely than one in a host).
private func urlPasswordRange(in s: String) -> Range<String.Index>? {
    guard let schemeEnd = s.range(of: "://") else { return nil }
    let rest = s[schemeEnd.upperBound...]
    let authorityEnd = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? rest.endIndex
    guard let at = rest[..<authorityEnd].lastIndex(of: "@"),
          let colon = rest[..<at].firstIndex(of: ":")
    else { return nil }
    return rest.index(after: colon)..<at
}

/// Values of `…password=value…`: a value ends at whitespace, `&` (URL query) or, when
/// single-quoted, after the closing quote (with `\'` escapes, as libpq reads it).
private func keywordValueRanges(in s: String) -> [Range<String.Index>] {
    var ranges: [Range<String.Index>] = []
    var i = s.startIndex
    while let match = s.range(of: "password", options: .caseInsensitive, range: i..<s.endIndex) {
        i = match.upperBound
        var j = match.upperBound
        while j < s.endIndex, s[j] == " " { j = s.index(after: j) }
        guard j < s.endIndex, s[j] == "=" else { continue }
        j = s.index(after: j)
        while j < s.endIndex, s[j] == " " { j = s.index(after: j) }
        let start = j
        if j < s.endIndex, s[j] == "'" {
            j = s.index(after: j)
            while j < s.endIndex, s[j] != "'" {
                if s[j] == "\\", s.index(after: j) < s.endIndex { j = s.index(after: j) }
                j = s.index(after: j)
            }
            if j < s.endIndex { j = s.index(after: j) }
        } else {
            while j < s.endIndex, !s[j].isWhitespace, s[j] != "&" { j = s.index(after: j) }
        }
        if start < j { ranges.append(start..<j) }
        i = j
    }
    return ranges
}

/// Passwords to keep out of every message: the one scrubber of the project, used for libpq's
/// messages and, as a second line of defence, for every log line.
///
/// Invariant: `values` holds no string shorter than `minimumLength` (a trivial password would
/// shred ordinary words) and is ordered longest first, so a password that contains another is
/// replaced whole.
public struct Secrets: Sendable {
    public static let minimumLength = 3
    public let values: [String]

    public init(_ values: [String]) {
        self.values = Array(Set(values.filter { $0.count >= Self.minimumLength })).sorted {
            $0.count != $1.count ? $0.count > $1.count : $0 < $1
        }
    }

    /// `passwords` plus those written in the connection strings (URL or conninfo, as written
    /// and percent-decoded).
    public init(connectionStrings: [String], passwords: [String] = []) {
        self.init(passwords + connectionStrings.flatMap(passwordsWritten(in:)))
    }

    /// `text` with every occurrence of each secret replaced by `***`.
    public func scrub(_ text: String) -> String {
        values.reduce(text) { $0.replacingOccurrences(of: $1, with: "***") }
    }
}

/// `Secrets(secrets).scrub(text)`, for the connection's messages.
func scrub(_ text: String, secrets: [String]) -> String {
    Secrets(secrets).scrub(text)
}
