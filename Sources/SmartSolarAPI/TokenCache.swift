import Foundation

/// Tokens validated by the database, remembered for a few seconds, so that most requests
/// authenticate without a database round trip (and without a write: see `APITokens`).
///
/// Invariants: an entry is used only before `min(validated + lifetime, expiry)`, so a cached
/// token never outlives its `expires_at`; a revoked (deleted) token keeps working at most
/// `lifetime`. At most `capacity` entries; when full, the expired ones go, else all.
/// Single flight: at most one database check of a token is in flight at a time; requests
/// that find no live entry while one runs wait for its answer, so the many requests that
/// arrive when a busy token's entry expires cost one check, not one each.
// @unchecked Sendable: `entries` and `checks` are read and written under `lock` only.
final class TokenCache: @unchecked Sendable {
    typealias Check = @Sendable () async throws -> APITokens.Validity?

    private let lifetime: Double
    private let capacity: Int
    private let lock = NSLock()
    private var entries: [String: (permission: Permission, until: ContinuousClock.Instant)] = [:]
    /// The database check in flight for each token; removed by the check itself when it ends.
    private var checks: [String: Task<APITokens.Validity?, any Error>] = [:]

    /// `lifetime` in seconds; 0 disables the cache (and the sharing of checks: every
    /// request then asks the database itself).
    init(lifetime: Double, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The permission of `token`, nil when the database does not know it or it expired:
    /// from memory while its entry lives, else from `check` (shared with the concurrent
    /// requests for the same token). Throws what `check` throws, to every request sharing it.
    func permission(of token: String, check: @escaping Check) async throws -> Permission? {
        guard lifetime > 0 else { return try await check()?.permission }
        let now = ContinuousClock.now
        let (known, flight): (Permission?, Task<APITokens.Validity?, any Error>?) = lock.withLock {
            if let entry = entries[token] {
                if now < entry.until { return (entry.permission, nil) }
                entries[token] = nil
            }
            if let running = checks[token] { return (nil, running) }
            // The task cannot end before it is registered: its last step takes `lock`.
            let started = Task { try await self.run(check, for: token) }
            checks[token] = started
            return (nil, started)
        }
        if let known { return known }
        return try await flight?.value?.permission
    }

    /// Runs one check, remembers a valid answer and unregisters the check.
    private func run(_ check: Check, for token: String) async throws -> APITokens.Validity? {
        let validity: APITokens.Validity?
        do {
            validity = try await check()
        } catch {
            lock.withLock { checks[token] = nil }
            throw error
        }
        let now = ContinuousClock.now
        lock.withLock {
            checks[token] = nil
            if let validity { remember(token, validity, now: now) }
        }
        return validity
    }

    /// Stores an entry. Call under `lock`.
    private func remember(_ token: String, _ validity: APITokens.Validity, now: ContinuousClock.Instant) {
        let seconds = min(lifetime, validity.secondsLeft)
        guard seconds > 0 else { return }
        if entries.count >= capacity {
            entries = entries.filter { now < $0.value.until }
            if entries.count >= capacity { entries = [:] }
        }
        entries[token] = (validity.permission, now + .milliseconds(Int64(seconds * 1000)))
    }
}
