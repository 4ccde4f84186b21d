import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PostgresClient
import Testing
import TestSupport

/// `telemetry-migrate serve` and `token create` as an operator runs them: the built binary.
@Suite(.enabled(if: Requirement.database.testsRun))
struct CommandTests {
    @Test func tokenCreatePrintsAUsableTokenOnce() async throws {
        let database = try TestDatabase.create(label: "tokcli")
        defer { database.drop() }
        let bad = run(Package.executable, ["token", "create", "--user", "ops@example.com", "--permission", "ROOT", "--database-url", database.url])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("OVERVIEW, TECHNICAL, ADMIN, FACTORY, SYSTEM"))

        let made = run(Package.executable, ["token", "create", "--user", "ops@example.com", "--permission", "technical", "--database-url", database.url])
        #expect(made.status == 0, "\(made.stderr)")
        let token = made.stdout.trimmingCharacters(in: .newlines)
        #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
        let stored = try database.psql("""
            SELECT user_email || ' ' || permission || ' ' || (expires_at > (now() AT TIME ZONE 'UTC') + interval '2 hours 59 minutes')
            FROM api_token WHERE token_hash = encode(sha256(convert_to('\(token)', 'UTF8')), 'hex')
            """)
        #expect(stored.trimmingCharacters(in: .newlines) == "ops@example.com TECHNICAL true")
        #expect(try database.psql("SELECT count(*) FROM api_token WHERE token_hash = '\(token)'").hasPrefix("0"))
    }

    @Test func serveListensAnswersAndStopsOnSIGTERM() async throws {
        let database = try TestDatabase.create(label: "servecli")
        defer { database.drop() }
        let made = run(Package.executable, ["token", "create", "--user", "ops@example.com", "--permission", "OVERVIEW", "--database-url", database.url])
        let token = made.stdout.trimmingCharacters(in: .newlines)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Package.executable)
        process.arguments = ["serve", "--port", "0", "--pool-size", "2", "--database-url", database.url]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let reader = stdout.fileHandleForReading
        let line = await Task.detached { Self.readLine(reader) }.value
        let prefix = "listening on http://127.0.0.1:"
        #expect(line.hasPrefix(prefix))
        let port = try #require(Int(line.dropFirst(prefix.count)))

        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/product_migration_history")!)
        request.setValue("Token token=\(token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let document = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(document?["num_results"] as? Int == 0 && document?["total_pages"] as? Int == 0)

        process.terminate()  // SIGTERM: graceful shutdown
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
    }

    /// The first line the process prints (blocking; run off the cooperative pool).
    static func readLine(_ handle: FileHandle) -> String {
        var bytes: [UInt8] = []
        while true {
            let data = handle.readData(ofLength: 1)
            guard let byte = data.first, byte != 0x0A else { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func unreachableDatabaseIsExit2WithoutThePassword() {
        let result = run(Package.executable, ["serve", "--port", "0", "--database-url", "postgresql://api:s3cretpw@127.0.0.1:1/nowhere?connect_timeout=2"])
        #expect(result.status == 2)
        #expect(!result.stderr.isEmpty)
        #expect(!result.stderr.contains("s3cretpw") && !result.stdout.contains("s3cretpw"))
    }
}
