import ArgumentParser
import Migration
import TelemetryCore

extension TelemetryMigrate {
    struct Nightly: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Migrate every product's new telemetry from the dumps (the cron job).",
            discussion: """
                Dumps are processed in byte order of file name, each in one transaction; a dump \
                already completed with the same fingerprint is skipped. Points older than their \
                product's watermark are stale (a backfill takes them). Exit codes: \(ExitReason.summary).

                Example:
                  telemetry-migrate nightly --dumps /srv/influx-dumps --report json \\
                    --report-file /var/log/telemetry-migrate/$(date +%F).json --reject-file rejects.csv
                  telemetry-migrate nightly --dumps /srv/influx-dumps --dry-run
                  telemetry-migrate nightly --dumps /srv/influx-dumps --log-format json \\
                    --metrics-file /var/lib/node_exporter/textfile/telemetry_migrate.prom
                For cron, jobs/nightly wraps this with dated report files (see docs/operations.md).
                """)

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var options: RunOptionGroup
        @OptionGroup var reader: ReaderOptionGroup
        @OptionGroup var report: ReportOptionGroup
        @OptionGroup var logging: LogOptionGroup

        func run() throws {
            let configuration = RunConfiguration(
                mode: .nightly, dryRun: options.dryRun, dumps: [] /* listed by execute */, reader: reader.readerOptions,
                shard: options.shardUnit, workers: options.workerCount,
                maxRejects: options.maxRejects, actor: AuditActor.current, stagedOnly: options.stagedOnly,
                atWatermarkBuffer: options.atWatermarkBuffer)
            try MigrationCommand.execute(configuration, database: database, report: report, options: options)
        }
    }
}
