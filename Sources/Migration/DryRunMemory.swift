/// What a nightly dry run knows of the rows its earlier dumps would have inserted, kept
/// small by the watermark invariant: those rows all lie at or before the dry W(p), and a
/// later dump's candidates at or after it, so the only rows they can meet are those exactly
/// at W(p). This remembers their fields, product by product.
struct DryRunMemory {
    /// W(p) by product id as committed when the run started: only a candidate at this time
    /// can find its row in `telemetry`.
    let committed: [Int64?]
    /// By product id: fields of the rows that earlier dumps of this run would insert exactly
    /// at the dry W(p), as ordinals of `fieldNames`.
    private var fieldsAtWatermark: FieldSets
    private var fieldNames = FieldNames()
    /// True when `fieldsAtWatermark` holds rows that `migrate_dry_inserted` (which the staged
    /// path consults) does not have yet.
    var unsaved = false

    init(committed: [Int64?]) {
        self.committed = committed
        fieldsAtWatermark = FieldSets(count: committed.count)
    }

    /// Whether an earlier dump of this run would insert (product, field) at the dry W(p).
    func wouldInsert(product: Int32, field: String) -> Bool {
        guard let ordinal = fieldNames.known(field) else { return false }
        return fieldsAtWatermark.contains(ordinal, in: product)
    }

    /// Takes in a dump's candidates, given the dry watermarks before it: a product whose
    /// watermark moves keeps only the fields at its new watermark; one that stays adds them.
    mutating func remember(_ tally: ProductTally, watermarksBefore: [Int64?]) {
        // The tally's field ordinals as this memory's.
        let ordinals = tally.fieldNames.names.map { fieldNames.ordinal(of: $0) }
        for id in tally.touched {
            let latest = tally.latest(id)
            if let before = watermarksBefore[Int(id)], latest < before { continue }
            if watermarksBefore[Int(id)] != latest { fieldsAtWatermark.removeAll(in: id) }
            tally.forEachFieldAtLatest(id) { fieldsAtWatermark.insert(ordinals[$0], in: id) }
            unsaved = true
        }
    }

    /// The remembered rows, for `migrate_dry_inserted`, given the dry watermarks.
    func rows(watermarks: [Int64?], products: ProductIndex) -> [(imei: String, field: String, time: Int64)] {
        var rows: [(imei: String, field: String, time: Int64)] = []
        for i in watermarks.indices {
            guard let time = watermarks[i] else { continue }
            fieldsAtWatermark.forEach(in: Int32(i)) { rows.append((products.imeis[i], fieldNames.name($0), time)) }
        }
        return rows
    }
}
