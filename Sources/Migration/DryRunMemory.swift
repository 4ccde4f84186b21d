/// What a nightly dry run knows of the rows its earlier dumps would have inserted, kept
/// small by the watermark invariant: those rows all lie at or before the dry W(p), and a
/// later dump's candidates at or after it, so the only rows they can meet are those exactly
/// at W(p). This remembers their fields, product by product.
struct DryRunMemory {
    /// W(p) as committed when the run started: only a candidate at this time can find its
    /// row in `telemetry`.
    let committed: [String: Int64]
    /// Fields of the rows that earlier dumps of this run would insert exactly at the dry W(p).
    private(set) var fieldsAtWatermark: [String: [String]] = [:]
    /// True when `fieldsAtWatermark` holds rows that `migrate_dry_inserted` (which the staged
    /// path consults) does not have yet.
    var unsaved = false

    init(committed: [String: Int64]) {
        self.committed = committed
    }

    /// Whether an earlier dump of this run would insert (imei, field) at the dry W(p).
    func wouldInsert(imei: String, field: String) -> Bool {
        fieldsAtWatermark[imei]?.contains(field) ?? false
    }

    /// Takes in a dump's candidates, given the dry watermarks before it: a product whose
    /// watermark moves keeps only the fields at its new watermark; one that stays adds them.
    mutating func remember(_ tally: [String: ProductTally.Entry], watermarksBefore: [String: Int64]) {
        for (imei, entry) in tally {
            let before = watermarksBefore[imei]
            if before == nil || entry.latest > before! {
                fieldsAtWatermark[imei] = entry.fieldsAtLatest
            } else if entry.latest == before! {
                var fields = fieldsAtWatermark[imei] ?? []
                for field in entry.fieldsAtLatest where !fields.contains(field) { fields.append(field) }
                fieldsAtWatermark[imei] = fields
            }
            unsaved = true
        }
    }

    /// The remembered rows, for `migrate_dry_inserted`, given the dry watermarks.
    func rows(watermarks: [String: Int64]) -> [(imei: String, field: String, time: Int64)] {
        fieldsAtWatermark.flatMap { imei, fields in
            watermarks[imei].map { time in fields.map { (imei: imei, field: $0, time: time) } } ?? []
        }
    }
}
