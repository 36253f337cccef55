import Foundation

/// How fast an event processor takes partitions when it finds some to claim.
public enum LoadBalancingStrategy: Sendable, Hashable {
    /// One new partition per load-balancing cycle, so processors starting together spread out smoothly.
    case balanced
    /// Every partition it needs to reach its fair share in one cycle: faster to full coverage, more contention.
    case greedy
}

/// Decides which partitions one event processor should own, from the ownership records of all of them.
///
/// A pure value: give it the listing of a ``CheckpointStore`` and the time, and it returns what to send to
/// ``CheckpointStore/claimOwnership(_:)``. It follows Microsoft's balanced algorithm (as in .NET's and Python's
/// event processors): with `P` partitions and `N` active owners each owner should hold `P / N` partitions, or one
/// more. A processor below that share claims, preferring partitions nobody owns (never claimed, relinquished, or
/// whose owner stopped renewing within ``ownershipExpirationInterval``), and only when there are none steals one
/// from the owner holding the most; it steals from an owner at exactly the upper bound only while it is itself
/// below the lower one, so a balanced assignment is left alone. Every cycle it also renews what it still owns.
///
/// Random choices (which unowned partition, which of the largest owner's partitions) keep processors that start
/// together from all claiming the same partition; pass a seeded generator to make them reproducible.
public struct PartitionLoadBalancer: Sendable {
    public var fullyQualifiedNamespace: String
    public var eventHubName: String
    public var consumerGroup: String
    /// This processor's identifier, unique among the cooperating processors.
    public var ownerID: String
    /// How long an ownership stays valid without renewal; the owner is then presumed gone. Microsoft's .NET
    /// processor uses 30 seconds (Python's, 6 × its 30-second load-balancing interval).
    public var ownershipExpirationInterval: Duration
    public var strategy: LoadBalancingStrategy

    public init(
        fullyQualifiedNamespace: String, eventHubName: String, consumerGroup: String, ownerID: String,
        ownershipExpirationInterval: Duration = .seconds(30), strategy: LoadBalancingStrategy = .balanced
    ) {
        self.fullyQualifiedNamespace = fullyQualifiedNamespace
        self.eventHubName = eventHubName
        self.consumerGroup = consumerGroup
        self.ownerID = ownerID
        self.ownershipExpirationInterval = ownershipExpirationInterval
        self.strategy = strategy
    }

    /// What one load-balancing cycle should claim.
    public struct Plan: Sendable, Hashable {
        /// This processor's unexpired ownerships, to write again so they do not expire; in partition order.
        public var renewals: [PartitionOwnership]
        /// New claims: unowned, expired or stolen partitions, each carrying the ETag of the record it replaces
        /// (nil when the partition has no record yet); in the order they were chosen.
        public var claims: [PartitionOwnership]

        /// Renewals and claims together, the argument of ``CheckpointStore/claimOwnership(_:)``.
        public var ownershipsToClaim: [PartitionOwnership] { renewals + claims }
    }

    /// Whether `ownership` is held by a live owner at `now`: it names an owner and was written within the
    /// expiration interval.
    public func isActive(_ ownership: PartitionOwnership, at now: Date) -> Bool {
        guard !ownership.ownerID.isEmpty, let modified = ownership.lastModifiedTime else { return false }
        return now.timeIntervalSince(modified) < Self.seconds(ownershipExpirationInterval)
    }

    /// Plans one cycle with the system's random generator.
    public func plan(ownerships: [PartitionOwnership], partitionIDs: [String], now: Date = Date()) -> Plan {
        var generator = SystemRandomNumberGenerator()
        return plan(ownerships: ownerships, partitionIDs: partitionIDs, now: now, using: &generator)
    }

    /// Plans one cycle.
    ///
    /// - Parameters:
    ///   - ownerships: Every ownership record of the event hub and consumer group, expired ones included
    ///     (``CheckpointStore/listOwnership(fullyQualifiedNamespace:eventHubName:consumerGroup:)``). Records of
    ///     partitions not in `partitionIDs` are ignored.
    ///   - partitionIDs: The event hub's partitions.
    ///   - now: The time to judge expiry by.
    ///   - generator: The source of the random choices.
    public func plan<Generator: RandomNumberGenerator>(
        ownerships: [PartitionOwnership], partitionIDs: [String], now: Date, using generator: inout Generator
    ) -> Plan {
        let partitions = Set(partitionIDs)
        // The latest record of each partition: its ETag is what a claim must match, even when it expired.
        var latest: [String: PartitionOwnership] = [:]
        for ownership in ownerships where partitions.contains(ownership.partitionID) {
            if let known = latest[ownership.partitionID],
                (known.lastModifiedTime ?? .distantPast) >= (ownership.lastModifiedTime ?? .distantPast)
            {
                continue
            }
            latest[ownership.partitionID] = ownership
        }

        var owners: [String: [String]] = [ownerID: []]
        var unowned: [String] = []
        for partition in partitionIDs.uniqued() {
            if let ownership = latest[partition], isActive(ownership, at: now) {
                owners[ownership.ownerID, default: []].append(partition)
            } else {
                unowned.append(partition)
            }
        }
        let renewals = (owners[ownerID] ?? []).sorted().compactMap { latest[$0] }.map(claim)

        var claims: [PartitionOwnership] = []
        while let partition = nextClaim(
            owners: &owners, unowned: &unowned, partitionCount: partitions.count,
            using: &generator)
        {
            claims.append(latest[partition].map(claim) ?? newClaim(partition))
            if strategy == .balanced { break }
        }
        return Plan(renewals: renewals, claims: claims)
    }

    /// Chooses the next partition to take, if this owner should take one, and records the move in `owners` and
    /// `unowned` so a greedy plan can ask again.
    private func nextClaim<Generator: RandomNumberGenerator>(
        owners: inout [String: [String]], unowned: inout [String], partitionCount: Int, using generator: inout Generator
    ) -> String? {
        let minimum = partitionCount / owners.count
        let maximum = minimum + 1
        let mine = owners[ownerID]?.count ?? 0
        // Below the lower bound: claim. At it: claim only when nobody else is below it, which takes the
        // remainder partitions (13 partitions, 3 owners of 4: someone must take the 13th) without racing an owner
        // that needs them more.
        let shouldClaim = mine < minimum || (mine == minimum && !owners.values.contains { $0.count < minimum })
        guard shouldClaim else { return nil }

        if !unowned.isEmpty {
            let partition = unowned.remove(at: Int.random(in: 0..<unowned.count, using: &generator))
            owners[ownerID, default: []].append(partition)
            return partition
        }
        // Steal from the owner with the most: from anyone above the upper bound, or, while this owner is below
        // the lower bound, from one at exactly the upper bound. Ties are broken by owner id, so plans are
        // reproducible with a seeded generator.
        guard
            let (victim, held) = owners.filter({ $0.key != ownerID })
                .max(by: { ($0.value.count, $1.key) < ($1.value.count, $0.key) }),
            held.count > maximum || (held.count == maximum && mine < minimum)
        else { return nil }
        let index = Int.random(in: 0..<held.count, using: &generator)
        let partition = held.sorted()[index]
        owners[victim]?.removeAll { $0 == partition }
        owners[ownerID, default: []].append(partition)
        return partition
    }

    /// `ownership` re-addressed to this owner, keeping the ETag of the record it replaces.
    private func claim(_ ownership: PartitionOwnership) -> PartitionOwnership {
        var ownership = ownership
        ownership.ownerID = ownerID
        ownership.fullyQualifiedNamespace = fullyQualifiedNamespace
        ownership.eventHubName = eventHubName
        ownership.consumerGroup = consumerGroup
        return ownership
    }

    private func newClaim(_ partitionID: String) -> PartitionOwnership {
        PartitionOwnership(
            fullyQualifiedNamespace: fullyQualifiedNamespace, eventHubName: eventHubName, consumerGroup: consumerGroup,
            partitionID: partitionID, ownerID: ownerID)
    }

    /// The records that give up this processor's partitions (owner id emptied, ETag kept), for a processor that
    /// stops: others can take them at once instead of waiting for them to expire.
    public func relinquishing(_ owned: [PartitionOwnership]) -> [PartitionOwnership] {
        owned.filter { $0.ownerID == ownerID }.map {
            var ownership = $0
            ownership.ownerID = ""
            return ownership
        }
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

extension Array where Element: Hashable {
    fileprivate func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
