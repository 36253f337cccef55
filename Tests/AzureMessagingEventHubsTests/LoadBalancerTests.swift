import AzureMessagingEventHubs
import Foundation
import Testing

@Suite("Partition load balancing")
struct LoadBalancerTests {
    static let start = Date(timeIntervalSince1970: 1_700_000_000)

    static func balancer(_ owner: String, strategy: LoadBalancingStrategy = .balanced) -> PartitionLoadBalancer {
        PartitionLoadBalancer(
            fullyQualifiedNamespace: "ns.servicebus.windows.net", eventHubName: "hub", consumerGroup: "$Default",
            ownerID: owner, strategy: strategy)
    }

    static func record(_ partition: Int, _ owner: String, at time: Date, eTag: String? = nil) -> PartitionOwnership {
        PartitionOwnership(
            fullyQualifiedNamespace: "ns.servicebus.windows.net", eventHubName: "hub", consumerGroup: "$Default",
            partitionID: String(partition), ownerID: owner, lastModifiedTime: time,
            eTag: eTag ?? "e-\(partition)-\(owner)")
    }

    static func ids(_ count: Int) -> [String] { (0..<count).map(String.init) }

    // MARK: Single decisions

    @Test func aNewcomerStealsOneFromAnOwnerAboveTheMaximum() {
        let records = (0..<4).map { Self.record($0, "a", at: Self.start) }
        var generator = SplitMix64(seed: 1)
        let plan = Self.balancer("b").plan(
            ownerships: records, partitionIDs: Self.ids(4), now: Self.start, using: &generator)
        #expect(plan.renewals.isEmpty)
        #expect(plan.claims.count == 1)
        let claim = plan.claims[0]
        #expect(claim.ownerID == "b")
        // The claim must match the record it replaces.
        #expect(claim.eTag == "e-\(claim.partitionID)-a")
    }

    @Test func aBalancedAssignmentIsLeftAlone() {
        let records =
            [0, 1].map { Self.record($0, "a", at: Self.start) } + [2, 3].map { Self.record($0, "b", at: Self.start) }
        for owner in ["a", "b"] {
            let plan = Self.balancer(owner).plan(ownerships: records, partitionIDs: Self.ids(4), now: Self.start)
            #expect(plan.claims.isEmpty)
            #expect(plan.renewals.map(\.partitionID) == records.filter { $0.ownerID == owner }.map(\.partitionID))
            #expect(plan.renewals.map(\.eTag) == records.filter { $0.ownerID == owner }.map(\.eTag))
        }
        // 4 partitions, 3 owners holding 2, 1, 1: balanced (floor 1, ceil 2); nobody moves.
        let uneven =
            [0, 1].map { Self.record($0, "a", at: Self.start) } + [
                Self.record(2, "b", at: Self.start),
                Self.record(3, "c", at: Self.start),
            ]
        for owner in ["a", "b", "c"] {
            #expect(
                Self.balancer(owner).plan(ownerships: uneven, partitionIDs: Self.ids(4), now: Self.start).claims.isEmpty
            )
        }
    }

    @Test func theRemainderPartitionIsClaimedByAnOwnerAtTheMinimum() {
        // 13 partitions, 3 owners of 4: the 13th is unowned and every owner is at the minimum.
        let records = (0..<12).map { Self.record($0, ["a", "b", "c"][$0 % 3], at: Self.start) }
        let plan = Self.balancer("b").plan(ownerships: records, partitionIDs: Self.ids(13), now: Self.start)
        #expect(plan.claims.map(\.partitionID) == ["12"])
        #expect(plan.claims.map(\.eTag) == [nil])
        #expect(plan.renewals.map(\.partitionID) == ["1", "10", "4", "7"])
    }

    @Test(arguments: [LoadBalancingStrategy.balanced, .greedy])
    func expiredOwnersPartitionsAreTaken(strategy: LoadBalancingStrategy) {
        // "a" stopped renewing 30 seconds ago (the default expiration); "b" is alive with three partitions.
        let expired = (0..<3).map { Self.record($0, "a", at: Self.start) }
        let alive = (3..<6).map { Self.record($0, "b", at: Self.start.addingTimeInterval(25)) }
        let now = Self.start.addingTimeInterval(30)
        var generator = SplitMix64(seed: 7)
        let plan = Self.balancer("c", strategy: strategy).plan(
            ownerships: expired + alive, partitionIDs: Self.ids(6), now: now, using: &generator)
        // Two live owners ("b" and "c") share 6: "c" needs 3, and the expired three are free.
        if strategy == .greedy {
            #expect(Set(plan.claims.map(\.partitionID)) == ["0", "1", "2"])
        } else {
            #expect(plan.claims.count == 1)
            #expect(Set(plan.claims.map(\.partitionID)).isSubset(of: ["0", "1", "2"]))
        }
        #expect(plan.claims.allSatisfy { $0.ownerID == "c" && $0.eTag == "e-\($0.partitionID)-a" })

        // A second earlier "a" is alive: three owners share 6, so "c" may only take 2 (by stealing), one per
        // cycle when balanced.
        let stillAlive = Self.balancer("c", strategy: strategy).plan(
            ownerships: expired + alive, partitionIDs: Self.ids(6), now: now.addingTimeInterval(-1), using: &generator)
        #expect(stillAlive.claims.count == (strategy == .greedy ? 2 : 1))
        let owners = Dictionary(uniqueKeysWithValues: (expired + alive).map { ($0.partitionID, $0.ownerID) })
        #expect(stillAlive.claims.allSatisfy { $0.eTag == "e-\($0.partitionID)-\(owners[$0.partitionID] ?? "")" })
    }

    @Test func greedyTakesItsWholeShareOfUnownedPartitionsAtOnce() {
        var generator = SplitMix64(seed: 3)
        let records = (0..<8).map { Self.record($0, "a", at: Self.start) }
        let plan = Self.balancer("b", strategy: .greedy).plan(
            ownerships: records, partitionIDs: Self.ids(16), now: Self.start, using: &generator)
        // 16 partitions, two owners: "b" takes the 8 nobody owns and steals none (a holds exactly 8).
        #expect(Set(plan.claims.map(\.partitionID)) == Set((8..<16).map(String.init)))
        #expect(plan.claims.allSatisfy { $0.eTag == nil })
    }

    @Test func relinquishedAndUnknownRecords() {
        let records = [
            Self.record(0, "", at: Self.start),  // given up: claimable at once
            Self.record(1, "me", at: Self.start.addingTimeInterval(-40)),  // my own, expired: not renewed, claimable
            Self.record(2, "me", at: Self.start),
            Self.record(9, "ghost", at: Self.start),  // not a partition of this hub
        ]
        let balancer = Self.balancer("me", strategy: .greedy)
        let plan = balancer.plan(ownerships: records, partitionIDs: Self.ids(3), now: Self.start)
        #expect(plan.renewals.map(\.partitionID) == ["2"])
        #expect(Set(plan.claims.map(\.partitionID)) == ["0", "1"])
        #expect(plan.ownershipsToClaim.count == 3)

        let released = balancer.relinquishing(records)
        #expect(released.map(\.partitionID) == ["1", "2"])
        #expect(released.allSatisfy { $0.ownerID.isEmpty })
        #expect(released.map(\.eTag) == ["e-1-me", "e-2-me"])
    }

    @Test func aSeedMakesPlansReproducible() {
        let records = (0..<10).map { Self.record($0, "a", at: Self.start) }
        var plans: Set<PartitionLoadBalancer.Plan> = []
        for _ in 0..<3 {
            var generator = SplitMix64(seed: 42)
            plans.insert(
                Self.balancer("b", strategy: .greedy).plan(
                    ownerships: records, partitionIDs: Self.ids(20), now: Self.start, using: &generator))
        }
        #expect(plans.count == 1)
    }

    // MARK: Several processors over time

    struct Scenario: Sendable, CustomTestStringConvertible {
        var partitions: Int
        var owners: Int
        var strategy: LoadBalancingStrategy
        var seed: UInt64
        var testDescription: String { "\(partitions) partitions, \(owners) owners, \(strategy)" }
    }

    static let scenarios: [Scenario] = [
        Scenario(partitions: 32, owners: 3, strategy: .balanced, seed: 1),
        Scenario(partitions: 13, owners: 3, strategy: .balanced, seed: 2),
        Scenario(partitions: 4, owners: 5, strategy: .balanced, seed: 3),
        Scenario(partitions: 8, owners: 8, strategy: .greedy, seed: 4),
        Scenario(partitions: 12, owners: 5, strategy: .greedy, seed: 5),
        Scenario(partitions: 16, owners: 1, strategy: .greedy, seed: 6),
        Scenario(partitions: 100, owners: 7, strategy: .balanced, seed: 7),
    ]

    @Test(arguments: scenarios)
    func processorsConvergeToABalancedAssignment(_ scenario: Scenario) throws {
        var generator = SplitMix64(seed: scenario.seed)
        var store = SimulatedStore()
        let owners = (0..<scenario.owners).map { "owner-\($0)" }
        var simulation = Simulation(
            balancers: owners.map { Self.balancer($0, strategy: scenario.strategy) },
            partitionIDs: Self.ids(scenario.partitions))
        let rounds = try simulation.runUntilStable(store: &store, from: Self.start, using: &generator)
        // Balanced claiming takes about one cycle per partition of an owner's share; racing claims cost each owner a
        // few more. A policy that oscillates never gets here (the simulation gives up after 500 rounds).
        let share = (scenario.partitions + scenario.owners - 1) / scenario.owners
        #expect(rounds <= share + 2 * scenario.owners + 2)
        simulation.expectBalanced(store: store, at: simulation.now)
    }

    @Test func aCrashedProcessorsPartitionsMoveToTheSurvivors() throws {
        var generator = SplitMix64(seed: 11)
        var store = SimulatedStore()
        var simulation = Simulation(
            balancers: (0..<4).map { Self.balancer("owner-\($0)") }, partitionIDs: Self.ids(16))
        _ = try simulation.runUntilStable(store: &store, from: Self.start, using: &generator)
        let crashed = simulation.balancers.removeLast()
        #expect(store.records.values.filter { $0.ownerID == crashed.ownerID }.count == 4)

        // Its records stay until they expire; then the survivors take all of them.
        _ = try simulation.runUntilStable(store: &store, from: simulation.now, using: &generator)
        simulation.expectBalanced(store: store, at: simulation.now)
        #expect(store.records.values.allSatisfy { $0.ownerID != crashed.ownerID })
        #expect(simulation.now.timeIntervalSince(Self.start) > 30)
    }

    @Test func aJoiningProcessorGetsItsShare() throws {
        var generator = SplitMix64(seed: 12)
        var store = SimulatedStore()
        var simulation = Simulation(balancers: (0..<2).map { Self.balancer("owner-\($0)") }, partitionIDs: Self.ids(9))
        _ = try simulation.runUntilStable(store: &store, from: Self.start, using: &generator)
        simulation.balancers.append(Self.balancer("late"))
        _ = try simulation.runUntilStable(store: &store, from: simulation.now, using: &generator)
        simulation.expectBalanced(store: store, at: simulation.now)
        #expect(store.records.values.filter { $0.ownerID == "late" }.count == 3)
    }
}

/// Ownership records keyed by partition, with the conditional write of a real store: a claim is applied only if
/// it carries the record's current ETag (nil: only if there is no record).
struct SimulatedStore {
    var records: [String: PartitionOwnership] = [:]
    private var version = 0

    mutating func claim(_ claims: [PartitionOwnership], at now: Date) -> [PartitionOwnership] {
        var won: [PartitionOwnership] = []
        for var claim in claims where records[claim.partitionID]?.eTag == claim.eTag {
            version += 1
            claim.eTag = "v\(version)"
            claim.lastModifiedTime = now
            records[claim.partitionID] = claim
            won.append(claim)
        }
        return won
    }
}

/// Processors that each list, plan and claim once per 10-second round, all from the same listing (so they race),
/// claiming in a random order.
struct Simulation {
    var balancers: [PartitionLoadBalancer]
    var partitionIDs: [String]
    /// What each processor believes it owns: the claims that won in its last cycle.
    var believed: [String: Set<String>] = [:]
    var now = Date.distantPast

    struct DidNotConverge: Error, CustomStringConvertible {
        var counts: [String: Int]
        var description: String { "no balanced assignment after 500 rounds; partitions per owner: \(counts)" }
    }

    /// Runs rounds until one in which nobody claims anything new and every processor owns its share; returns how
    /// many rounds that took.
    mutating func runUntilStable(
        store: inout SimulatedStore, from start: Date, using generator: inout some RandomNumberGenerator
    ) throws -> Int {
        now = start
        for round in 1...500 {
            now = now.addingTimeInterval(10)
            let listing = Array(store.records.values)
            var plans = balancers.map {
                ($0.ownerID, $0.plan(ownerships: listing, partitionIDs: partitionIDs, now: now, using: &generator))
            }
            plans.shuffle(using: &generator)
            var claimedAnything = false
            for (owner, plan) in plans {
                claimedAnything = claimedAnything || !plan.claims.isEmpty
                believed[owner] = Set(store.claim(plan.ownershipsToClaim, at: now).map(\.partitionID))
            }
            for owner in believed.keys where !balancers.contains(where: { $0.ownerID == owner }) {
                believed[owner] = nil
            }
            if !claimedAnything && isBalanced(store: store, at: now) { return round }
        }
        throw DidNotConverge(counts: counts(store: store, at: now))
    }

    func counts(store: SimulatedStore, at now: Date) -> [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: balancers.map { ($0.ownerID, 0) })
        for record in store.records.values where balancers[0].isActive(record, at: now) {
            counts[record.ownerID, default: 0] += 1
        }
        return counts
    }

    func isBalanced(store: SimulatedStore, at now: Date) -> Bool {
        let counts = counts(store: store, at: now)
        let floor = partitionIDs.count / balancers.count
        let ceiling = floor + (partitionIDs.count % balancers.count == 0 ? 0 : 1)
        return counts.count == balancers.count && counts.values.allSatisfy { (floor...ceiling).contains($0) }
            && counts.values.reduce(0, +) == partitionIDs.count
    }

    /// Every partition owned by a live processor, each processor holding floor or ceil of its share, and no two
    /// processors believing they own the same partition.
    func expectBalanced(store: SimulatedStore, at now: Date, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            isBalanced(store: store, at: now), "counts \(counts(store: store, at: now))", sourceLocation: sourceLocation
        )
        var seen: [String: String] = [:]
        for (owner, partitions) in believed {
            for partition in partitions {
                #expect(
                    seen[partition] == nil, "\(partition) believed owned by \(owner) and \(seen[partition] ?? "")",
                    sourceLocation: sourceLocation)
                seen[partition] = owner
            }
        }
        #expect(Set(seen.keys) == Set(partitionIDs), sourceLocation: sourceLocation)
        for (partition, owner) in seen {
            #expect(store.records[partition]?.ownerID == owner, sourceLocation: sourceLocation)
        }
    }
}

/// A small seeded generator (SplitMix64), so the random choices of a plan are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
