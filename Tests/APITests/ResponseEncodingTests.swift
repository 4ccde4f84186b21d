import Foundation
import NIOCore
@testable import PostgresClient
import TelemetryCore
import Testing
@testable import SmartSolarAPI

/// The shortcuts of the request decoding and the response encoding give the same text as
/// the general path.
@Suite struct ResponseEncodingTests {
    /// The query-string decoder answers as Foundation's `+` replacement and percent decoding did.
    @Test(arguments: [
        "", "plain", "a+b", "%7B%22filters%22%3A%5B%5D%7D", "%zz", "100%", "a%2", "%C3%A9", "%c3%a9", "%C3",
        "+%2B+", "%FF+x", "%00", "caf%C3%A9+%E2%9C%93", "%%41", "é+%41",
    ])
    func queryStringValuesDecodeAsFoundationDecodes(text: String) {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        #expect(QueryString.decode(Substring(text)) == (spaced.removingPercentEncoding ?? spaced))
    }

    /// The byte-level split gives Swift's pieces (ASCII and not, every option).
    @Test(arguments: ["", "&", "a", "a&b", "&a&&b&", "q=1&page=2", "a=b=c", "=", "==x", "/v1/x/", "//", "é&x", "a&\u{301}b", "x\r\n&y"])
    func splittingOnBytesGivesSwiftsPieces(text: String) {
        for separator: Unicode.Scalar in ["&", "=", "/"] {
            for maxSplits in [0, 1, 2, Int.max] {
                for omitting in [true, false] {
                    #expect(QueryString.split(text, separator: separator, maxSplits: maxSplits, omittingEmptySubsequences: omitting)
                            == text.split(separator: Character(separator), maxSplits: maxSplits, omittingEmptySubsequences: omitting),
                            "\(text) \(separator) \(maxSplits) \(omitting)")
                }
            }
        }
    }

    @Test func authorizationHeaderSpellings() {
        let token = String(repeating: "aB3", count: 21) + "x"
        #expect(APITokens.token(fromAuthorization: "Token token=\(token)") == token)
        #expect(APITokens.token(fromAuthorization: "  token   TOKEN=\(token) ") == token)
        #expect(APITokens.token(fromAuthorization: "Token token=\(token.dropLast())-") == nil)
        #expect(APITokens.token(fromAuthorization: "Token token=\(token.dropLast())é") == nil)
        #expect(APITokens.token(fromAuthorization: "Token  token=\(token.dropLast())") == nil)
    }

    /// The general path: parse PostgreSQL's text, print it in the API's format.
    static func general(_ text: String) -> String? {
        UTCTime.parseMicros(text).map { UTCTime.format(micros: $0, .api) }
    }

    @Test(arguments: [
        "2024-01-01 00:01:00", "2024-01-01 00:01:00.5", "2024-02-29 23:59:59.999999", "1970-01-01 00:00:00",
        "0001-01-01 00:00:00", "9999-12-31 23:59:59.000001", "1969-12-31 23:59:59.75",
        "0001-01-01 00:00:00 BC", "2024-01-01 00:01:00.5 BC", "infinity", "-infinity", "10000-01-01 00:00:00",
        "2024-01-01 00:01:00.", "2024-01-01T00:01:00", "2024-01-01 00:01", "",
    ])
    func timestampsPrintAsTheGeneralPathPrintsThem(text: String) {
        #expect(ResourceStore.apiTimestamp(text) == Self.general(text))
    }

    @Test func plainTimestampsAreCutNotParsed() {
        #expect(ResourceStore.apiTimestamp("2024-01-01 00:01:00.999999") == "2024-01-01 00:01:00")
        #expect(ResourceStore.apiTimestamp("infinity") == nil)
    }

    /// Strings with nothing to escape take the one-piece path; the others the escaping one.
    @Test func quotedStringsWithAndWithoutEscapes() {
        func quoted(_ s: String, asciiOnly: Bool = false) -> String {
            var out = ""
            JSONWriter.appendQuoted(s, to: &out, asciiOnly: asciiOnly)
            return out
        }
        #expect(quoted("") == #""""#)
        #expect(quoted("seeded row 12") == #""seeded row 12""#)
        #expect(quoted("é漢🙂") == "\"é漢🙂\"")
        #expect(quoted("é🙂", asciiOnly: true) == #""\u00e9\ud83d\ude42""#)
        #expect(quoted("\u{7F}", asciiOnly: true) == #""\u007f""#)
        #expect(quoted("\u{7F}") == "\"\u{7F}\"")
        #expect(quoted("a\"b\\c\nd\u{01}e\t\r") == #""a\"b\\c\nd\u0001e\t\r""#)
    }

    /// The general path the byte writer replaces: each row through `JSONWriter`.
    static func generalList(_ rows: PostgresRows, of resource: Resource, window: PageWindow) -> String {
        var w = JSONWriter(style: .inline)
        w.object { w in
            w.member("num_results", window.numResults)
            w.key("objects")
            w.array { w in
                for row in rows {
                    w.object { w in
                        for (i, column) in resource.columns.enumerated() {
                            w.key(column.name)
                            switch column.kind {
                            case .integer: w.value(row.int64(i))
                            case .text: w.value(row.string(i))
                            case .timestamp: w.value(row.string(i).flatMap(general))
                            }
                        }
                    }
                }
            }
            w.member("page", window.page)
            w.member("total_pages", window.totalPages)
        }
        return w.output
    }

    /// `ResponseBody` writes the bytes `JSONWriter` wrote: escapes, NULLs, non-ASCII, every
    /// timestamp shape, empty pages and single objects.
    @Test func responseBodiesAreTheTextJSONWriterGives() {
        let resource = Resource.rtcConnectionHistory
        let values: [[String?]] = [
            ["1", "100000000000001", "online", "2024-01-01 00:01:00", "sleep-mode", "seeded row 1", "2024-01-01 00:01:00.5",
             "2024-06-01 00:00:00", "load-test", nil, nil],
            ["-42", "é漢🙂", "a\"b\\c\nd\u{01}e\t\r", "infinity", "", nil, "0001-01-01 00:00:00 BC",
             "10000-01-01 00:00:00", "\u{7F}", "2024-02-29 23:59:59.999999", "x"],
            [nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil],
        ]
        let rows = PostgresRows(columns: resource.columns.map(\.name), values: values.flatMap { $0 })
        let window = PageWindow(matching: 23, offset: nil, limit: nil, page: 2, resultsPerPage: 3)
        var body = ResponseBody(capacity: 16)
        body.writeList(rows, of: resource, window: window)
        #expect(String(buffer: body.buffer) == Self.generalList(rows, of: resource, window: window))
        var empty = ResponseBody()
        empty.writeList(EmptyCollection(), of: resource, window: window)
        #expect(String(buffer: empty.buffer) == #"{"num_results": 23, "objects": [], "page": 2, "total_pages": 8}"#)
        for row in rows {
            var one = ResponseBody()
            one.writeObject(row, of: resource)
            let general = Self.generalList(PostgresRows(columns: rows.columns, values: (0..<11).map { row.string($0) }),
                                           of: resource, window: window)
            let object = general.dropFirst(#"{"num_results": 23, "objects": ["#.count).dropLast(#"], "page": 2, "total_pages": 8}"#.count)
            #expect(String(buffer: one.buffer) == String(object))
        }
    }
}
