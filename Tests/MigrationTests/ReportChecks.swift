import Migration
import Testing
import TestSupport

/// Expects a parsed JSON report to keep `ReportIdentity`.
func expectIdentity(_ report: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) {
    let violations = ReportIdentity.violations(inJSON: report)
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))", sourceLocation: sourceLocation)
}

/// Expects a `RunReport` to keep `ReportIdentity`.
func expectIdentity(_ report: RunReport, sourceLocation: SourceLocation = #_sourceLocation) {
    let violations = ReportIdentity.violations(dumps: report.dumps.map { ($0.name, $0.status.rawValue, $0.counts.byReportKey) },
                                               totals: report.totals.byReportKey)
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))", sourceLocation: sourceLocation)
}

extension DumpCounts {
    /// The counters by their JSON report key names.
    var byReportKey: [String: Int] {
        ["read": read, "inserted": inserted, "present": present, "duplicates": duplicates, "stale": stale,
         "unknown_product": unknownProduct, "other_measurement": otherMeasurement, "filtered": filtered,
         "malformed": malformed]
    }
}
