import ArgumentParser
import Foundation
import Logging
import Migration
import PostgresClient
import TelemetryCore
import TelemetrySchema

/// Runs a configured migration (nightly and backfill) and turns its outcome into a report
/// and an exit code.
///
/// Invariant: once the options are valid, every run prints a report, as asked (format,
/// `--report-file`, `--json-report-file`), and writes its metrics file: a run that fails
/// before its first dump (dumps it cannot list, database unreachable or lost, schema error,
/// an IMEI that is not a product) reports status `failed` with the reason in `message`, and
/// still exits 2.
enum MigrationCommand {
    /// Runs `configuration` on the dumps `options` names, listed here (so that a directory it
    /// cannot list, a mount gone at night, still leaves a report and metrics).
    static func execute(_ configuration: RunConfiguration, database: DatabaseOptions, report: ReportOptionGroup,
                        options: RunOptionGroup) throws {
        var configuration = configuration
        let started = Date()
        let logger = Logger(label: "telemetry-migrate")
        /// A run that never produced a report of its own still leaves a report (status
        /// failed, the reason in its message) and metrics (status "error"), and exits 2.
        func failedBeforeItsFirstDump(_ reason: String, stderr: String? = nil) throws -> Never {
            var unwritten: [String] = []
            if let path = options.metricsFile {
                let metrics = RunMetrics(unfinished: configuration.mode.name, dryRun: configuration.dryRun, startedAt: started,
                                         exitCode: ExitReason.usage.rawValue, unit: configuration.shard?.name ?? "all")
                do { try metrics.write(to: path) } catch { unwritten.append("\(error)") }
            }
            let result = RunReport(mode: configuration.mode.name, dryRun: configuration.dryRun, status: .failed,
                                   durationSeconds: Date().timeIntervalSince(started), message: reason)
            unwritten += emit(result, report: report, options: options)
            throw fail("telemetry-migrate: " + ([stderr ?? reason] + unwritten).joined(separator: "; "), code: .usage)
        }
        do {
            configuration.dumps = try options.dumpPaths(excluding: [options.rejectFile, options.jsonReportFile,
                                                                    options.metricsFile, report.reportFile])
        } catch {
            try failedBeforeItsFirstDump("\(error)")
        }
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(url: database.connectionString, applicationName: applicationName(configuration))
        } catch {
            try failedBeforeItsFirstDump("\(error) (database: \(database.target))", stderr: "\(error)\n  database: \(database.target)")
        }
        let result: RunReport
        let rejects: LoggingRejectSink
        let progress = ProgressLine.forStandardError()
        do {
            if configuration.dryRun {
                let pending = try Schema.pendingVersions(on: connection)
                guard pending.isEmpty else {
                    throw UsageError("the schema is not up to date (pending versions \(pending)); a dry run writes nothing: run `telemetry-migrate schema apply` first")
                }
            } else {
                try Schema.apply(on: connection)
            }
            rejects = LoggingRejectSink(file: options.rejectFile.map(RejectFile.init(path:)), logger: logger)
            let stop = StopRequest()
            let signals = StopSignals(stop, logger: logger)
            defer { signals.remove() }
            let migrator = Migrator(configuration: configuration, connection: connection, logger: logger,
                                    rejects: rejects, progress: progress.map { line in { line.update($0) } },
                                    connect: { try database.connectForRun(applicationName: applicationName(configuration, unit: $0)) },
                                    stop: stop)
            result = try migrator.run()
        } catch let error as PostgresError {
            // Outside a dump (the dump's own failures are in the report): the database is
            // unusable or unreachable, a configuration problem for cron.
            progress?.clear()
            try failedBeforeItsFirstDump("database error: \(error)")
        } catch {
            progress?.clear()
            try failedBeforeItsFirstDump("\(error)")
        }
        progress?.clear()
        // The dumps are done and their commits stand: every output is attempted, the report
        // first (cron mails it); one that cannot be written is said on stderr, and the exit code
        // stays the run's own, or 2 (configuration) when the run was ok.
        var unwritten: [String] = []
        do { try rejects.flush() } catch { unwritten.append("cannot write the reject file: \(error)") }
        unwritten += emit(result, report: report, options: options)
        if let path = options.metricsFile {
            do {
                try RunMetrics.collect(on: connection, report: result, startedAt: started,
                                       unit: configuration.shard?.name ?? "all").write(to: path)
            } catch {
                unwritten.append("\(error)")
            }
        }
        guard unwritten.isEmpty else {
            let run = result.status == .ok ? "" : " (and the run: \(result.message ?? result.status.rawValue))"
            throw fail("telemetry-migrate: " + unwritten.joined(separator: "; ") + run,
                       code: result.status == .ok ? .usage : ExitCode(result.status.exitReason))
        }
        guard result.status == .ok else {
            let code = ExitCode(result.status.exitReason)
            // The text report on stdout says why; otherwise stderr does.
            guard let message = result.message, report.reportFile != nil || report.report != .text else { throw code }
            throw fail("telemetry-migrate: \(message)", code: code)
        }
    }

    /// Writes the report as asked, then the JSON record (`--json-report-file`), each whatever
    /// happened to the other; returns what could not be written.
    private static func emit(_ result: RunReport, report: ReportOptionGroup, options: RunOptionGroup) -> [String] {
        var unwritten: [String] = []
        do { try report.emit(result.rendered(as: report.report)) } catch { unwritten.append("\(error)") }
        if let path = options.jsonReportFile {
            do {
                try OutputFile.write(result.rendered(as: .json), to: path)
            } catch {
                unwritten.append("cannot write the JSON report file \(path): \(error.localizedDescription)")
            }
        }
        return unwritten
    }

    /// Shown in `pg_stat_activity`, and so in a refused run's message: the command, the unit
    /// the connection writes (one of `--workers N`, or a `--shard` process's), host and pid.
    /// The host is shortened so that the whole fits the 63 bytes PostgreSQL keeps.
    static func applicationName(_ configuration: RunConfiguration, unit: RunUnit? = nil) -> String {
        let unit = (unit ?? configuration.shard).map { " \($0.name)" } ?? ""
        let command = "telemetry-migrate \(configuration.mode.name)\(unit)"
        let pid = " pid=\(ProcessInfo.processInfo.processIdentifier)"
        let room = 63 - command.utf8.count - " host=".utf8.count - pid.utf8.count
        let host = String(decoding: ProcessInfo.processInfo.hostName.utf8.prefix(max(8, min(24, room))), as: UTF8.self)
        return "\(command) host=\(host)\(pid)"
    }
}
