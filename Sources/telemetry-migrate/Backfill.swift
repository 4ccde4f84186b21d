import ArgumentParser
import Migration
import TelemetryCore

extension TelemetryMigrate {
    struct Backfill: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-read every dump for a few IMEIs and insert what is missing.",
            discussion: """
                Takes the points of the given IMEIs with time in (since, until], whatever the \
                watermarks say, inserts the missing ones and advances each watermark to the \
                latest time taken. The completed-dumps record is ignored (every dump is read) \
                and left as it is. Running it twice changes nothing the second time. Times are \
                RFC 3339 or 'YYYY-MM-DD HH:MM:SS', UTC.

                Example:
                  telemetry-migrate backfill --dumps /srv/influx-dumps --imei 001409288034695 \\
                    --since '2024-10-03 00:00:00' --until 2024-10-06T00:00:00Z --dry-run
                  jobs/backfill 001409288034695 -- --since 2024-10-03T00:00:00Z   # the wrapper, with dated report files
                """)

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var options: RunOptionGroup
        @OptionGroup var reader: ReaderOptionGroup
        @OptionGroup var report: ReportOptionGroup
        @OptionGroup var logging: LogOptionGroup

        @Option(help: "An IMEI to backfill (repeat for more).")
        var imei: [String] = []

        @Option(help: "Exclusive lower bound of the window (RFC 3339 or 'YYYY-MM-DD HH:MM:SS', UTC).")
        var since: String?

        @Option(help: "Inclusive upper bound of the window.")
        var until: String?

        func validate() throws {
            guard !imei.isEmpty else { throw ValidationError("give at least one --imei") }
            for value in imei where value.isEmpty || value.count > 15 || !value.allSatisfy(\.isASCIIDigitCharacter) {
                throw ValidationError("not an IMEI (1-15 digits): '\(value)'")
            }
            _ = try window()
        }

        func window() throws -> (since: Int64?, until: Int64?) {
            func parse(_ text: String?, _ name: String) throws -> Int64? {
                guard let text else { return nil }
                guard let micros = UTCTime.parseMicros(text) else {
                    throw ValidationError("--\(name): '\(text)' is not RFC 3339 or 'YYYY-MM-DD HH:MM:SS'")
                }
                return micros
            }
            let bounds = (try parse(since, "since"), try parse(until, "until"))
            if let s = bounds.0, let u = bounds.1, s >= u { throw ValidationError("--since must be before --until") }
            return bounds
        }

        func run() throws {
            let (since, until) = try window()
            // One connection by default: a backfill writes the points of a few IMEIs, so more
            // connections only add a transaction per dump each (a one-IMEI backfill of the
            // small bench set: 1.03 s with 2, 0.90 s with 1). `--workers N` still splits it.
            let configuration = RunConfiguration(
                mode: .backfill(BackfillSelection(imeis: Set(imei), since: since, until: until)), dryRun: options.dryRun,
                dumps: [] /* listed by execute */, reader: reader.readerOptions,
                shard: options.shardUnit, workers: options.workerCount(default: 1), maxRejects: options.maxRejects,
                actor: AuditActor.current)
            try MigrationCommand.execute(configuration, database: database, report: report, options: options)
        }
    }
}

extension Character {
    var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
