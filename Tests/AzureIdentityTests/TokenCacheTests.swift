import AzureCore
import Foundation
import Synchronization
import Testing

/// A credential that counts how often it is asked, for the cache's own logic (the cache's peer is any
/// `TokenCredential`, so a counting one is a real peer here).
final class CountingCredential: TokenCredential {
    private let state = Mutex<(calls: Int, failing: Bool)>((0, false))
    let lifetime: TimeInterval
    let delay: Duration
    let clock: TestClock

    init(lifetime: TimeInterval, delay: Duration = .zero, clock: TestClock) {
        self.lifetime = lifetime
        self.delay = delay
        self.clock = clock
    }

    var calls: Int { state.withLock { $0.calls } }
    func setFailing(_ failing: Bool) { state.withLock { $0.failing = failing } }

    func token(for scopes: [String]) async throws -> AccessToken {
        let (call, failing) = state.withLock { state -> (Int, Bool) in
            state.calls += 1
            return (state.calls, state.failing)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        if failing { throw AzureError(.authentication, "CountingCredential authentication failed: Entra is down") }
        return AccessToken(token: "token-\(call)-\(scopes.joined())", expiresOn: clock.now.addingTimeInterval(lifetime))
    }
}

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite struct TokenCacheTests {
    let clock = TestClock()

    func makeCache() -> TokenCache {
        let clock = clock
        return TokenCache(refreshMargin: .seconds(300), retryDelayAfterFailure: .seconds(30), now: { clock.now })
    }

    @Test func concurrentCallersShareOneFetch() async throws {
        let credential = CountingCredential(lifetime: 3600, delay: .milliseconds(100), clock: clock)
        let cache = makeCache()
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 {
                group.addTask { try await cache.token(for: ["s"]) { try await credential.token(for: ["s"]) }.token }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(credential.calls == 1)
        #expect(tokens == ["token-1-s"])
    }

    @Test func eachScopeSetHasItsOwnToken() async throws {
        let credential = CountingCredential(lifetime: 3600, clock: clock)
        let cache = makeCache()
        let a = try await cache.token(for: ["a", "b"]) { try await credential.token(for: ["a", "b"]) }
        let sameSetReordered = try await cache.token(for: ["b", "a"]) { try await credential.token(for: ["b", "a"]) }
        let other = try await cache.token(for: ["c"]) { try await credential.token(for: ["c"]) }
        #expect(a == sameSetReordered)
        #expect(other.token == "token-2-c")
        #expect(credential.calls == 2)
    }

    @Test func refreshesFiveMinutesBeforeExpiry() async throws {
        let credential = CountingCredential(lifetime: 3600, clock: clock)
        let cache = makeCache()
        let fetch: @Sendable () async throws -> AccessToken = { try await credential.token(for: ["s"]) }
        _ = try await cache.token(for: ["s"], fetch: fetch)
        clock.advance(3600 - 301)
        #expect(try await cache.token(for: ["s"], fetch: fetch).token == "token-1-s")
        clock.advance(2)
        #expect(try await cache.token(for: ["s"], fetch: fetch).token == "token-2-s")
        #expect(credential.calls == 2)
    }

    @Test func shortLivedTokensRefreshAtHalfTheirLife() async throws {
        let credential = CountingCredential(lifetime: 120, clock: clock)
        let cache = makeCache()
        let fetch: @Sendable () async throws -> AccessToken = { try await credential.token(for: ["s"]) }
        _ = try await cache.token(for: ["s"], fetch: fetch)
        clock.advance(59)
        #expect(try await cache.token(for: ["s"], fetch: fetch).token == "token-1-s")
        clock.advance(2)
        #expect(try await cache.token(for: ["s"], fetch: fetch).token == "token-2-s")
    }

    @Test func failedRefreshKeepsTheValidTokenUntilItExpires() async throws {
        let credential = CountingCredential(lifetime: 3600, clock: clock)
        let cache = makeCache()
        let fetch: @Sendable () async throws -> AccessToken = { try await credential.token(for: ["s"]) }
        _ = try await cache.token(for: ["s"], fetch: fetch)
        credential.setFailing(true)
        clock.advance(3600 - 200)
        #expect(try await cache.token(for: ["s"], fetch: fetch).token == "token-1-s")
        #expect(credential.calls == 2)
        // Within the retry delay the failing credential is left alone.
        clock.advance(10)
        #expect(try await cache.token(for: ["s"], fetch: fetch).token == "token-1-s")
        #expect(credential.calls == 2)
        clock.advance(25)
        #expect(try await cache.token(for: ["s"], fetch: fetch).token == "token-1-s")
        #expect(credential.calls == 3)
        // Expired: now the failure is the caller's.
        clock.advance(200)
        let error = await #expect(throws: AzureError.self) { try await cache.token(for: ["s"], fetch: fetch) }
        #expect(error?.code == .authentication)
        #expect(error?.message.contains("Entra is down") == true)
        // And once the credential recovers, so does the cache.
        credential.setFailing(false)
        #expect(try await cache.token(for: ["s"], fetch: fetch).token.hasPrefix("token-"))
    }

    @Test func concurrentCallersWithAValidTokenDoNotWaitForTheRefresh() async throws {
        let credential = CountingCredential(lifetime: 3600, delay: .milliseconds(200), clock: clock)
        let cache = makeCache()
        let fetch: @Sendable () async throws -> AccessToken = { try await credential.token(for: ["s"]) }
        _ = try await cache.token(for: ["s"], fetch: fetch)
        clock.advance(3600 - 100)
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await cache.token(for: ["s"], fetch: fetch).token } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(credential.calls == 2)
        #expect(results.contains("token-2-s"))
        #expect(Set(results).isSubset(of: ["token-1-s", "token-2-s"]))
    }
}
