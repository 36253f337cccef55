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
