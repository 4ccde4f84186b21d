import PostgresClient
import Testing

/// No server needed: these connect to a closed port.
@Suite("Passwords never leak")
struct SecretsTests {
    @Test(arguments: [
        "postgresql://u:hunter2@127.0.0.1:1/x",
        "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2",
        "host=127.0.0.1 port=1 user=u password=hunter2 dbname=x",
        "host=127.0.0.1 port=1 user=u password='hunter2' dbname=x",
        "postgresql://u@127.0.0.1:1/x?password=hunter2",
        "postgresql://u:hunter2@127.0.0.1:1/x?sslmode=bogus",
        "postgresql://u:hunter2@127.0.0.1:1/x?nonsense=1",
        "postgresql://u:hun%zzter2@127.0.0.1:1/x",
    ])
    func aFailedConnectionNeverShowsThePassword(url: String) throws {
        let error = postgresError { _ = try PostgresConnection(url: url) }
        #expect(error?.kind == .connection)
        let text = "\(error.map { "\($0)" } ?? "") \(error?.message ?? "") \(error?.detail ?? "")"
        #expect(!text.contains("hunter2"))
        #expect(!text.contains("hun%zzter2"))
        #expect(!text.isEmpty)
    }

    @Test(arguments: [
        ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
        ("postgres://u:p@ss:w@rd@h:5432/db?sslmode=require", "postgres://u:***@h:5432/db?sslmode=require"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db?user=u&password=secret&sslmode=require", "postgresql://h/db?user=u&password=***&sslmode=require"),
        ("host=h password=secret dbname=db", "host=h password=*** dbname=db"),
        ("host=h password = 'se cr\\'et' dbname=db", "host=h password = *** dbname=db"),
        ("host=h sslpassword=secret", "host=h sslpassword=***"),
        ("host=h PASSWORD=secret", "host=h PASSWORD=***"),
        ("host=h dbname=db", "host=h dbname=db"),
    ])
    func redaction(input: String, expected: String) {
        #expect(redactedConnectionString(input) == expected)
    }

    @Test func identifiersAreQuoted() {
        #expect(quotedIdentifier("telemetry") == "\"telemetry\"")
        #expect(quotedIdentifier("we\"ird") == "\"we\"\"ird\"")
    }

    @Test func parameterTextForms() {
        #expect(PostgresValue.double(.nan).textValue == "NaN")
        #expect(PostgresValue.double(-.infinity).textValue == "-Infinity")
        #expect(PostgresValue.timestamp(micros: 0).textValue == "1970-01-01 00:00:00.000000")
        #expect(PostgresValue.bool(false).textValue == "f")
        #expect(PostgresValue.null.textValue == nil)
        let literal: PostgresValue = "x"
        #expect(literal == .text("x"))
    }
}
