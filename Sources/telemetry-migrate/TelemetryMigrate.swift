import ArgumentParser
import DumpReader
import Foundation
import TelemetryCore

/// The one executable. A thin layer: parse options, build a configuration, call the engine,
/// map outcomes to the exit codes of DESIGN.md (`ExitReason`) and print reports. Its
/// subcommands are nested in extensions of this type, one file each.
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
            // The batch commands' allocator setting; `serve` keeps glibc's default, since a
            // request-heavy server on many threads pays for two arenas and eager trimming.
            if !(command is Serve) { MemoryTuning.apply() }
            try checkInflateChoice(for: command)
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

    /// A command that reads dumps refuses to start when `TELEMETRY_MIGRATE_INFLATE` names an
    /// unknown backend or `isal` where ISA-L is not usable: a configuration error (2).
    static func checkInflateChoice(for command: any ParsableCommand) throws {
        guard command is Nightly || command is Backfill || command is Inspect else { return }
        do {
            _ = try InflateBackend.chosen()
        } catch {
            throw fail("telemetry-migrate: \(error)", code: .usage)
        }
    }

    static func exit(withContractCode error: Error) -> Never {
        if let code = error as? ExitCode {
            Foundation.exit(code.rawValue)
        }
        let message = fullMessage(for: error)
        if exitCode(for: error) == .success {  // --help, --version
            print(message)
            Foundation.exit(ExitCode.success.rawValue)
        }
        Foundation.exit((message.isEmpty ? ExitCode.usage : fail(message, code: .usage)).rawValue)
    }
}

/// argument-parser's exit codes, named after DESIGN.md's table (`ExitReason`, in TelemetryCore).
extension ExitCode {
    init(_ status: ExitReason) { self.init(status.rawValue) }

    /// A dump failed.
    static let dumpFailed = ExitCode(ExitReason.dumpFailed)
    /// Usage or configuration error, including an unreachable database.
    static let usage = ExitCode(ExitReason.usage)
    /// Another run holds the lock.
    static let locked = ExitCode(ExitReason.locked)
    /// Rejected lines over `--max-rejects`.
    static let rejects = ExitCode(ExitReason.rejects)
}

/// Writes `message` as one line to standard error and returns `code`, to be thrown:
/// `throw fail("telemetry-migrate: database error: \(error)", code: .usage)`.
func fail(_ message: String, code: ExitCode) -> ExitCode {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return code
}
