import Foundation

/// The identity every report keeps (DESIGN.md, "A point"): per dump that did not fail, and
/// in the totals, read = inserted + present + duplicates + stale + unknown_product +
/// other_measurement + filtered; and the totals are the sums over the dumps that did not fail.
/// Counters go by their JSON report key names, so the same check serves `RunReport` values
/// and parsed JSON reports.
public enum ReportIdentity {
    /// The counters whose sum is `read`.
    public static let parts = ["inserted", "present", "duplicates", "stale", "unknown_product", "other_measurement", "filtered"]
    /// Every counter of a dump's or the totals' report object.
    public static let counters = ["read", "malformed"] + parts

    /// Why `counts` breaks the identity, or nil when it holds. A missing counter is 0.
    public static func violation(_ counts: [String: Int], _ label: String = "") -> String? {
        let read = counts["read"] ?? 0
        let sum = parts.reduce(0) { $0 + (counts[$1] ?? 0) }
        guard read != sum else { return nil }
        let terms = parts.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: " + ")
        return "\(label): read \(read) != \(terms) = \(sum)"
    }

    /// Every violation in a report: per dump (status, counters) and in the totals, which
    /// must also equal the sums over the dumps that did not fail.
    public static func violations(dumps: [(name: String, status: String, counts: [String: Int])],
                                  totals: [String: Int]) -> [String] {
        var found: [String] = []
        var sums = [String: Int]()
        for dump in dumps where dump.status != "failed" {
            if let violation = violation(dump.counts, "dump \(dump.name)") { found.append(violation) }
            for key in counters { sums[key, default: 0] += dump.counts[key] ?? 0 }
        }
        if let violation = violation(totals, "totals") { found.append(violation) }
        for key in counters where (totals[key] ?? 0) != (sums[key] ?? 0) {
            found.append("totals: \(key) \(totals[key] ?? 0) != \(sums[key] ?? 0), the sum over the dumps that did not fail")
        }
        return found
    }

    /// Every violation in a parsed JSON report (`--report json`).
    public static func violations(inJSON report: [String: Any]) -> [String] {
        func counts(_ object: [String: Any]) -> [String: Int] {
            var counts = [String: Int]()
            for key in counters { counts[key] = object[key] as? Int }
            return counts
        }
        let dumps = (report["dumps"] as? [[String: Any]] ?? []).map { dump in
            (name: dump["name"] as? String ?? "?", status: dump["status"] as? String ?? "?", counts: counts(dump))
        }
        guard let totals = report["totals"] as? [String: Any] else { return ["the report has no totals"] }
        return violations(dumps: dumps, totals: counts(totals))
    }
}
