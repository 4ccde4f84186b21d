import ArgumentParser
import DumpReader
import Foundation
import Migration
import TelemetrySchema

extension TelemetryMigrate {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show watermarks, the products furthest behind, the last runs and pending dumps.",
            discussion: """
                Example:
                  telemetry-migrate status                       # the 20 products furthest behind, last 10 runs
                  telemetry-migrate status --imei 001409288034695 --report json
                  telemetry-migrate status --dumps /srv/influx-dumps   # also: dumps not yet completed
                """)

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var report: ReportOptionGroup
        @OptionGroup var logging: LogOptionGroup

        @Option(help: "Show this product (repeat for more) instead of those furthest behind.")
        var imei: [String] = []

        @Option(help: "How many of the products furthest behind to show.")
        var top = 20

        @Option(help: "How many recent runs to show.")
        var runs = 10

        @Option(help: "A dumps directory: list its dumps that are not yet completed.")
        var dumps: String?

        func run() throws {
            let connection = try database.connect(applicationName: "telemetry-migrate status")
            do {
                guard try Schema.pendingVersions(on: connection).isEmpty else {
                    throw ValidationError("the schema is not up to date: run `telemetry-migrate schema apply` first")
                }
                let paths = try dumps.map { try DumpDirectory.list($0) }
                let status = try StatusReport.load(from: connection, imeis: imei, limit: top, runs: runs, dumps: paths)
                let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                try report.emit(status.rendered(as: report.report, now: now))
            } catch let error as ValidationError {
                throw error
            } catch {
                throw fail("telemetry-migrate: \(error)", code: .usage)
            }
        }
    }
}
