import Foundation
import Testing
import TestSupport

// Shared by the operator-view tests (jobs/ wrappers, progress line, logs, metrics, status, help),
// which run the built executable against the fixtures and a real PostgreSQL.

/// The fixtures' products (fixtures/products.txt, comments and blank lines left out).
func fixtureProducts() throws -> [String] {
    let text = try String(contentsOf: Package.fixtures.appendingPathComponent("products.txt"), encoding: .utf8)
    return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
}

var fixtureDumps: URL { Package.fixtures.appendingPathComponent("dumps") }

/// A scratch directory with an env file for the jobs/ wrappers, pointing at `db`.
struct JobEnvironment {
    let directory: URL
    let envFile: URL
    var reports: URL { directory.appendingPathComponent("reports") }

    init(db: TestDatabase, dumps: URL = fixtureDumps, extra: [String: String] = [:]) throws {
        directory = try Package.temporaryDirectory("ops-job")
        envFile = directory.appendingPathComponent("env")
        var settings = [
            "DATABASE_URL": db.url, "DUMPS_DIR": dumps.path, "REPORT_DIR": directory.appendingPathComponent("reports").path,
            "TELEMETRY_MIGRATE_BIN": Package.executable,
        ]
        settings.merge(extra) { $1 }
        let text = "# written by OperationsTests\n" + settings.keys.sorted().map { "\($0)='\(settings[$0]!)'" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: envFile)
    }

    /// Runs `jobs/<name>` with this env file.
    func run(_ name: String, _ arguments: [String] = []) -> ProcessResult {
        TestSupport.run(Package.root.appendingPathComponent("jobs/\(name)").path, arguments,
                        environment: ["TELEMETRY_MIGRATE_ENV": envFile.path])
    }

    /// Files in the report directory, sorted.
    func reportFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: reports.path)) ?? []).sorted()
    }

    func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: reports.appendingPathComponent(name))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestFailure("\(name) is not a JSON object")
        }
        return object
    }

    func rejectRows(_ name: String) throws -> [String] {
        let text = try String(contentsOf: reports.appendingPathComponent(name), encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }
}

/// Creates a database with the schema and the fixtures' products, runs `body`, drops it.
func withPreparedDatabase(_ label: String, _ body: (TestDatabase, Tool) throws -> Void) throws {
    let db = try TestDatabase.create(label: label)
    defer { db.drop() }
    let tool = Tool(db: db)
    try tool.prepare(products: try fixtureProducts())
    try body(db, tool)
}

func matches(_ name: String, _ pattern: String) -> Bool {
    name.range(of: pattern, options: .regularExpression) != nil
}

/// A Prometheus text file as samples: "name{labels}" to value.
func parsePrometheus(_ text: String) throws -> [String: Double] {
    var samples: [String: Double] = [:]
    var typed: Set<String> = []
    for line in text.split(separator: "\n").map(String.init) {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 4 && parts[3] == "gauge", "\(line)")
            typed.insert(String(parts[2]))
            continue
        }
        if line.hasPrefix("#") { continue }
        let pieces = line.split(separator: " ")
        guard pieces.count == 2, let value = Double(pieces[1]) else { throw TestFailure("not a sample: \(line)") }
        let key = String(pieces[0])
        let name = String(key.prefix { $0 != "{" })
        #expect(typed.contains(name), "TYPE before the samples of \(name)")
        #expect(key.contains(#"mode=""#), "\(line)")
        samples[key] = value
    }
    return samples
}
