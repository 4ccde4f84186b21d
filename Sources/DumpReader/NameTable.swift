/// Interns names (measurements, field keys, tag values such as IMEIs) read as bytes, so that
/// a name seen a million times is one `String`, built once. Lookups hash the bytes and do not
/// allocate on a hit.
struct NameTable {
    private struct Entry {
        var bytes: [UInt8]
        var string: String
    }
    private var buckets: [UInt64: [Entry]] = [:]
    private var count = 0
    /// Above this many names the table stops growing (a dump with millions of distinct tag
    /// values should not grow memory); further names are built each time.
    private let limit: Int

    init(limit: Int = 200_000) {
        self.limit = limit
    }

    mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        if let entries = buckets[hash] {
            for entry in entries where entry.bytes.elementsEqual(bytes) { return entry.string }
        }
        let string = String(decoding: bytes, as: UTF8.self)
        if count < limit {
            buckets[hash, default: []].append(Entry(bytes: Array(bytes), string: string))
            count += 1
        }
        return string
    }
}
