@_spi(Fuzzing) import DumpReader
import Foundation
import PropertyBased
import Testing

/// A small line-protocol writer, as InfluxDB escapes: measurement `,` and space; tag keys,
/// tag values and field keys `,` `=` and space; string values `"` and `\`.
enum LineProtocolWriter {
    static func escape(_ s: String, equals: Bool) -> String {
        var out = ""
        for c in s {
            if c == "," || c == " " || (equals && c == "=") { out.append("\\") }
            out.append(c)
        }
        return out
    }

    static func value(_ v: FieldValue) -> String {
        switch v {
        case .float(let d): return "\(d)"
        case .integer(let i): return "\(i)i"
        case .unsigned(let u): return "\(u)u"
        case .boolean(let b): return b ? "true" : "false"
        case .string(let s): return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
    }

    static func line(measurement: String, imei: String, tag: String, fields: [(String, FieldValue)], time: Int64) -> String {
        escape(measurement, equals: false) + ",product_imei=" + imei + ",site=" + escape(tag, equals: true) + " "
            + fields.map { escape($0.0, equals: true) + "=" + value($0.1) }.joined(separator: ",") + " \(time)"
    }
}

@Suite struct RoundTripPropertyTests {
    @Test func writtenPointsParseBackToThemselves() async {
        // Names without backslashes (a trailing backslash is ambiguous in line protocol itself).
        let name = Gen<Character?>.element(of: Array("abcXYZ019 ,=\"é_") as [Character]).map { $0! }
            .string(of: 1...8)
            .filter { !$0.hasPrefix("#") && !$0.hasPrefix(" ") }
        let text = Gen<Character?>.element(of: Array("abcXYZ019 ,=\"\\\né😀") as [Character]).map { $0! }.string(of: 0...12)
        let value = Gen.oneOf(
            Gen.double(in: -1e12...1e12).map { FieldValue.float($0) },
            Gen.int64().map { FieldValue.integer($0) },
            Gen.uint64().map { FieldValue.unsigned($0) },
            Gen.bool().map { FieldValue.boolean($0) },
            text.map { FieldValue.string($0) }
        )
        let imei = Gen<Character?>.element(of: Array("0123456789") as [Character]).map { $0! }.string(of: 1...15)
        await propertyCheck(count: 300, input: name, imei, name, name, value,
                            Gen.int64(in: -4_000_000_000_000_000_000...4_000_000_000_000_000_000)) {
            measurement, imei, tag, field, value, time in
            let line = LineProtocolWriter.line(measurement: measurement, imei: imei, tag: tag,
                                               fields: [(field, value), (field + "2", .integer(1))], time: time)
            let result = try? parse("# DML\n" + line + "\n" + line + "\n", options: ReaderOptions(measurement: measurement))
            let expected = Point(measurement: measurement, imei: imei, field: field, value: value, time: time, line: 2)
            #expect(result?.rejects == [])
            #expect(result?.points.count == 4)
            #expect(result?.points.first == expected)
            let newlines = line.filter { $0 == "\n" }.count
            #expect(result?.points.last?.line == 3 + newlines)
        }
    }

    /// Timestamps and integer values are read eight digits at a time; whatever the bytes, the
    /// outcome is what `Int64(_:)` says. The alphabet is mostly digits, so that long runs come
    /// up, with the bytes next to the digits (`/` and `:` to `?`) and `-` in between.
    @Test func integersParseAsInt64Does() async {
        let alphabet = Array(String(repeating: "0123456789", count: 6) + "-/:;<=>?") as [Character]
        let token = Gen<Character?>.element(of: alphabet).map { $0! }.string(of: 1...24)
        await propertyCheck(count: 400, input: token) { token in
            let result = try? parse("m,product_imei=1 f=\(token)i 1\nm,product_imei=1 f=1i \(token)\n",
                                    options: ReaderOptions(measurement: "m"))
            let expected = Int64(token)
            #expect(result?.points.first { $0.line == 1 }?.value == expected.map { .integer($0) })
            #expect(result?.points.first { $0.line == 2 }?.time == expected)
            #expect(result?.rejects.count == (expected == nil ? 2 : 0))
        }
    }
}

/// A parser carries what the last series meant from line to line (`LineProtocolParser`'s last
/// series, and the shortcut for a series that differs from it only in its IMEI's digits); a
/// line read after any others must mean what it means alone.
@Suite struct SeriesMemoryPropertyTests {
    /// Mostly `m,product_imei=DIGITS`, the shape the shortcut takes, with what must make it
    /// step aside: 0 or more than 15 digits, a letter among them, another measurement (one
    /// with an escape), a second tag before or after, an escaped IMEI, a missing field or
    /// timestamp; and field keys that the key cache must tell apart (`f` and `fg`, escapes, a
    /// key it refuses, `product_imei`).
    @Test func aLineMeansWhatItMeansAlone() async {
        let digit = Gen<Character?>.element(of: Array("0123456789") as [Character]).map { $0! }
        let imei = Gen.oneOf(
            digit.string(of: 1...15), digit.string(of: 1...15), digit.string(of: 1...15),
            digit.string(of: 0...18),
            digit.string(of: 1...14).map { $0 + "x" }
        )
        let measurement = Gen<String?>.element(of: ["m", "m", "m", "m2", "m\\ x", "n"]).map { $0! }
        let tags = Gen<Int?>.element(of: [0, 0, 0, 0, 1, 2, 3]).map { $0! }
        let fields = Gen<String?>.element(of: [
            "f=1i", "g=2.5", "f=1i,g=\"s\"", "", "f=", "fg=1,f=2", "f\\=x=1i", "f\\\\=2", "f\\ =3",
            "product_imei=1i,f=2i", "f\u{0}=1",
        ]).map { $0! }
        let time = Gen<String?>.element(of: [" 1", " 1", "  17", "", " x"]).map { $0! }
        let line = zip(measurement, imei, tags, fields, time).map { parts in
            let (measurement, imei, tags, fields, time) = parts
            let series = switch tags {
            case 1: measurement + ",product_imei=" + imei + ",site=a"
            case 2: measurement + ",a=b,product_imei=" + imei
            case 3: measurement + ",product_imei=\\ " + imei
            default: measurement + ",product_imei=" + imei
            }
            return series + " " + fields + time
        }
        await propertyCheck(count: 300, input: line.array(of: 1...24)) { lines in
            let together = Self.events(lines.joined(separator: "\n") + "\n")
            let alone = lines.flatMap { Self.events($0 + "\n") }
            #expect(together == alone)
        }
    }

    /// The events of `text`, read sequentially, each without its line number (a line alone is line 1).
    static func events(_ text: String) -> [String] {
        var events: [String] = []
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { bytes in
            readDecompressed(bytes, file: "d", options: ReaderOptions(measurement: "m")) { event in
                switch event {
                case .point(var p): p.line = 0; events.append("point \(p)")
                case .other(var p): p.line = 0; events.append("other \(p)")
                case .malformed(var r): r.line = 0; events.append("malformed \(r) \(r.raw)")
                }
            }
        }
        return events
    }
}
