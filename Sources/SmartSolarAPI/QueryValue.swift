/// A parsed JSON document, as the `q` parameter carries it: the API's own parse tree.
/// Integers that fit an `Int64` stay integers; other numbers are doubles. In an object a
/// repeated key keeps its last value.
indirect enum QueryValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([QueryValue])
    case object([String: QueryValue])

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

    /// Parses `text` (RFC 8259) in one pass over its bytes: the time is linear in the
    /// length, and nesting deeper than `maxDepth` arrays/objects is refused before it is
    /// descended into. Throws `BadRequest` naming the byte offset of the first error.
    static func parse(_ text: String, maxDepth: Int) throws(BadRequest) -> QueryValue {
        var parser = QueryParser(bytes: Array(text.utf8), maxDepth: maxDepth)
        return try parser.document()
    }
}

/// A recursive-descent JSON parser over UTF-8 bytes. Invariant: `position` only moves
/// forward, and every byte is looked at a bounded number of times, so parsing is O(n);
/// recursion is at most `maxDepth` deep.
struct QueryParser {
    private let bytes: [UInt8]
    private let maxDepth: Int
    private var position = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func document() throws(BadRequest) -> QueryValue {
        let value = try self.value(depth: 0)
        skipSpace()
        guard position == bytes.count else { throw error("unexpected text after the document") }
        return value
    }

    private func error(_ reason: String) -> BadRequest {
        BadRequest("Unable to decode search query: q is not valid JSON (\(reason) at byte \(position))")
    }

    private mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func value(depth: Int) throws(BadRequest) -> QueryValue {
        skipSpace()
        switch current {
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { throw BadRequest("q is nested deeper than \(maxDepth) levels") }
            return try object(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < maxDepth else { throw BadRequest("q is nested deeper than \(maxDepth) levels") }
            return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case nil: throw error("unexpected end")
        default: return try number()
        }
    }

    private mutating func literal(_ word: StaticString) throws(BadRequest) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("unexpected end") }
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
        guard bytes[position ..< position + count].elementsEqual(expected) else { throw error("unknown literal") }
        position += count
    }

    private mutating func object(depth: Int) throws(BadRequest) -> QueryValue {
        position += 1  // {
        var members: [String: QueryValue] = [:]
        skipSpace()
        if current == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try string()
            skipSpace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            members[key] = try value(depth: depth)
            skipSpace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            default: throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func array(depth: Int) throws(BadRequest) -> QueryValue {
        position += 1  // [
        var items: [QueryValue] = []
        skipSpace()
        if current == UInt8(ascii: "]") { position += 1; return .array(items) }
        while true {
            items.append(try value(depth: depth))
            skipSpace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(items)
            default: throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func string() throws(BadRequest) -> String {
        position += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard let byte = current else { throw error("unterminated string") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try escape(into: &utf8)
            case 0x00 ..< 0x20:
                throw error("control character in a string")
            default:
                utf8.append(byte)
            }
        }
    }

    private mutating func escape(into utf8: inout [UInt8]) throws(BadRequest) {
        guard let byte = current else { throw error("unterminated string") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800 ..< 0xDC00).contains(scalar), current == UInt8(ascii: "\\"),
               position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") {
                let save = position
                position += 2
                let low = try hex4()
                if (0xDC00 ..< 0xE000).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    position = save
                }
            }
            let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
            utf8.append(contentsOf: String(character).utf8)
        default:
            throw error("unknown escape")
        }
    }

    private mutating func hex4() throws(BadRequest) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for byte in bytes[position ..< position + 4] {
            guard let digit = Self.hexDigit(byte) else { throw error("bad \\u escape") }
            value = value << 4 | digit
        }
        position += 4
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a") ... UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A") ... UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// `-? int frac? exp?` as RFC 8259 writes it; an integer that fits `Int64` is `.int`.
    private mutating func number() throws(BadRequest) -> QueryValue {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        let firstDigit = current
        let count = digits()
        guard count > 0 else { throw error("unexpected character") }
        guard count == 1 || firstDigit != UInt8(ascii: "0") else { throw error("leading zero in a number") }
        var integral = true
        if current == UInt8(ascii: ".") {
            position += 1
            integral = false
            guard digits() > 0 else { throw error("digits expected after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            integral = false
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw error("digits expected in the exponent") }
        }
        let text = String(decoding: bytes[start ..< position], as: UTF8.self)
        if integral, let n = Int64(text) { return .int(n) }
        guard let d = Double(text), d.isFinite else { throw error("number out of range") }
        return .double(d)
    }

    private mutating func digits() -> Int {
        let start = position
        while let byte = current, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) { position += 1 }
        return position - start
    }
}
