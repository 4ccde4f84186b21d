import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PostgresClient
import SmartSolarAPI
import TelemetrySchema
import TestSupport

/// A real API server on a free loopback port, over a fresh database with the schema
/// applied. `sql` is a separate connection for seeding and checking the tables.
final class LiveAPI: @unchecked Sendable {  // used by one test task at a time
    let database: TestDatabase
    let sql: PostgresConnection
    let port: Int
    private let server: Task<Void, Error>
    private let session: URLSession

    struct Reply {
        let status: Int
        let body: Data
        let headers: [String: String]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var objects: [[String: Any]] { json["objects"] as? [[String: Any]] ?? [] }
        var ids: [Int] { objects.compactMap { ($0["rtc_connection_history_id"] ?? $0["product_migration_history_id"]) as? Int } }
        var message: String { json["message"] as? String ?? "" }
    }

    private init(database: TestDatabase, sql: PostgresConnection, port: Int, server: Task<Void, Error>) {
        self.database = database
        self.sql = sql
        self.port = port
        self.server = server
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        session = URLSession(configuration: configuration)
    }

    /// `configure` adjusts the server's settings; `serverURL` (given the database's URL)
    /// replaces the URL the server connects with, e.g. to use another role.
    static func start(label: String, poolSize: Int = 4,
                      configure: (inout APIServerConfiguration) -> Void = { _ in },
                      prepare: (TestDatabase, PostgresConnection) throws -> String? = { _, _ in nil }) async throws -> LiveAPI {
        let (database, sql) = try await offThePool {
            let database = try TestDatabase.create(label: label)
            let sql = try PostgresConnection(url: database.url)
            _ = try Schema.apply(on: sql)
            return (database, sql)
        }
        let serverURL = try prepare(database, sql) ?? database.url
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var configuration = APIServerConfiguration(host: "127.0.0.1", port: 0, databaseURL: serverURL, poolSize: poolSize)
        configure(&configuration)
        let server = APIServer(configuration: configuration)
        let task = Task {
            do {
                try await server.run { port in continuation.yield(port) }
                continuation.finish()
            } catch {
                continuation.finish()
                throw error
            }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            _ = await task.result
            throw TestFailure("the API server did not start")
        }
        return LiveAPI(database: database, sql: sql, port: port, server: task)
    }

    /// A server on a fresh database seeded with `RTCSeed`'s rows, for the length of `body`;
    /// stopped whether `body` returns or throws.
    static func withSeeded(_ label: String, poolSize: Int = 4,
                           configure: (inout APIServerConfiguration) -> Void = { _ in },
                           _ body: (LiveAPI) async throws -> Void) async throws {
        let api = try await start(label: label, poolSize: poolSize, configure: configure)
        do {
            try RTCSeed.insertAll(on: api.sql)
            try await body(api)
        } catch {
            await api.stop()
            throw error
        }
        await api.stop()
    }

    func stop() async {
        server.cancel()
        _ = await server.result
        sql.close()
        let database = database
        _ = try? await Self.offThePool { database.drop() }
    }

    /// Runs blocking setup on a thread of its own and awaits it. On a Citus cluster making or
    /// dropping a test database takes seconds and waits its turn (`CitusCluster`); on the
    /// cooperative pool (2 threads here) that stalled the in-process servers of the tests
    /// running meanwhile for tens of seconds.
    private static func offThePool<T>(_ work: @escaping () throws -> T) async throws -> T {
        let handover = Handover(work)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            Thread {
                handover.result = Result { try handover.work() }
                continuation.resume()
            }.start()
        }
        return try handover.result!.get()
    }

    /// A fresh token with `permission`, created as `token create` does.
    func token(_ permission: Permission) throws -> String {
        try APITokens.create(user: "test@example.com", permission: permission, on: sql)
    }

    /// Sends a request; `query` items are form-encoded into the URL.
    func request(_ path: String, query: [String: String] = [:], token: String?, authorization: String? = nil) async throws -> Reply {
        try await request("GET", path, query: query, token: token, authorization: authorization)
    }

    func request(_ method: String, _ path: String, query: [String: String] = [:], token: String?,
                 authorization: String? = nil, body: Data? = nil) async throws -> Reply {
        var components = URLComponents(string: "http://127.0.0.1:\(port)\(path)")!
        if !query.isEmpty {
            components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
            // URLComponents leaves `+` and `&`-safe characters alone; encode `+` so it is not a space.
            components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        }
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        if let token { request.setValue("Token token=\(token)", forHTTPHeaderField: "Authorization") }
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            headers[String(describing: key).lowercased()] = String(describing: value)
        }
        return Reply(status: http.statusCode, body: data, headers: headers)
    }

    /// GET a list with a `q` document.
    func search(_ resource: String, _ q: String, token: String, extra: [String: String] = [:]) async throws -> Reply {
        var query = extra
        query["q"] = q
        query["results_per_page"] = query["results_per_page"] ?? "100"
        return try await request("GET", "/v1/\(resource)", query: query, token: token)
    }

    func count(_ table: String) throws -> Int64 {
        try sql.query("SELECT count(*) FROM \(table)").first?.int64(0) ?? -1
    }
}

/// Blocking work and its result, handed to a thread and back (`LiveAPI.offThePool`).
// @unchecked Sendable: each field is written by one side before the other reads it.
private final class Handover<T>: @unchecked Sendable {
    let work: () throws -> T
    var result: Result<T, Error>?
    init(_ work: @escaping () throws -> T) { self.work = work }
}
