import Foundation
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
}
