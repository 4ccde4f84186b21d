import PostgresClient
import Testing

/// The one password scrubber (`Secrets`), used for libpq's messages and for every log line.
@Suite struct ScrubberTests {
    @Test func passwordsOfURLsAndConninfoAsWrittenAndDecodedLongestFirst() {
        let secrets = Secrets(connectionStrings: ["postgresql://u:p%40ss-word@h/db", "host=h password='hunter22'"],
                              passwords: ["pg-env-secret", "ab"])
        #expect(secrets.values.contains("p%40ss-word") && secrets.values.contains("p@ss-word"))
        #expect(secrets.values.contains("hunter22") && secrets.values.contains("pg-env-secret"))
        #expect(!secrets.values.contains("ab"), "shorter than \(Secrets.minimumLength): not scrubbed")
        #expect(secrets.values == secrets.values.sorted { $0.count > $1.count || ($0.count == $1.count && $0 < $1) })
        #expect(secrets.scrub("p@ss-word and p%40ss-word, hunter22 ab") == "*** and ***, *** ab")
    }

    @Test func aPasswordInsideALongerOneIsReplacedWhole() {
        #expect(Secrets(["secret", "secret-longer"]).scrub("x secret-longer y") == "x *** y")
    }
}
