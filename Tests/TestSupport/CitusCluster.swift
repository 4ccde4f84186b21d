import Foundation

/// The Citus cluster the tests run against when `TM_TEST_TARGET=citus` (as `jobs/citus`
/// exports it, e.g. under `jobs/test --citus`): the coordinator is libpq's `PGHOST`/`PGPORT`,
/// the workers are `TM_CITUS_WORKERS` (`host:port,host:port`), and the nodes know each other
/// by `TM_CITUS_NODE_HOST` (jobs/citus: the socket directory, so that no role needs a password
/// between nodes).
///
/// Citus keeps its metadata per database, so a test's new database needs, on every node,
/// the database itself and `CREATE EXTENSION citus`, and on the coordinator the nodes
/// registered in it. Database propagation (`citus.enable_create_database_propagation`) is
/// switched off for these statements so that each node is handled exactly once.
public struct CitusCluster: Sendable {
    public struct Node: Sendable, Hashable {
        public let host: String
        public let port: String
    }

    public let coordinator: Node
    public let workers: [Node]
    /// The host the nodes are registered under (`citus_add_node`).
    public let nodeHost: String

    /// The name `TestDatabase.target` reports, and `TM_TEST_TARGET` takes.
    public static let targetName = "citus"

    /// The cluster of the environment, or nil when the target is a plain PostgreSQL. A Citus
    /// target without workers is a broken setup and stops the test run.
    public static let current: CitusCluster? = {
        let env = ProcessInfo.processInfo.environment
        guard env["TM_TEST_TARGET"] == targetName else { return nil }
        let workers = (env["TM_CITUS_WORKERS"] ?? "").split(separator: ",").compactMap { entry -> Node? in
            guard let colon = entry.lastIndex(of: ":") else { return nil }
            return Node(host: String(entry[..<colon]), port: String(entry[entry.index(after: colon)...]))
        }
        precondition(!workers.isEmpty, "TM_TEST_TARGET=citus needs TM_CITUS_WORKERS=host:port,... (jobs/citus env NAME prints it)")
        let coordinator = Node(host: env["PGHOST"] ?? "localhost", port: env["PGPORT"] ?? "5432")
        return CitusCluster(coordinator: coordinator, workers: workers, nodeHost: env["TM_CITUS_NODE_HOST"] ?? coordinator.host)
    }()

    private static let noPropagation = "SET citus.enable_create_database_propagation = off"

    /// Serialises `createDatabase` within the test process: registering nodes in two databases
    /// at once makes Citus update the same shared catalog rows (roles) on a worker, and one
    /// of them fails with "tuple concurrently updated".
    private static let setupLock = NSLock()

    /// Creates `name` on every node (with `options`, a `CREATE DATABASE` clause) with the
    /// citus extension and registers the nodes in it.
    public func createDatabase(_ name: String, options: String = "") throws {
        Self.setupLock.lock()
        defer { Self.setupLock.unlock() }
        for node in workers + [coordinator] {
            try psql(node, database: "postgres", [Self.noPropagation, "CREATE DATABASE \(name) \(options)"])
            try psql(node, database: name, ["CREATE EXTENSION citus"])
        }
        var registration = ["SELECT citus_set_coordinator_host('\(nodeHost)', \(coordinator.port))"]
        registration += workers.map { "SELECT citus_add_node('\(nodeHost)', \($0.port))" }
        do {
            try psql(coordinator, database: name, registration)
        } catch {  // another process registering at the same moment: once more (adding a node twice is a no-op)
            Thread.sleep(forTimeInterval: 1)
            try psql(coordinator, database: name, registration)
        }
    }

    /// Drops `name` on every node, the coordinator first (its maintenance daemon then stops
    /// visiting the workers' copies). Citus' maintenance daemon, a background worker that
    /// `WITH (FORCE)` does not end, sometimes still holds the database: tried again then.
    public func dropDatabase(_ name: String) {
        for node in [coordinator] + workers {
            for attempt in 1...5 {
                do {
                    try psql(node, database: "postgres", [Self.noPropagation, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
                    break
                } catch {
                    if attempt < 5 { Thread.sleep(forTimeInterval: 1) }
                }
            }
        }
    }

    /// Runs SQL on one node of the cluster; returns psql's unaligned, tuples-only output.
    @discardableResult
    public func psql(_ node: Node, database: String, _ statements: [String]) throws -> String {
        var arguments = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", node.host, "-p", node.port, "-d", database]
        for statement in statements { arguments += ["-c", statement] }
        let result = run("/usr/bin/env", arguments)
        guard result.status == 0 else {
            throw TestFailure("psql on \(node.host):\(node.port)/\(database) failed (\(result.status)): \(result.stderr)")
        }
        return result.stdout
    }
}

extension TestDatabase {
    /// A database of one PostgreSQL: on the Citus target, a database of the coordinator
    /// without the extension (Citus is only preloaded there, so it is a plain PostgreSQL);
    /// otherwise what `create` makes. For tests that run one scenario on both and compare.
    public static func createSingleNode(label: String = "t") throws -> TestDatabase {
        guard let cluster = CitusCluster.current else { return try create(label: label) }
        let safe = label.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(20)
        let name = "tm_\(safe)_\(UInt32.random(in: 0...UInt32.max))"
        try cluster.psql(cluster.coordinator, database: "postgres",
                         ["SET citus.enable_create_database_propagation = off", "CREATE DATABASE \(name)"])
        return TestDatabase(name: name, url: url(for: name))
    }
}
