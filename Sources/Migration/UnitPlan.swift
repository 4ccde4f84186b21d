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

    /// The routing of a dump that `pending` units read, after `done` ones; nil when the run
    /// is one unit of every product and nothing of the dump is done (nothing to route).
    func routing(pending: [Int], done: [RunUnit]) -> DumpRouting? {
        if units == [.all] && done.isEmpty { return nil }
        return DumpRouting(takers: takers(pending: pending, done: done), pendingRanges: pending.map { units[$0].range },
                           doneRanges: done.map(\.range))
    }
}

/// Which unit of the run takes each product from one reading of a dump (see `UnitPlan.takers`).
struct DumpRouting {
    let takers: [Int8]
    /// The ranges this reading takes: of the pending units, less those done with the dump.
    let pendingRanges: [ClosedRange<UInt32>]
    let doneRanges: [ClosedRange<UInt32>]

    /// The index of the unit that takes the product (`UnitPlan.none`: nobody in this reading).
    /// A point of an IMEI that is not a product goes on to be rejected when its hash lies in
    /// what this reading takes (so that N shards, or a run after a partial one, report it
    /// once between them), and is filtered otherwise.
    func unit(of id: Int32?, imei: String) -> Int8 {
        if let id { return takers[Int(id)] }
        let offset = IMEIHash.offset(of: imei)
        let owned = pendingRanges.contains { $0.contains(offset) } && !doneRanges.contains { $0.contains(offset) }
        return owned ? 0 : UnitPlan.none
    }

    /// The same routing for some of its units only (by index); the others' products are nobody's.
    func restricted(to units: [Int], of plan: UnitPlan) -> DumpRouting {
        DumpRouting(takers: takers.map { units.contains(Int($0)) ? $0 : UnitPlan.none },
                    pendingRanges: units.map { plan.units[$0].range }, doneRanges: doneRanges)
    }
}

extension MigrationStore {
    /// W(p) by product id of the products of one unit with a history row, in microseconds
    /// (history rows of IMEIs that are not in `products` are left out): a shard's process
    /// reads only its own (`hashtext` is the unit's hash, see `IMEIHash`). Filled straight
    /// from libpq's rows: copied out and keyed by IMEI first, 100,000 watermarks cost a run's
    /// start about 0.1 s more.
    func watermarks(of unit: RunUnit, products: ProductIndex) throws -> [Int64?] {
        var sql = "SELECT product_imei, latest_migration_timestamp FROM product_migration_history"
        var params: [PostgresValue] = []
        if unit != .all {
            sql += " WHERE hashtext(product_imei) BETWEEN $1::int AND $2::int"
            params = [.int(Int64(unit.range.lowerBound) + Int64(Int32.min)), .int(Int64(unit.range.upperBound) + Int64(Int32.min))]
        }
        var table = [Int64?](repeating: nil, count: products.count)
        try connection.forEachRow(sql, params) { row in
            if let imei = row.string(0), let id = products.id(of: imei), let w = row.timestampMicros(1) { table[Int(id)] = w }
        }
        return table
    }

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
