import Foundation

/// Tokens validated by the database, remembered for a few seconds, so that most requests
/// authenticate without a database round trip (and without a write: see `APITokens`).
///
/// Invariant: an entry is used only before `min(validated + lifetime, expiry)`, so a cached
/// token never outlives its `expires_at`; a revoked (deleted) token keeps working at most
/// `lifetime`. At most `capacity` entries; when full, the expired ones go, else all.
// @unchecked Sendable: `entries` is read and written under `lock` only.
final class TokenCache: @unchecked Sendable {
    private let lifetime: Double
    private let capacity: Int
    private let lock = NSLock()
    private var entries: [String: (permission: Permission, until: ContinuousClock.Instant)] = [:]

    /// `lifetime` in seconds; 0 disables the cache.
    init(lifetime: Double, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func permission(of token: String) -> Permission? {
        guard lifetime > 0 else { return nil }
        let now = ContinuousClock.now
        return lock.withLock {
            guard let entry = entries[token] else { return nil }
            guard now < entry.until else {
                entries[token] = nil
                return nil
            }
            return entry.permission
        }
    }

    func remember(_ token: String, _ validity: APITokens.Validity) {
        let seconds = min(lifetime, validity.secondsLeft)
        guard seconds > 0 else { return }
        let now = ContinuousClock.now
        let until = now + .milliseconds(Int64(seconds * 1000))
        lock.withLock {
            if entries.count >= capacity {
                entries = entries.filter { now < $0.value.until }
                if entries.count >= capacity { entries = [:] }
            }
            entries[token] = (validity.permission, until)
        }
    }
}
