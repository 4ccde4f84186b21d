import TelemetryCore

/// Appends JSON text by hand: keys keep the order they are written in (the column order),
/// and no intermediate dictionaries are built per row.
struct JSONWriter {
    private(set) var text = ""

    mutating func raw(_ s: String) { text += s }

    mutating func string(_ s: String) { JSONString.append(s, to: &text) }

    mutating func int(_ v: Int64) { text += String(v) }
    mutating func null() { text += "null" }

    /// `{"message": ...}`: the body of every error response.
    static func message(_ message: String) -> String {
        var w = JSONWriter()
        w.raw("{\"message\": ")
        w.string(message)
        w.raw("}")
        return w.text
    }
}
