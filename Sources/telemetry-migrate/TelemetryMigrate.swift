import ArgumentParser
import Foundation

/// The one executable. A thin layer: parse options, build a configuration, call the engine,
/// map outcomes to the exit codes of DESIGN.md (`ExitStatus`) and print reports.
@main
struct TelemetryMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetry-migrate",
        abstract: "Migrate InfluxDB telemetry dumps into PostgreSQL, exactly once.",
        subcommands: [
            SchemaCommand.self, Nightly.self, Backfill.self, Inspect.self, Status.self, Serve.self, Token.self,
        ]
    )

    /// Runs a command and maps every failure to the contract's exit codes: a usage or
    /// configuration error is 2 (never ArgumentParser's 64), `ExitCode`s pass through.
    static func main() async {
        do {
            var command = try parseAsRoot()
            LogSetup.bootstrap(for: command)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withContractCode: error)
        }
    }

    static func exit(withContractCode error: Error) -> Never {
        if let code = error as? ExitCode {
            Foundation.exit(code.rawValue)
        }
        let code = exitCode(for: error)
        if code == .success {  // --help, --version
            print(fullMessage(for: error))
            Foundation.exit(0)
        }
        let message = fullMessage(for: error)
        if !message.isEmpty {
            FileHandle.standardError.write(Data((message + "\n").utf8))
        }
        Foundation.exit(code == .failure && error is ExitStatus.Failure ? ExitStatus.dumpFailed.rawValue : ExitStatus.usage.rawValue)
    }
}

/// The exit codes of DESIGN.md, for cron.
enum ExitStatus: Int32 {
    case success = 0
    /// A dump failed (corrupt, I/O or database error during a dump).
    case dumpFailed = 1
    /// Usage or configuration error, including an unreachable database.
    case usage = 2
    /// Another run holds the lock.
    case locked = 3
    /// Rejected lines over `--max-rejects`.
    case tooManyRejects = 4

    var exitCode: ExitCode { ExitCode(rawValue) }

    /// Marker for failures that are a failed dump rather than a usage error.
    struct Failure: Error {}
}
