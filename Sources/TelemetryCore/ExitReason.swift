/// The exit codes of DESIGN.md, for cron and scripts: the one table. The command line
/// derives argument-parser's `ExitCode` statics from it, a run's report status maps onto it,
/// the metrics help and `jobs/lib/run-job.sh` (`EXIT_*`, checked by a test) read the same names.
public enum ExitReason: Int32, Sendable, CaseIterable {
    /// Success; rejected lines, if any, are in the report.
    case success = 0
    /// A dump failed (corrupt, I/O or database error during a dump); later dumps were not processed.
    case dumpFailed = 1
    /// Usage or configuration error, including an unreachable database.
    case usage = 2
    /// Another run holds the lock.
    case locked = 3
    /// Rejected lines over `--max-rejects`.
    case rejects = 4

    /// A few words for help texts and the metrics' description.
    public var meaning: String {
        switch self {
        case .success: "ok"
        case .dumpFailed: "a dump failed"
        case .usage: "usage or configuration error"
        case .locked: "another run holds the lock"
        case .rejects: "too many rejects"
        }
    }

    /// `0 ok, 1 a dump failed, 2 usage or configuration error, 3 ..., 4 ...`.
    public static var summary: String {
        allCases.map { "\($0.rawValue) \($0.meaning)" }.joined(separator: ", ")
    }
}
