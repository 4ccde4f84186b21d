import PostgresClient

/// Which run unit takes which product from each dump, given what every unit of any split
/// has completed (see docs/workers.md, "Exactly once, whatever the split").
///
/// Invariant: a `migrate_dump` row (U, D, F) means that D, with fingerprint F, was applied
/// to every product of unit U (it commits with U's rows and watermarks of D). Hence a
/// product is done with D when some such row's range contains its hash; a unit is done
/// with D when those ranges cover its own; and a unit that is not takes from D only the
/// products not yet done, and may then record D for itself, truthfully.
struct UnitPlan {
    /// The units this run writes (`RunConfiguration.units`).
    let units: [RunUnit]
    /// Hash offset (`IMEIHash.offset`) of each product id.
    let offsets: [UInt32]
    /// Dump name → the units that completed it, with the fingerprint they completed.
    let records: [String: [(unit: RunUnit, fingerprint: String)]]

    /// Marks a product no unit of this dump takes in `UnitPlan.takers`.
    static let none: Int8 = -1

    init(units: [RunUnit], products: ProductIndex, records: [String: [(unit: RunUnit, fingerprint: String)]]) {
        precondition(units.count <= Int(Int8.max))
        self.units = units
        offsets = products.imeis.map(IMEIHash.offset(of:))
        self.records = records
    }

    /// Ranges of the units that completed the dump with this fingerprint (none for a dump
    /// without one, or in a backfill, which ignores the records).
    func done(_ name: String, fingerprint: String?) -> [RunUnit] {
        guard let fingerprint else { return [] }
        return (records[name] ?? []).filter { $0.fingerprint == fingerprint }.map(\.unit)
    }

    /// Indices (into `units`) of the units that still have to apply the dump.
    func pending(_ done: [RunUnit]) -> [Int] {
        units.indices.filter { !units[$0].isCovered(by: done) }
    }

    /// For each product id: the index of the pending unit that takes it from the dump, or
    /// `none` (another unit's product, or already done with the dump).
    func takers(pending: [Int], done: [RunUnit]) -> [Int8] {
        var takers = [Int8](repeating: Self.none, count: offsets.count)
        let doneRanges = done.map(\.range)
        for (id, offset) in offsets.enumerated() {
            guard let unit = pending.first(where: { units[$0].range.contains(offset) }) else { continue }
            if doneRanges.contains(where: { $0.contains(offset) }) { continue }
            takers[id] = Int8(unit)
        }
        return takers
    }

    /// Whether a point of an IMEI that is not a product is this run's to report: its hash
    /// lies in one of the run's units (so N shards' processes report it once between them).
    func ownsUnknown(_ imei: String) -> Bool {
        units.count == 1 && units[0] == .all ? true : units.contains { $0.contains(imei: imei) }
    }
}

extension MigrationStore {
    /// Every unit's completed dumps: name → (unit, fingerprint). Rows of unit names that are
    /// not `all` or `shard K/N` are ignored.
    func completedDumpsOfEveryUnit() throws -> [String: [(unit: RunUnit, fingerprint: String)]] {
        var map = [String: [(unit: RunUnit, fingerprint: String)]]()
        for row in try connection.query("SELECT unit, name, fingerprint FROM migrate_dump") {
            guard let name = row.string(0).flatMap(RunUnit.init(name:)), let dump = row.string(1),
                  let fingerprint = row.string(2) else { continue }
            map[dump, default: []].append((name, fingerprint))
        }
        return map
    }
}
