import TelemetryCore
/// A parsed JSON document, as the `q` parameter carries it. Integers that fit an `Int64`
/// stay integers; other numbers are doubles.
public indirect enum JSONValue: Sendable, Hashable, Decodable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// A short name of the value's JSON type, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

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
