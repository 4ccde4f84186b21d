import PostgresClient

/// The advisory lock that makes a run unit's writer the only one.
///
/// Advisory locks are scoped to the database, like the run's data.
/// One key per unit (`all`, `shard K/N`), so the processes of different shards never exclude
/// each other. A shard's lock also takes `all`'s key in shared mode, and a run of every
/// product (unsplit, or `--workers N` whatever N) takes `all`'s exclusively: so such a run
/// excludes any other writer, and two splits of different N cannot overlap through it.
/// Session-level: released by `release()` or when the session ends, including when the
/// process is killed.
struct RunLock {
    let unit: String
    let key: Int64
    /// `all`'s key, held shared by a shard's lock; nil for `all` itself.
    let sharedKey: Int64?
    /// The key that refused the last `acquire`, for `holder`.
    private(set) var refusedKey: Int64?

    init(unit: String) {
        self.unit = unit
        key = RunLock.key(for: "telemetry-migrate/" + unit)
        sharedKey = unit == RunUnit.all.name ? nil : RunLock.key(for: "telemetry-migrate/" + RunUnit.all.name)
    }

    /// FNV-1a, 64 bits: stable across processes and releases (unlike `Hasher`).
    static func key(for name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// The unit whose key refused the last `acquire` (`all` for a shard refused by a run of
    /// every product).
    var refusedUnit: String { refusedKey != nil && refusedKey == sharedKey ? RunUnit.all.name : unit }

    /// Takes the lock (both keys, or neither); false when another session holds either.
    mutating func acquire(on connection: PostgresConnection) throws -> Bool {
        if let sharedKey {
            guard try connection.query("SELECT pg_try_advisory_lock_shared($1::bigint)", [.int(sharedKey)]).first?.bool(0) == true
            else { refusedKey = sharedKey; return false }
        }
        guard try connection.tryAdvisoryLock(key) else {
            if let sharedKey { _ = try connection.query("SELECT pg_advisory_unlock_shared($1::bigint)", [.int(sharedKey)]) }
            refusedKey = key
            return false
        }
        return true
    }

    func release(on connection: PostgresConnection) throws {
        try connection.advisoryUnlock(key)
        if let sharedKey { _ = try connection.query("SELECT pg_advisory_unlock_shared($1::bigint)", [.int(sharedKey)]) }
    }

    /// Who holds the lock, for the message of a refused run.
    func holder(on connection: PostgresConnection) throws -> String? {
        let bits = UInt64(bitPattern: refusedKey ?? key)
        let rows = try connection.query("""
            SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'),
                   to_char(a.backend_start AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid
              AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, [.int(Int64(bits >> 32)), .int(Int64(bits & 0xffff_ffff))])
        guard let row = rows.first else { return nil }
        return "backend pid \(row.string(0) ?? "?") '\(row.string(1) ?? "")' from \(row.string(2) ?? "?") since \(row.string(3) ?? "?")"
    }
}
