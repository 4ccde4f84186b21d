import Foundation

/// A throwaway database on the test server, one per test, so tests may run in parallel.
///
/// The server comes from libpq's environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`),
/// as `pg_virtualenv` sets it up for `jobs/test`. The URL carries no password: libpq reads
/// `PGPASSWORD` from the environment, which child processes inherit.
public struct TestDatabase: Sendable {
    public let name: String
    /// `postgresql://user@host:port/name`, without a password.
    public let url: String

    /// "citus" when the tests run against a Citus cluster (`TM_TEST_TARGET=citus`, see
    /// `CitusCluster`), else "postgres".
    public static var target: String { CitusCluster.current == nil ? "postgres" : CitusCluster.targetName }

    /// Creates a new, empty database and returns it (on Citus: on every node, extension
    /// created and nodes registered, so `schema apply` distributes the tables). `encoding`: the
    /// database's instead of the server's default (with the C locale).
    public static func create(label: String = "t", encoding: String? = nil) throws -> TestDatabase {
        try Requirement.database.check()
        let safe = label.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(20)
        let name = "tm_\(safe)_\(UInt32.random(in: 0...UInt32.max))"
        let options = encoding.map { "ENCODING '\($0)' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" } ?? ""
        if let cluster = CitusCluster.current {
            try cluster.createDatabase(name, options: options)
        } else {
            try psql(database: "postgres", "CREATE DATABASE \(name) \(options)")
        }
        return TestDatabase(name: name, url: url(for: name))
    }

    /// Drops the database (terminating any session still on it).
    public func drop() {
        if let cluster = CitusCluster.current { return cluster.dropDatabase(name) }
        _ = try? TestDatabase.psql(database: "postgres", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs SQL through `psql` on this database and returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ sql: String) throws -> String {
        try TestDatabase.psql(database: name, sql)
    }

    /// Whether the boolean `condition` (an SQL expression) turns true within `seconds`,
    /// asked every 50 ms.
    public func becomes(_ condition: String, within seconds: Double = 30) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if try psql("SELECT \(condition)").hasPrefix("t") { return true }
            guard Date() < deadline else { return false }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    @discardableResult
    static func psql(database: String, _ sql: String) throws -> String {
        let result = run("/usr/bin/env", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", database, "-c", sql])
        guard result.status == 0 else {
            throw TestFailure("psql failed (\(result.status)): \(result.stderr)")
        }
        return result.stdout
    }

    static func url(for database: String) -> String {
        let env = ProcessInfo.processInfo.environment
        let user = env["PGUSER"] ?? "postgres"
        var host = env["PGHOST"] ?? "localhost"
        let port = env["PGPORT"] ?? "5432"
        if host.hasPrefix("/") {  // a socket directory goes into the query string
            return "postgresql://\(user)@/\(database)?host=\(host)&port=\(port)"
        }
        if host.contains(":") { host = "[\(host)]" }
        return "postgresql://\(user)@\(host):\(port)/\(database)"
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
