import Foundation

/// Access tokens per scope set, shared by every request of a client (or every caller of a credential).
///
/// - A token is refreshed ahead of its expiry: 5 minutes before, or halfway through its life when it lives
///   less than 10 minutes, so requests never go out with a token about to lapse.
/// - Single flight: however many callers need a new token at once, the credential is asked once and all of
///   them get its answer.
/// - A failed refresh while the old token is still valid is not an error: callers keep the old token, and the
///   next attempt waits `retryDelayAfterFailure`, so an Entra outage is only felt once the token expires.
public actor TokenCache {
    private struct Entry {
        var token: AccessToken
        var refreshAfter: Date
        var nextAttempt: Date?
    }

    private let refreshMargin: TimeInterval
    private let retryDelayAfterFailure: TimeInterval
    private let now: @Sendable () -> Date
    private var entries: [String: Entry] = [:]
    private var refreshes: [String: Task<AccessToken, any Error>] = [:]

    /// - Parameters:
    ///   - refreshMargin: how long before expiry a token is renewed (at most half its lifetime).
    ///   - retryDelayAfterFailure: how long to keep using a still-valid token after a refresh failed before
    ///     trying again.
    public init(refreshMargin: Duration = .seconds(300), retryDelayAfterFailure: Duration = .seconds(30)) {
        self.init(refreshMargin: refreshMargin, retryDelayAfterFailure: retryDelayAfterFailure, now: { Date() })
    }

    /// A cache that reads the time from `now`, so tests can move the clock.
    package init(refreshMargin: Duration, retryDelayAfterFailure: Duration, now: @escaping @Sendable () -> Date) {
        self.refreshMargin = Self.seconds(refreshMargin)
        self.retryDelayAfterFailure = Self.seconds(retryDelayAfterFailure)
        self.now = now
    }

    /// A token for `scopes` (from `tenantID`, when a credential serves several): the cached one while it is
    /// fresh, otherwise the result of `fetch` (called by one caller at a time per scope set and tenant).
    ///
    /// - Throws: what `fetch` throws, when there is no unexpired token to fall back on.
    public func token(
        for scopes: [String], tenantID: String? = nil, fetch: @escaping @Sendable () async throws -> AccessToken
    ) async throws -> AccessToken {
        let key = (tenantID.map { "\($0)|" } ?? "") + Set(scopes).sorted().joined(separator: " ")
        let entry = entries[key]
        if let entry, now() < entry.refreshAfter { return entry.token }
        let stillValid = entry.flatMap { now() < $0.token.expiresOn ? $0.token : nil }
        if let refresh = refreshes[key] {
            // Someone is already refreshing; a caller with a usable token need not wait for it.
            if let stillValid { return stillValid }
            return try await refresh.value
        }
        if let stillValid, let nextAttempt = entry?.nextAttempt, now() < nextAttempt { return stillValid }

        let refresh = Task { try await fetch() }
        refreshes[key] = refresh
        do {
            let token = try await refresh.value
            refreshes[key] = nil
            let fetchedAt = now()
            let lifetime = token.expiresOn.timeIntervalSince(fetchedAt)
            let margin = min(refreshMargin, max(0, lifetime / 2))
            entries[key] = Entry(token: token, refreshAfter: token.expiresOn.addingTimeInterval(-margin))
            return token
        } catch {
            refreshes[key] = nil
            if let stillValid, now() < stillValid.expiresOn {
                entries[key]?.nextAttempt = now().addingTimeInterval(retryDelayAfterFailure)
                return stillValid
            }
            throw error
        }
    }

    /// Forgets every cached token (after a credential change, or when the service rejected a token).
    public func removeAll() {
        entries.removeAll()
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        TimeInterval(duration.components.seconds) + TimeInterval(duration.components.attoseconds) / 1e18
    }
}
