import ArgumentParser
import Foundation
import PostgresClient
import SmartSolarAPI

extension TelemetryMigrate {
    /// `telemetry-migrate token`: API tokens for `serve`.
    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage SMART Solar API tokens.", subcommands: [Create.self])

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create an API token and print it (the only time it is shown).",
                discussion: """
                    Prints a new 64-character token on stdout. Only its SHA-256 is stored (table
                    api_token). Permissions, lowest first: OVERVIEW < TECHNICAL < ADMIN < FACTORY <
                    SYSTEM; each allows what the lower ones allow (reading needs OVERVIEW, deleting
                    an rtc_connection_history row needs SYSTEM). A token expires 3 hours after its
                    last use (or its creation); every request with it extends it.

                    Examples:
                      telemetry-migrate token create --user ops@example.com --permission OVERVIEW
                      TOKEN=$(telemetry-migrate token create --user cleanup@example.com \\
                                --permission SYSTEM --database-url postgresql://admin@db/smartsolar)
                      curl -X DELETE -H "Authorization: Token token=$TOKEN" \\
                        http://127.0.0.1:8080/v1/rtc_connection_history/42
                    """)

            @Option(help: "E-mail of the token's user.")
            var user: String

            @Option(help: "OVERVIEW, TECHNICAL, ADMIN, FACTORY or SYSTEM.")
            var permission: String

            @OptionGroup var database: DatabaseOptions

            func validate() throws {
                guard user.contains("@"), !user.contains(where: \.isWhitespace) else {
                    throw ValidationError("--user must be an e-mail address")
                }
                guard Permission(name: permission) != nil else {
                    throw ValidationError("--permission must be one of \(Permission.allCases.map(\.name).joined(separator: ", "))")
                }
            }

            func run() throws {
                try applySchemaForAPI(database)
                let connection = try database.connect(applicationName: "telemetry-migrate token")
                defer { connection.close() }
                do {
                    print(try APITokens.create(user: user, permission: Permission(name: permission)!, on: connection))
                } catch let error as PostgresError {
                    throw fail("token create: \(error)", code: .usage)
                }
            }
        }
    }
}

