import NIOCore
import PostgresClient
import TelemetryCore

/// A JSON response body written as bytes straight into the `ByteBuffer` Hummingbird sends:
/// the same text `JSONWriter(style: .inline)` gives (`{"a": 1, "b": [{"c": null}]}`), with
/// no `String` built and copied first, and each resource's keys quoted once (`RowKeys`),
/// not once a row. Values are PostgreSQL's text as it came, checked rather than re-parsed:
/// a string with nothing to escape and a timestamp of the plain shape are copied as they are.
struct ResponseBody {
    private(set) var buffer: ByteBuffer

    /// A body with room for `capacity` bytes (it grows beyond when needed).
    init(capacity: Int = 512) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    /// The list document: `{"num_results": n, "objects": [rows...], "page": p, "total_pages": t}`.
    mutating func writeList<Rows: Sequence<PostgresRow>>(_ rows: Rows, of resource: Resource, window: PageWindow) {
        buffer.writeStaticString(#"{"num_results": "#)
        buffer.writeString(String(window.numResults))
        buffer.writeStaticString(#", "objects": ["#)
        var first = true
        for row in rows {
            if !first { buffer.writeStaticString(", ") }
            first = false
            writeObject(row, of: resource)
        }
        buffer.writeStaticString(#"], "page": "#)
        buffer.writeString(String(window.page))
        buffer.writeStaticString(#", "total_pages": "#)
        buffer.writeString(String(window.totalPages))
        buffer.writeStaticString("}")
    }

    /// One row as a JSON object: every column, in table order; datetimes as
    /// `YYYY-MM-DD HH:MM:SS`; NULL as null.
    mutating func writeObject(_ row: PostgresRow, of resource: Resource) {
        let keys = resource.rowKeys
        for (i, column) in resource.columns.enumerated() {
            switch column.kind {
            case .integer:
                buffer.writeBytes(keys.prefixes[i])
                if let value = row.int64(i) { buffer.writeString(String(value)) } else { buffer.writeStaticString("null") }
            case .text:
                writeString(row.string(i), after: keys, i)
            case .timestamp:
                writeTimestamp(row.string(i), after: keys, i)
            }
        }
        buffer.writeStaticString(keys.prefixes.isEmpty ? "{}" : "}")
    }

    /// Key `i` of `keys`, then a quoted string, escaped as `JSONWriter` escapes it, or null.
    private mutating func writeString(_ text: String?, after keys: RowKeys, _ i: Int) {
        guard let text, !Self.needsEscape(text) else {
            buffer.writeBytes(keys.prefixes[i])
            guard let text else { buffer.writeStaticString("null"); return }
            var quoted = ""
            JSONWriter.appendQuoted(text, to: &quoted)
            buffer.writeString(quoted)
            return
        }
        buffer.writeBytes(keys.quotedPrefixes[i])
        buffer.writeString(text)
        buffer.writeStaticString("\"")
    }

    /// Key `i` of `keys`, then PostgreSQL's text of a `timestamp` as the API prints it
    /// (`ResourceStore.apiTimestamp`): the plain shape as its first 19 bytes, the rest
    /// through `UTCTime`; nil and what has no microsecond (`infinity`, BC dates) as null.
    private mutating func writeTimestamp(_ text: String?, after keys: RowKeys, _ i: Int) {
        guard let text else { return writeString(nil, after: keys, i) }
        switch ResourceStore.plainTimestampShape(text) {
        case .exact:
            buffer.writeBytes(keys.quotedPrefixes[i])
            buffer.writeString(text)
        case .withFraction:
            buffer.writeBytes(keys.quotedPrefixes[i])
            buffer.writeBytes(text.utf8.prefix(19))
        case .other:
            return writeString(UTCTime.parseMicros(text).map { UTCTime.format(micros: $0, .api) }, after: keys, i)
        }
        buffer.writeStaticString("\"")
    }

    /// True when `text` holds a byte JSON needs escaped: `"`, `\` or a control character.
    static func needsEscape(_ text: String) -> Bool {
        let bytes = text.utf8.span
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C { return true }
            i += 1
        }
        return false
    }
}

/// The key of every column of a resource as JSON bytes, quoted once: `{"id": ` for the
/// first, `, "name": ` for the others, so a row object is each key then its value, then `}`;
/// `quotedPrefixes` the same followed by the opening quote of a string value.
struct RowKeys: Sendable {
    let prefixes: [[UInt8]]
    let quotedPrefixes: [[UInt8]]

    init(_ columns: [Column]) {
        prefixes = columns.enumerated().map { i, column in
            var key = ""
            JSONWriter.appendQuoted(column.name, to: &key)
            return Array(((i == 0 ? "{" : ", ") + key + ": ").utf8)
        }
        quotedPrefixes = prefixes.map { $0 + [UInt8(ascii: "\"")] }
    }
}
