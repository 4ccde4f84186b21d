import ArgumentParser
import Foundation
import PostgresClient
import TelemetrySchema

extension TelemetryMigrate {
    struct SchemaCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "schema", abstract: "Manage the database schema.", subcommands: [Apply.self])

        struct Apply: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create or upgrade the schema (idempotent).",
                discussion: """
                    Applies the missing versioned migrations in one transaction and records them in \
                    migrate_schema_version. Safe to run repeatedly and concurrently.
                    Exit status: 0 done; 1 a migration failed (nothing applied); 2 the database is unreachable.

                    Example:
                      DATABASE_URL=postgresql://migrator@db.example:5432/smartsolar telemetry-migrate schema apply
                    """)

            @OptionGroup var database: DatabaseOptions

            func run() throws {
                let connection = try database.connect(applicationName: "telemetry-migrate schema apply")
                defer { connection.close() }
                let applied: [Int]
                do {
                    applied = try Schema.apply(on: connection)
                } catch let error as PostgresError {
                    throw fail("telemetry-migrate: schema apply failed, nothing applied: \(error)", code: .dumpFailed)
                }
                if applied.isEmpty {
                    print("schema is up to date (version \(Schema.latestVersion))")
                    return
                }
                for migration in Schema.migrations where applied.contains(migration.version) {
                    print("applied schema version \(migration.version): \(migration.description)")
                }
                print("schema is now at version \(Schema.latestVersion)")
            }
        }
    }
}
