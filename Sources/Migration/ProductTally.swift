/// Per-product sums of one pass over one dump: the latest candidate time (the watermark
/// advance), the rows the pass inserted without staging, and, when asked, the fields of
/// the candidates at that latest time (what a nightly dry run must remember, see
/// `DryRunMemory`).
///
/// Consecutive points of one product (an export writes a series' points together) share
/// one cached entry, so most points cost no hash lookup.
struct ProductTally {
    struct Entry {
        /// The latest candidate time, µs.
        var latest: Int64
        /// Rows inserted directly (not through the stage).
        var inserted = 0
        /// Fields of the candidates at `latest`, each once (only when `tracksFields`).
        var fieldsAtLatest: [String] = []
    }

    let tracksFields: Bool
    private var entries: [String: Entry] = [:]
    /// The entry of `currentIMEI`, taken out of `entries` while it is current.
    private var current = Entry(latest: .min)
    private var currentIMEI: String?

    init(tracksFields: Bool = false) {
        self.tracksFields = tracksFields
    }

    /// Counts one candidate of `imei`; `inserted` when the pass inserted it directly.
    mutating func add(imei: String, field: String, time: Int64, inserted: Bool) {
        if imei != currentIMEI { select(imei) }
        if time > current.latest {
            current.latest = time
            if tracksFields {
                current.fieldsAtLatest.removeAll(keepingCapacity: true)
                current.fieldsAtLatest.append(field)
            }
        } else if tracksFields, time == current.latest, !current.fieldsAtLatest.contains(field) {
            current.fieldsAtLatest.append(field)
        }
        if inserted { current.inserted += 1 }
    }

    private mutating func select(_ imei: String) {
        if let currentIMEI { entries[currentIMEI] = current }
        current = entries.removeValue(forKey: imei) ?? Entry(latest: .min)
        currentIMEI = imei
    }

    /// Every product with a candidate, and its entry.
    mutating func finish() -> [String: Entry] {
        if let currentIMEI { entries[currentIMEI] = current }
        currentIMEI = nil
        return entries
    }
}
