import Foundation

/// Removes passwords from a PostgreSQL URL or libpq conninfo string so it can be shown:
/// `postgresql://u:secret@h/db` becomes `postgresql://u:***@h/db`, `password=x` (also quoted,
/// also `sslpassword`, also as a URL query parameter) becomes `password=***`.
/// Everything else is kept, so an operator still sees which host and database were meant.
public func redactedConnectionString(_ s: String) -> String {
    redactKeywordValues(redactURLUserInfo(s))
}

/// `scheme://user:password@...` → `scheme://user:***@...` (the last `@` ends the user info,
/// since an unencoded `@` in a password is more likely than one in a host).
private func redactURLUserInfo(_ s: String) -> String {
    guard let schemeEnd = s.range(of: "://") else { return s }
    let rest = s[schemeEnd.upperBound...]
    let authorityEnd = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? rest.endIndex
    guard let at = rest[..<authorityEnd].lastIndex(of: "@"),
          let colon = rest[..<at].firstIndex(of: ":")
    else { return s }
    return String(s[..<rest.index(after: colon)]) + "***" + String(s[at...])
}

/// `…password=value…` → `…password=***…` for every key ending in "password" (case-insensitive);
/// a value ends at whitespace, `&` (URL query) or, when single-quoted, at the closing quote
/// (with `\'` escapes, as libpq reads it).
private func redactKeywordValues(_ s: String) -> String {
    var out = ""
    var i = s.startIndex
    while let match = s.range(of: "password", options: .caseInsensitive, range: i..<s.endIndex) {
        out += s[i..<match.upperBound]
        var j = match.upperBound
        while j < s.endIndex, s[j] == " " { j = s.index(after: j) }
        guard j < s.endIndex, s[j] == "=" else {
            i = match.upperBound
            continue
        }
        j = s.index(after: j)
        out += s[match.upperBound..<j]
        while j < s.endIndex, s[j] == " " { out.append(" "); j = s.index(after: j) }
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
        out += "***"
        i = j
    }
    out += s[i...]
    return out
}

/// Replaces every occurrence of each secret (of at least 3 characters, so that a trivial
/// password cannot shred a message) by `***`.
func scrub(_ text: String, secrets: [String]) -> String {
    var text = text
    for secret in secrets where secret.count >= 3 {
        text = text.replacingOccurrences(of: secret, with: "***")
    }
    return text
}
