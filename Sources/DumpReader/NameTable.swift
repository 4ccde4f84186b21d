#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Interns names (measurements, field keys, tag values) read as bytes, so that a name seen a
/// million times is one `String`, built once. A hit costs a hash of the bytes and one `memcmp`
/// against a direct-mapped slot; nothing is allocated. (The parser interns only names longer
/// than 15 bytes: shorter ones, IMEIs among them, are inline strings.)
///
/// Invariant: `slotBytes[i]` is the UTF-8 content of `slotStrings[i]` and hashes to `slotHashes[i]`.
struct NameTable {
    private static let slotCount = 4096
    private var slotHashes = [UInt64](repeating: 0, count: slotCount)
    private var slotBytes = [[UInt8]](repeating: [], count: slotCount)
    private var slotStrings = [String](repeating: "", count: slotCount)
    private var slotUsed = [Bool](repeating: false, count: slotCount)

    mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let index = Int(truncatingIfNeeded: hash ^ (hash >> 29)) & (Self.slotCount - 1)
        if slotUsed[index], slotHashes[index] == hash, slotBytes[index].hasSameBytes(as: bytes) {
            return slotStrings[index]
        }
        // A miss (first sight or a collision): the newest name takes the slot.
        let string = String(decoding: bytes, as: UTF8.self)
        slotUsed[index] = true
        slotHashes[index] = hash
        slotBytes[index] = Array(bytes)
        slotStrings[index] = string
        return string
    }
}

extension [UInt8] {
    /// Whether these bytes equal `other`'s: one `memcmp`.
    @inline(__always)
    func hasSameBytes(as other: UnsafeBufferPointer<UInt8>) -> Bool {
        count == other.count && withUnsafeBufferPointer {
            other.isEmpty || memcmp($0.baseAddress!, other.baseAddress!, other.count) == 0
        }
    }
}
