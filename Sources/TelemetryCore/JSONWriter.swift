/// An ordered, streaming JSON writer: values come out in the order they are written, straight
/// into `output`, so a document of 100,000 members is never built as a tree first. The one
/// JSON writer of the project (run reports, `status`, `inspect`, JSON log lines).
///
/// Invariant: `containers.count` is the nesting depth; each open container counts the
/// elements written into it, so separators and indentation need no look-ahead. A member is
/// `key(_:)` followed by exactly one value (or container).
///
///     var json = JSONWriter(style: .pretty)
///     json.object {
///         $0.member("mode", "nightly")
///         $0.member("dry_run", false)
///     }
///     json.output  // {\n  "mode": "nightly",\n  "dry_run": false\n}
public struct JSONWriter: Sendable {
    /// How containers are laid out.
    public enum Style: Sendable {
        /// `{"a":1,"b":[2]}`: for log lines and stored documents.
        case compact
        /// `{"a": 1, "b": [2]}` on one line: for one row of a longer listing.
        case inline
        /// One element per line, indented by two spaces, `"key": value`.
        case pretty
    }

    private struct Container: Sendable {
        var style: Style
        var count = 0
    }

    /// The text written so far (see `drain()` to stream it out in pieces).
    public private(set) var output = ""
    private let style: Style
    private var containers: [Container] = []
    /// True between `key(_:)` and its value.
    private var afterKey = false

    public init(style: Style = .compact, reservingCapacity capacity: Int = 0) {
        self.style = style
        output.reserveCapacity(capacity)
    }

    /// Returns what was written since the last call and forgets it, for writing a long
    /// document to a file or pipe piece by piece.
    public mutating func drain() -> String {
        defer { output = "" }
        return output
    }

    // MARK: Containers

    /// Opens an object; `style` overrides the layout inside it (and below), e.g. `.inline`
    /// for one line per product inside a pretty report.
    public mutating func beginObject(style: Style? = nil) { begin("{", style) }
    public mutating func endObject() { end("}") }
    public mutating func beginArray(style: Style? = nil) { begin("[", style) }
    public mutating func endArray() { end("]") }

    public mutating func object(style: Style? = nil, _ body: (inout JSONWriter) -> Void) {
        beginObject(style: style)
        body(&self)
        endObject()
    }

    public mutating func array(style: Style? = nil, _ body: (inout JSONWriter) -> Void) {
        beginArray(style: style)
        body(&self)
        endArray()
    }

    /// Writes a member's key; the next value written is its value.
    public mutating func key(_ name: String) {
        separate()
        Self.appendQuoted(name, to: &output)
        output += (containers.last?.style ?? style) == .compact ? ":" : ": "
        afterKey = true
    }

    // MARK: Values

    public mutating func null() { separate(); output += "null" }
    public mutating func value(_ b: Bool) { separate(); output += b ? "true" : "false" }
    public mutating func value(_ i: Int) { separate(); output += String(i) }
    public mutating func value(_ i: Int64) { separate(); output += String(i) }
    /// A finite double as Swift prints it (`12.0`, `0.25`); NaN and infinities as `null`.
    public mutating func value(_ d: Double) { separate(); output += d.isFinite ? String(d) : "null" }
    /// A string, or `null` for nil.
    public mutating func value(_ s: String?) {
        separate()
        if let s { Self.appendQuoted(s, to: &output) } else { output += "null" }
    }
    public mutating func value(_ i: Int?) { if let i { value(i) } else { null() } }
    public mutating func value(_ i: Int64?) { if let i { value(i) } else { null() } }

    public mutating func member(_ name: String, _ v: Bool) { key(name); value(v) }
    public mutating func member(_ name: String, _ v: Int) { key(name); value(v) }
    public mutating func member(_ name: String, _ v: Int?) { key(name); value(v) }
    public mutating func member(_ name: String, _ v: Int64?) { key(name); value(v) }
    public mutating func member(_ name: String, _ v: Double) { key(name); value(v) }
    public mutating func member(_ name: String, _ v: String?) { key(name); value(v) }

    // MARK: Layout

    private mutating func begin(_ bracket: String, _ inner: Style?) {
        let outer = containers.last?.style ?? style
        separate()
        output += bracket
        containers.append(Container(style: inner ?? outer))
    }

    private mutating func end(_ bracket: String) {
        let closed = containers.removeLast()
        if closed.style == .pretty && closed.count > 0 {
            output += "\n" + String(repeating: "  ", count: containers.count)
        }
        output += bracket
    }

    /// Before a value or key: the comma and the line break its container's style asks for.
    /// A value right after its key is not separated.
    private mutating func separate() {
        if afterKey { afterKey = false; return }
        guard let last = containers.indices.last else { return }
        let count = containers[last].count
        containers[last].count += 1
        switch containers[last].style {
        case .compact: if count > 0 { output += "," }
        case .inline: if count > 0 { output += ", " }
        case .pretty:
            if count > 0 { output += "," }
            output += "\n" + String(repeating: "  ", count: containers.count)
        }
    }

    /// Appends `s` as a quoted JSON string: `"`, `\` and control characters escaped, and with
    /// `asciiOnly` every non-ASCII character too (`\u00e9`, surrogate pairs beyond U+FFFF).
    public static func appendQuoted(_ s: String, to out: inout String, asciiOnly: Bool = false) {
        func escaped(_ unit: UInt16) -> String {
            let hex = String(unit, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        }
        out += "\""
        // Most strings need no escape: appended in one piece.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || (asciiOnly && $0 >= 0x7F) }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || (asciiOnly && scalar.value >= 0x7F):
                for unit in String(scalar).utf16 { out += escaped(unit) }
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
