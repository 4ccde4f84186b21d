/// A run unit: the products whose IMEI hash lies in one contiguous range of the hash space.
///
/// The hash is PostgreSQL's `hashtext()` of the IMEI's UTF-8 bytes (`IMEIHash`), the value
/// Citus uses to place a `varchar` distribution column in a shard; and `shard K/N` is the
/// K-th of N equal ranges of the int32 hash space, cut exactly as Citus cuts a table of N
/// shards (`CreateShardsWithRoundRobinPolicy`). So the products of `shard K/N` are those of
/// the K-th shard of a table distributed by `product_imei` into N shards, on every machine
/// and in every version (see docs/workers.md).
///
/// Units are compared by range, not by name: a dump completed by units whose ranges cover a
/// unit's range is completed for that unit (`RunUnit.covers`), whatever N they were cut with.
public struct RunUnit: Sendable, Hashable, CustomStringConvertible {
    /// The unit's range as offsets into the hash space: offset = hash - Int32.min, so the
    /// whole space is 0...UInt32.max. Closed range.
    public let range: ClosedRange<UInt32>
    /// `all`, or `shard K/N`: the name of its advisory lock and its `migrate_dump.unit` rows.
    public let name: String

    /// Every product: the unit of an unsplit run.
    public static let all = RunUnit(range: 0...UInt32.max, name: "all")

    init(range: ClosedRange<UInt32>, name: String) {
        self.range = range
        self.name = name
    }

    /// The K-th of N shards, 0 <= K < N. The last shard ends at the top of the hash space;
    /// the others are 2^32 / N hashes wide (Citus' cut).
    public static func shard(_ index: Int, of count: Int) -> RunUnit {
        precondition(count >= 1 && index >= 0 && index < count, "shard \(index)/\(count)")
        guard count > 1 else { return .all }
        let width = (UInt64(1) << 32) / UInt64(count)
        let low = UInt64(index) * width
        let high = index == count - 1 ? UInt64(UInt32.max) : low + width - 1
        return RunUnit(range: UInt32(low)...UInt32(high), name: "shard \(index)/\(count)")
    }

    /// The N shards of a run split N ways (`[.all]` for N = 1).
    public static func shards(_ count: Int) -> [RunUnit] {
        (0..<count).map { shard($0, of: count) }
    }

    /// The unit named `all` or `shard K/N`; nil for any other name.
    public init?(name: String) {
        if name == "all" { self = .all; return }
        guard name.hasPrefix("shard ") else { return nil }
        guard let (index, count) = RunUnit.parseFraction(String(name.dropFirst(6))), count > 1 else { return nil }
        self = .shard(index, of: count)
    }

    /// "K/N" with 0 <= K < N as numbers; nil when it is not that.
    public static func parseFraction(_ text: String) -> (index: Int, count: Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, count <= 4096, index < count
        else { return nil }
        return (index, count)
    }

    public var description: String { name }

    /// Whether the IMEI's products belong to this unit.
    public func contains(imei: String) -> Bool {
        range.contains(IMEIHash.offset(of: imei))
    }

    /// Whether the union of `units` covers this unit's whole range.
    public func isCovered(by units: [RunUnit]) -> Bool {
        var reached = UInt64(range.lowerBound)  // the first offset not yet covered
        let end = UInt64(range.upperBound)
        for unit in units.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            guard UInt64(unit.range.lowerBound) <= reached else { break }
            reached = max(reached, UInt64(unit.range.upperBound) + 1)
            if reached > end { return true }
        }
        return false
    }
}

/// PostgreSQL's `hashtext()` in Swift: `hash_bytes()` of src/common/hashfn.c (Bob Jenkins'
/// lookup3, little-endian byte assembly, as on x86-64 and arm64 servers), read as int32.
/// Fixed: PostgreSQL has kept it since 8.4, and Citus' shard placement depends on it.
/// `SELECT hashtext(x)` on the server gives the same value (tests check it).
public enum IMEIHash {
    /// `hashtext(imei)`.
    public static func hashtext(_ text: String) -> Int32 {
        var text = text
        return text.withUTF8 { Int32(bitPattern: hashBytes($0)) }
    }

    /// The hash as an offset into the hash space: `hashtext(imei) - Int32.min`.
    public static func offset(of imei: String) -> UInt32 {
        UInt32(bitPattern: hashtext(imei)) ^ 0x8000_0000
    }

    static func hashBytes(_ k: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var a: UInt32 = 0x9e37_79b9 &+ UInt32(truncatingIfNeeded: k.count) &+ 3_923_095
        var b = a
        var c = a
        var i = 0
        var len = k.count
        @inline(__always) func word(_ at: Int) -> UInt32 {
            UInt32(k[at]) | UInt32(k[at + 1]) << 8 | UInt32(k[at + 2]) << 16 | UInt32(k[at + 3]) << 24
        }
        while len >= 12 {
            a &+= word(i)
            b &+= word(i + 4)
            c &+= word(i + 8)
            mix(&a, &b, &c)
            i += 12
            len -= 12
        }
        // The tail; the lowest byte of c is reserved for the length (already in the seed).
        if len >= 11 { c &+= UInt32(k[i + 10]) << 24 }
        if len >= 10 { c &+= UInt32(k[i + 9]) << 16 }
        if len >= 9 { c &+= UInt32(k[i + 8]) << 8 }
        if len >= 8 { b &+= UInt32(k[i + 7]) << 24 }
        if len >= 7 { b &+= UInt32(k[i + 6]) << 16 }
        if len >= 6 { b &+= UInt32(k[i + 5]) << 8 }
        if len >= 5 { b &+= UInt32(k[i + 4]) }
        if len >= 4 { a &+= UInt32(k[i + 3]) << 24 }
        if len >= 3 { a &+= UInt32(k[i + 2]) << 16 }
        if len >= 2 { a &+= UInt32(k[i + 1]) << 8 }
        if len >= 1 { a &+= UInt32(k[i]) }
        final(&a, &b, &c)
        return c
    }

    @inline(__always) private static func rot(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }

    @inline(__always) private static func mix(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
        a &-= c; a ^= rot(c, 4); c &+= b
        b &-= a; b ^= rot(a, 6); a &+= c
        c &-= b; c ^= rot(b, 8); b &+= a
        a &-= c; a ^= rot(c, 16); c &+= b
        b &-= a; b ^= rot(a, 19); a &+= c
        c &-= b; c ^= rot(b, 4); b &+= a
    }

    @inline(__always) private static func final(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
        c ^= b; c &-= rot(b, 14)
        a ^= c; a &-= rot(c, 11)
        b ^= a; b &-= rot(a, 25)
        c ^= b; c &-= rot(b, 16)
        a ^= c; a &-= rot(c, 4)
        b ^= a; b &-= rot(a, 14)
        c ^= b; c &-= rot(b, 24)
    }
}
