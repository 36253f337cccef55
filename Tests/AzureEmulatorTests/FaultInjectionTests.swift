import Foundation
import NIOHTTP1
import Testing

@testable import AzureEmulator

/// A generator with a fixed sequence, so fault decisions are reproducible.
struct SequenceGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        // SplitMix64.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Fault injection")
struct FaultInjectionTests {
    static func decisions(_ faults: FaultInjection, _ operation: BlobOperation, count: Int = 10_000) -> [FaultInjection.Decision: Int] {
        var random = SequenceGenerator(state: 42)
        var counts: [FaultInjection.Decision: Int] = [:]
        for _ in 0..<count { counts[faults.decide(for: operation, using: &random), default: 0] += 1 }
        return counts
    }

    @Test func noFaultsServeEverything() {
        #expect(Self.decisions(.none, .putBlob) == [.serve: 10_000])
        #expect(!FaultInjection.none.isEnabled)
    }

    @Test func errorRateSplitsBetweenBusyAndInternalError() {
        let counts = Self.decisions(FaultInjection(errorRate: 0.2), .getBlob)
        let faults = (counts[.serverBusy] ?? 0) + (counts[.internalError] ?? 0)
        #expect((1_800...2_200).contains(faults))
        #expect((800...1_200).contains(counts[.serverBusy] ?? 0))
        #expect(counts[.drop] == nil)
    }

    @Test func dropRateDrops() {
        let counts = Self.decisions(FaultInjection(dropRate: 1), .putBlock)
        #expect(counts == [.drop: 10_000])
    }

    @Test func operationsRestrictTheFaults() {
        let faults = FaultInjection(errorRate: 1, operations: ["put-block", "get-blob"])
        #expect(Self.decisions(faults, .putBlob) == [.serve: 10_000])
        #expect(Self.decisions(faults, .putBlock)[.serve] == nil)
        #expect(faults.applies(to: .getBlob))
        #expect(!faults.applies(to: .listBlobs))
    }

    @Test func operationNamesAreTheRoutedOperations() {
        #expect(FaultInjection.operationNames.contains("put-blob"))
        #expect(FaultInjection.operationNames.contains("put-block-list"))
        #expect(FaultInjection.operationNames.count == Set(FaultInjection.operationNames).count)
    }
}

@Suite("Fault injection by lease action")
struct LeaseActionFaultTests {
    @Test func actionQualifiedNamesSelectOneLeaseAction() {
        let renewals = FaultInjection(errorRate: 1, operations: ["lease-blob:renew"])
        #expect(renewals.applies(to: .leaseBlob, action: "renew"))
        for action in ["acquire", "release", "break", "change"] {
            #expect(!renewals.applies(to: .leaseBlob, action: action))
        }
        #expect(!renewals.applies(to: .leaseBlob))
        #expect(!renewals.applies(to: .leaseContainer, action: "renew"))
        #expect(!renewals.applies(to: .putBlob))
        // The bare name still covers every action.
        let everyLeaseAction = FaultInjection(errorRate: 1, operations: ["lease-blob"])
        for action in ["acquire", "renew", "release", "break", "change"] {
            #expect(everyLeaseAction.applies(to: .leaseBlob, action: action))
        }
        var random = SequenceGenerator(state: 7)
        #expect(renewals.decide(for: .leaseBlob, action: "acquire", using: &random) == .serve)
        #expect(renewals.decide(for: .leaseBlob, action: "renew", using: &random) != .serve)
    }

    @Test func operationNamesListEveryLeaseAction() {
        let names = Set(FaultInjection.operationNames)
        for operation in ["lease-blob", "lease-container"] {
            for action in ["acquire", "renew", "change", "release", "break"] {
                #expect(names.contains("\(operation):\(action)"))
            }
        }
        #expect(!names.contains("put-blob:renew"))
    }

    @Test func liveEmulatorFailsOnlyRenewals() async throws {
        try await LiveBlobEndpoint.run(configure: {
            $0.faults = FaultInjection(errorRate: 1, operations: ["lease-blob:renew"])
        }) { emulator in
            #expect(try await emulator.send(.PUT, "/leases", query: "restype=container").status == 201)
            #expect(
                try await emulator.send(
                    .PUT, "/leases/b", headers: [("x-ms-blob-type", "BlockBlob")], body: Array("x".utf8)
                ).status == 201)
            let acquired = try await emulator.send(
                .PUT, "/leases/b", query: "comp=lease",
                headers: [("x-ms-lease-action", "acquire"), ("x-ms-lease-duration", "15")])
            #expect(acquired.status == 201)
            let leaseID = try #require(acquired.headers.first(name: "x-ms-lease-id"))
            for _ in 0..<5 {
                let renewed = try await emulator.send(
                    .PUT, "/leases/b", query: "comp=lease",
                    headers: [("x-ms-lease-action", "renew"), ("x-ms-lease-id", leaseID)])
                #expect([500, 503].contains(renewed.status))
            }
            let released = try await emulator.send(
                .PUT, "/leases/b", query: "comp=lease",
                headers: [("x-ms-lease-action", "release"), ("x-ms-lease-id", leaseID)])
            #expect(released.status == 200)
        }
    }
}
