import Foundation
import Testing
@testable import SmartSolarAPI

/// The token cache's single flight: however many requests find a token's entry missing or
/// expired at once, the database is asked once. No database here: the check is a counter.
struct TokenCacheTests {
    static let token = String(repeating: "a", count: 64)
    static let valid = APITokens.Validity(permission: .technical, secondsLeft: 3 * 3600)

    /// A check that counts its calls and holds each one until `expected` callers asked the
    /// cache (plus a moment), so that every caller is certainly waiting while it runs.
    /// A counter shared by concurrent tasks.
    // @unchecked Sendable: `value` is read and written under `lock` only.
    final class Count: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func add() { lock.withLock { value += 1 } }
        func load() -> Int { lock.withLock { value } }
    }

    final class GatedCheck: Sendable {
        let calls = Count()
        let arrived = Count()
        let expected: Int
        let answer: APITokens.Validity?
        let failure: (any Error & Sendable)?

        init(expected: Int, answer: APITokens.Validity? = TokenCacheTests.valid, failure: (any Error & Sendable)? = nil) {
            self.expected = expected
            self.answer = answer
            self.failure = failure
        }

        func run() async throws -> APITokens.Validity? {
            calls.add()
            let deadline = ContinuousClock.now + .seconds(10)
            while arrived.load() < expected, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            try await Task.sleep(for: .milliseconds(20))
            if let failure { throw failure }
            return answer
        }

        /// `n` concurrent requests for `token`: their permissions (nil for an error).
        func ask(_ cache: TokenCache, _ n: Int) async -> [Permission?] {
            await withTaskGroup(of: Permission?.self) { group in
                for _ in 0..<n {
                    group.addTask {
                        self.arrived.add()
                        return try? await cache.permission(of: TokenCacheTests.token) { try await self.run() }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
    }

    @Test func concurrentRequestsAtExpiryCauseOneCheck() async throws {
        // 5 s: the in-process live servers of this target share the cooperative threads,
        // so the requests of one step may take a while on a loaded machine.
        let cache = TokenCache(lifetime: 5)
        let first = GatedCheck(expected: 50)
        #expect(await first.ask(cache, 50) == Array(repeating: .technical, count: 50))
        #expect(first.calls.load() == 1, "50 requests for an unknown token: one check")

        let cached = GatedCheck(expected: 0)
        #expect(await cached.ask(cache, 10) == Array(repeating: .technical, count: 10))
        #expect(cached.calls.load() == 0, "a live entry needs no check")

        try await Task.sleep(for: .milliseconds(5100))  // the entry expired
        let second = GatedCheck(expected: 50)
        #expect(await second.ask(cache, 50) == Array(repeating: .technical, count: 50))
        #expect(second.calls.load() == 1, "50 requests at expiry: one check")
    }

    struct Unreachable: Error {}

    /// A failed or negative check is shared by the requests waiting for it but not
    /// remembered: the next request asks again.
    @Test func failedAndUnknownChecksAreSharedNotRemembered() async throws {
        let cache = TokenCache(lifetime: 5)
        let failing = GatedCheck(expected: 20, failure: Unreachable())
        #expect(await failing.ask(cache, 20) == Array(repeating: nil, count: 20))
        #expect(failing.calls.load() == 1)

        let unknown = GatedCheck(expected: 20, answer: nil)
        #expect(await unknown.ask(cache, 20) == Array(repeating: nil, count: 20))
        #expect(unknown.calls.load() == 1, "the failure was not remembered")

        let later = GatedCheck(expected: 1)
        #expect(await later.ask(cache, 1) == [.technical])
        #expect(later.calls.load() == 1, "nor the unknown token")
    }

    /// Lifetime 0 (`--token-cache 0`): every request asks the database itself.
    @Test func withoutCacheEveryRequestChecks() async throws {
        let cache = TokenCache(lifetime: 0)
        let check = GatedCheck(expected: 10)
        #expect(await check.ask(cache, 10) == Array(repeating: .technical, count: 10))
        #expect(check.calls.load() == 10)
    }

    /// An entry never outlives the token's own expiry.
    @Test func entryEndsWithTheTokensExpiry() async throws {
        let cache = TokenCache(lifetime: 5)
        let short = GatedCheck(expected: 1, answer: .init(permission: .overview, secondsLeft: 0.2))
        #expect(await short.ask(cache, 1) == [.overview])
        try await Task.sleep(for: .milliseconds(300))
        let again = GatedCheck(expected: 1)
        #expect(await again.ask(cache, 1) == [.technical])
        #expect(again.calls.load() == 1)
    }
}
