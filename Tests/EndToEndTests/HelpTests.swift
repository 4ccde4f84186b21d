import Foundation
import Testing
import TestSupport

@Suite("Operations: help")
struct OperationsHelpTests {
    static let subcommands: [[String]] = [
        ["nightly"], ["backfill"], ["status"], ["inspect"], ["serve"], ["token", "create"], ["schema", "apply"],
    ]

    @Test("Every subcommand's --help has a worked example", arguments: subcommands)
    func helpHasAnExample(_ command: [String]) {
        let result = TestSupport.run(Package.executable, command + ["--help"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Example"), "\(command.joined(separator: " ")) --help:\n\(result.stdout)")
    }

    @Test("nightly and backfill document the operator options")
    func operatorOptions() {
        for command in ["nightly", "backfill"] {
            let help = TestSupport.run(Package.executable, [command, "--help"]).stdout
            for option in ["--metrics-file", "--json-report-file", "--log-format", "--log-level", "--reject-file", "--max-rejects"] {
                #expect(help.contains(option), "\(command) --help lacks \(option)")
            }
        }
    }
}
