/// A hash table from `UInt64` keys to `Int64` values (series keys to times, IMEI keys to
/// product ids), with open addressing and a multiplicative hash:
/// one multiply and, mostly, one probe per lookup (a `Dictionary` seeds and runs SipHash).
/// Invariant: an entry with `key == 0` is a free slot (stored keys are offset by one), and at most
/// half of the slots are used. Shared by the package's modules (the reader counts distinct
/// IMEIs with it) and inlinable, so that a lookup costs no call.
package struct IntegerTable {
    /// A key (offset by one) and its value side by side: a lookup touches one cache line.
    @usableFromInline
    struct Entry {
        @usableFromInline var key: UInt64
        @usableFromInline var value: Int64

        @inlinable
        init(key: UInt64, value: Int64) {
            self.key = key
            self.value = value
        }
    }

    @usableFromInline var entries: [Entry]
    @usableFromInline var shift: UInt64
    @usableFromInline var used = 0

    /// The number of keys held.
    @inlinable
    package var count: Int { used }

    /// A table that holds `capacity` keys before it first grows.
    @inlinable
    package init(capacity: Int = 1 << 11) {
        var bits: UInt64 = 12
        while 1 << bits < capacity * 2 { bits += 1 }
        entries = [Entry](repeating: Entry(key: 0, value: 0), count: 1 << bits)
        shift = 64 - bits
    }

    @inlinable
    package subscript(key: UInt64) -> Int64? {
        get {
            let stored = key &+ 1
            var i = slot(stored)
            while entries[i].key != 0 {
                if entries[i].key == stored { return entries[i].value }
                i = (i + 1) & (entries.count - 1)
            }
            return nil
        }
        set {
            guard let newValue else { preconditionFailure("IntegerTable does not remove keys") }
            let stored = key &+ 1
            var i = slot(stored)
            while entries[i].key != 0 && entries[i].key != stored { i = (i + 1) & (entries.count - 1) }
            if entries[i].key == 0 {
                entries[i].key = stored
                used += 1
            }
            entries[i].value = newValue
            if used * 2 > entries.count { grow() }
        }
    }

    @inlinable @inline(__always)
    func slot(_ stored: UInt64) -> Int {
        Int(truncatingIfNeeded: (stored &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @usableFromInline
    mutating func grow() {
        let old = entries
        entries = [Entry](repeating: Entry(key: 0, value: 0), count: old.count * 2)
        shift -= 1
        for entry in old where entry.key != 0 {
            var j = slot(entry.key)
            while entries[j].key != 0 { j = (j + 1) & (entries.count - 1) }
            entries[j] = entry
        }
    }
}
