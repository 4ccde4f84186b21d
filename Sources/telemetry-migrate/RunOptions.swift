import ArgumentParser
import DumpReader
import Foundation
import Logging
import Migration
import PostgresClient
import TelemetryCore
import TelemetrySchema

/// Options shared by the commands that read dumps.
struct ReaderOptionGroup: ParsableArguments {
    @Option(help: "The measurement to migrate.")
    var measurement = "telemetry"

    @Option(help: "Only points of this database (from the export's CONTEXT lines).")
    var database: String?

    @Option(name: .customLong("retention-policy"), help: "Only points of this retention policy.")
    var retentionPolicy: String?

    @Option(help: "Timestamp precision of line-protocol dumps: ns, us, ms or s.")
    var precision: Precision = .ns

    var readerOptions: ReaderOptions {
        ReaderOptions(measurement: measurement, database: database, retentionPolicy: retentionPolicy, precision: precision)
    }
}

extension Precision: ExpressibleByArgument {}
extension ReportFormat: ExpressibleByArgument {}

/// Options shared by the commands that print a report.
struct ReportOptionGroup: ParsableArguments {
    @Option(help: "Report format: text, json or csv.")
    var report: ReportFormat = .text

    @Option(name: .customLong("report-file"), help: "Write the report to this file instead of standard output.")
    var reportFile: String?

    /// Prints or writes the report.
    func emit(_ text: String) throws {
        if let reportFile {
            do {
                try OutputFile.write(text, to: reportFile)
            } catch {
                throw ValidationError("cannot write the report file \(reportFile): \(error.localizedDescription)")
            }
        } else {
            print(text, terminator: "")
        }
    }
}

/// Options of a migration run (nightly and backfill).
struct RunOptionGroup: ParsableArguments {
    @Option(help: "The directory of dumps, read in byte order of file name (hidden files ignored).")
    var dumps: String?

    @Argument(help: "Dump files, in addition to or instead of --dumps.")
    var files: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Classify and report, write nothing (read-only transactions).")
    var dryRun = false

    @Flag(name: .customLong("staged-only"),
          help: "Copy every dump through the deduplicating stage instead of straight into telemetry: slower, same rows and counts.")
    var stagedOnly = false

    @Option(name: .customLong("at-watermark-buffer"),
            help: ArgumentHelp("Candidates exactly at a watermark kept in memory per dump before it is read twice.",
                               visibility: .hidden))
    var atWatermarkBuffer = 1 << 16

    @Option(name: .customLong("reject-file"), help: "Write rejected lines (file, line, column, reason, raw) to this CSV file.")
    var rejectFile: String?

    @Option(name: .customLong("max-rejects"), help: "Fail the run (exit 4) when more lines than this are rejected.")
    var maxRejects: Int?

    @Option(name: .customLong("metrics-file"),
            help: "Write run metrics here in Prometheus text format (for node_exporter's textfile collector), atomically.")
    var metricsFile: String?

    @Option(name: .customLong("json-report-file"),
            help: "Also write the JSON report to this file (atomically), whatever --report says: text for a person, JSON for the record.")
    var jsonReportFile: String?

    @Option(help: ArgumentHelp("Take only the products of run unit K of N (IMEI hash, as Citus places shards), with its own lock: N processes with K = 0..N-1 split a run.", valueName: "K/N"))
    var shard: String?

    @Option(help: "Write through this many connections, one run unit each (default: one per core, at most 4, here \(RunOptionGroup.defaultWorkers); 1 for a backfill).")
    var workers: Int?

    /// The default of `--workers`: one per core, 1 to 4 (2 on the 2-core reference machine;
    /// docs/workers.md says why).
    static let defaultWorkers = min(4, max(1, ProcessInfo.processInfo.activeProcessorCount))

    /// `--shard K/N` as a unit (validated).
    var shardUnit: RunUnit? {
        shard.flatMap(RunUnit.parseFraction).map { RunUnit.shard($0.index, of: $0.count) }
    }

    /// `--workers`, or the default; 1 for a shard's process.
    var workerCount: Int { workerCount(default: RunOptionGroup.defaultWorkers) }

    /// `--workers`, or `default`; 1 for a shard's process.
    func workerCount(default: Int) -> Int { workers ?? (shard == nil ? `default` : 1) }

    func validate() throws {
        if let shard, RunUnit.parseFraction(shard) == nil {
            throw ValidationError("--shard must be K/N with 0 <= K < N (N at most 4096), not '\(shard)'")
        }
        if let workers, workers < 1 || workers > 64 { throw ValidationError("--workers must be 1 to 64") }
        if shard != nil, let workers, workers > 1 {
            throw ValidationError("--shard and --workers > 1 do not combine: a shard's process writes through one connection (run N processes instead)")
        }
        if dumps == nil && files.isEmpty { throw ValidationError("give --dumps DIR or dump files") }
        if let maxRejects, maxRejects < 0 { throw ValidationError("--max-rejects must be 0 or more") }
        if atWatermarkBuffer < 0 { throw ValidationError("--at-watermark-buffer must be 0 or more") }
    }

    /// The dumps to process: the directory's, then the explicit files, in byte order of name.
    /// The run's own output files (`outputs`) are not the directory's dumps, should they be
    /// written into it (a report directory that is the dumps directory).
    func dumpPaths(excluding outputs: [String?]) throws -> [String] {
        var paths: [String] = []
        if let dumps {
            do { paths = try DumpDirectory.list(dumps) } catch {
                throw ValidationError("cannot list dumps directory \(dumps): \(error)")
            }
            let excluded = Set(outputs.compactMap { $0 }.map(Self.canonical))
            paths.removeAll { excluded.contains(Self.canonical($0)) }
        }
        for file in files where !FileManager.default.fileExists(atPath: file) {
            throw ValidationError("no such dump: \(file)")
        }
        paths += files
        return paths.sorted { Array(($0 as NSString).lastPathComponent.utf8).lexicographicallyPrecedes(($1 as NSString).lastPathComponent.utf8) }
    }

    /// `path` absolute, its directory's symbolic links resolved: comparable for a file that
    /// does not exist yet.
    private static func canonical(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        return url.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(url.lastPathComponent).path
    }
}
