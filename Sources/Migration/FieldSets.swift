/// Field names as small numbers, in order of first sight. A fleet's telemetry has a few
/// fields, so the first 32 are found by comparing rather than by hashing, their lengths
/// first (a `String`'s UTF-8 count is stored, and fields mostly differ in it).
struct FieldNames {
    /// By ordinal.
    private(set) var names: [String] = []
    /// UTF-8 lengths of the first 32 names.
    private var lengths: [Int] = []
    /// Ordinals of the names after the 32nd.
    private var more: [String: Int] = [:]

    /// The ordinal of `field`, a new one when the name is new.
    mutating func ordinal(of field: String) -> Int {
        if let known = known(field) { return known }
        let ordinal = names.count
        names.append(field)
        if ordinal < 32 { lengths.append(field.utf8.count) } else { more[field] = ordinal }
        return ordinal
    }

    /// The ordinal of `field`; nil when the name is new.
    func known(_ field: String) -> Int? {
        let length = field.utf8.count
        for i in lengths.indices where lengths[i] == length && names[i] == field { return i }
        return more.isEmpty ? nil : more[field]
    }

    func name(_ ordinal: Int) -> String { names[ordinal] }
}

/// Sets of field ordinals (`FieldNames`), one per product id: a 64-bit mask each (a fleet's
/// telemetry has a handful of fields) and, for the rare product with a field past the 64th,
/// a dictionary. 8 bytes a product, where a list of names took 24 and more.
struct FieldSets {
    private var masks: [UInt64]
    private var more: [Int32: Set<Int>] = [:]

    init(count: Int) {
        masks = [UInt64](repeating: 0, count: count)
    }

    func contains(_ ordinal: Int, in product: Int32) -> Bool {
        guard ordinal < 64 else { return more[product]?.contains(ordinal) == true }
        return masks[Int(product)] & (1 << UInt64(ordinal)) != 0
    }

    mutating func insert(_ ordinal: Int, in product: Int32) {
        if ordinal < 64 {
            masks[Int(product)] |= 1 << UInt64(ordinal)
        } else {
            more[product, default: []].insert(ordinal)
        }
    }

    mutating func removeAll(in product: Int32) {
        masks[Int(product)] = 0
        if !more.isEmpty { more[product] = nil }
    }

    /// Calls `body` with each ordinal of a product, ascending.
    func forEach(in product: Int32, _ body: (Int) throws -> Void) rethrows {
        var mask = masks[Int(product)]
        while mask != 0 {
            try body(mask.trailingZeroBitCount)
            mask &= mask - 1
        }
        if !more.isEmpty, let extra = more[product] {
            for ordinal in extra.sorted() { try body(ordinal) }
        }
    }
}
