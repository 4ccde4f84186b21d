/// A field name compared byte for byte, as PostgreSQL compares the text of a key: Swift's
/// `String` equality takes two canonically equivalent spellings (`a\u{301}\u{323}` and
/// `a\u{323}\u{301}`) for one name, where `telemetry` holds two rows.
struct ExactName: Hashable {
    let name: String

    static func == (a: ExactName, b: ExactName) -> Bool { a.name.utf8.elementsEqual(b.name.utf8) }

    func hash(into hasher: inout Hasher) {
        for byte in name.utf8 { hasher.combine(byte) }
    }
}

/// Field names as small numbers, in order of first sight, two names one number only when
/// their bytes are equal (`ExactName`); the refusal probe numbers its reasons with it too. A
/// fleet's telemetry has a few fields, so the first 32 are found by comparing rather than by
/// hashing, their lengths first (a `String`'s UTF-8 count is stored, and fields mostly differ
/// in it).
struct FieldNames {
    /// By ordinal.
    private(set) var names: [String] = []
    /// UTF-8 lengths of the first 32 names.
    private var lengths: [Int] = []
    /// Whether each of the first 32 names is ASCII: then a name of its length is the same name
    /// when `String` equality says so (a canonical decomposition into ASCII is one character,
    /// from two bytes or more), and the slower byte comparison is skipped (8 times `==`'s cost).
    private var ascii: [Bool] = []
    /// Ordinals of the names after the 32nd.
    private var more: [ExactName: Int] = [:]

    /// The ordinal of `field`, a new one when the name is new.
    mutating func ordinal(of field: String) -> Int {
        if let known = known(field) { return known }
        let ordinal = names.count
        names.append(field)
        if ordinal < 32 {
            lengths.append(field.utf8.count)
            ascii.append(field.utf8.allSatisfy { $0 < 0x80 })
        } else {
            more[ExactName(name: field)] = ordinal
        }
        return ordinal
    }

    /// The ordinal of `field`; nil when the name is new.
    func known(_ field: String) -> Int? {
        let length = field.utf8.count
        for i in lengths.indices where lengths[i] == length && names[i] == field
            && (ascii[i] || ExactName(name: names[i]) == ExactName(name: field)) { return i }
        return more.isEmpty ? nil : more[ExactName(name: field)]
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
