import Foundation
import Testing

@testable import AzureEmulator

/// The lease state machine against the table "Outcomes of lease operations on blobs by lease state" in
/// Azure's Lease Blob reference, with a fixed clock.
@Suite("Lease rules")
struct LeaseRulesTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let a = "11111111-1111-1111-1111-111111111111"
    static let b = "22222222-2222-2222-2222-222222222222"
    static let c = "33333333-3333-3333-3333-333333333333"

    static func lease(_ state: LeaseState) -> LeaseRecord? {
        switch state {
        case .available: nil
        case .leased: LeaseRecord(id: a, duration: 30, renewed: t0)
        case .expired: LeaseRecord(id: a, duration: 15, renewed: t0.addingTimeInterval(-20))
        case .breaking: LeaseRecord(id: a, duration: -1, renewed: t0.addingTimeInterval(-5), breakEnds: t0.addingTimeInterval(10))
        case .broken: LeaseRecord(id: a, duration: -1, renewed: t0.addingTimeInterval(-5), breakEnds: t0.addingTimeInterval(-1))
        }
    }

    static func outcome(_ action: LeaseAction, on state: LeaseState) -> Result<LeaseOutcome, EmulatorError> {
        #expect(lease(state)?.state(at: t0) ?? .available == state)
        do throws(EmulatorError) {
            return .success(try LeaseRules.apply(action, to: lease(state), now: t0, resource: .blob, newID: { c }))
        } catch {
            return .failure(error)
        }
    }

    static func failure(_ action: LeaseAction, on state: LeaseState) -> String? {
        if case .failure(let error) = outcome(action, on: state) { return "\(error.status) \(error.code)" }
        return nil
    }

    static func stateAfter(_ action: LeaseAction, on state: LeaseState, at time: Date = t0) -> LeaseState? {
        guard case .success(let result) = outcome(action, on: state) else { return nil }
        return result.lease?.state(at: time) ?? .available
    }

    @Test(arguments: [LeaseState.available, .expired, .broken])
    func acquireTakesAFreeResource(_ state: LeaseState) {
        #expect(Self.stateAfter(.acquire(duration: -1, proposedID: nil), on: state) == .leased)
        if case .success(let result) = Self.outcome(.acquire(duration: 15, proposedID: Self.b), on: state) {
            #expect(result.leaseID == Self.b)
        } else {
            Issue.record("acquire with a proposed id failed on \(state)")
        }
    }

    @Test func acquireOnLeased() {
        #expect(Self.failure(.acquire(duration: -1, proposedID: nil), on: .leased) == "409 LeaseAlreadyPresent")
        #expect(Self.failure(.acquire(duration: -1, proposedID: Self.b), on: .leased) == "409 LeaseAlreadyPresent")
        guard case .success(let same) = Self.outcome(.acquire(duration: 60, proposedID: Self.a), on: .leased) else {
            Issue.record("re-acquire with the active id failed")
            return
        }
        #expect(same.lease?.duration == 60)
    }

    @Test func acquireOnBreaking() {
        #expect(Self.failure(.acquire(duration: -1, proposedID: Self.a), on: .breaking) == "409 LeaseIsBreakingAndCannotBeAcquired")
        #expect(Self.failure(.acquire(duration: -1, proposedID: Self.b), on: .breaking) == "409 LeaseAlreadyPresent")
    }

    @Test func breakOutcomes() {
        #expect(Self.failure(.breakLease(period: 0), on: .available) == "409 LeaseNotPresentWithLeaseOperation")
        #expect(Self.stateAfter(.breakLease(period: 0), on: .leased) == .broken)
        #expect(Self.stateAfter(.breakLease(period: 5), on: .leased) == .breaking)
        #expect(Self.stateAfter(.breakLease(period: 5), on: .leased, at: Self.t0.addingTimeInterval(5)) == .broken)
        #expect(Self.stateAfter(.breakLease(period: 0), on: .breaking) == .broken)
        #expect(Self.stateAfter(.breakLease(period: 30), on: .breaking) == .breaking)
        #expect(Self.stateAfter(.breakLease(period: 5), on: .expired) == .broken)
        #expect(Self.stateAfter(.breakLease(period: 5), on: .broken) == .broken)
    }

    @Test func breakPeriodIsCappedByTheRemainingFixedLease() {
        // A 30 s lease acquired at t0 has 30 s left; a 60 s break period is cut to that.
        guard case .success(let result) = Self.outcome(.breakLease(period: 60), on: .leased) else {
            Issue.record("break failed")
            return
        }
        #expect(result.leaseTime == 30)
        // Without a period a fixed lease breaks when it would have expired; an infinite one at once.
        if case .success(let fixed) = Self.outcome(.breakLease(period: nil), on: .leased) { #expect(fixed.leaseTime == 30) }
        let infinite = LeaseRecord(id: Self.a, duration: -1, renewed: Self.t0)
        #expect((try? LeaseRules.apply(.breakLease(period: nil), to: infinite, now: Self.t0, resource: .blob))?.leaseTime == 0)
    }

    @Test func changeOutcomes() {
        #expect(Self.stateAfter(.change(id: Self.a, proposedID: Self.b), on: .leased) == .leased)
        if case .success(let result) = Self.outcome(.change(id: Self.a, proposedID: Self.b), on: .leased) {
            #expect(result.lease?.id == Self.b)
            #expect(result.lease?.duration == 30)
        }
        // (B) to (A) while the lease is A is accepted (a retried change).
        #expect(Self.stateAfter(.change(id: Self.b, proposedID: Self.a), on: .leased) == .leased)
        #expect(Self.failure(.change(id: Self.b, proposedID: Self.c), on: .leased) == "409 LeaseIdMismatchWithLeaseOperation")
        #expect(Self.failure(.change(id: Self.a, proposedID: Self.b), on: .breaking) == "409 LeaseIsBreakingAndCannotBeChanged")
        for state in [LeaseState.available, .broken, .expired] {
            #expect(Self.failure(.change(id: Self.a, proposedID: Self.b), on: state) == "409 LeaseNotPresentWithLeaseOperation")
        }
    }

    @Test func renewOutcomes() {
        #expect(Self.stateAfter(.renew(id: Self.a), on: .leased, at: Self.t0.addingTimeInterval(29)) == .leased)
        #expect(Self.stateAfter(.renew(id: Self.a), on: .expired) == .leased)
        #expect(Self.failure(.renew(id: Self.b), on: .leased) == "409 LeaseIdMismatchWithLeaseOperation")
        #expect(Self.failure(.renew(id: Self.a), on: .breaking) == "409 LeaseIsBrokenAndCannotBeRenewed")
        #expect(Self.failure(.renew(id: Self.a), on: .broken) == "409 LeaseIsBrokenAndCannotBeRenewed")
        #expect(Self.failure(.renew(id: Self.a), on: .available) == "409 LeaseNotPresentWithLeaseOperation")
    }

    @Test func releaseOutcomes() {
        for state in [LeaseState.leased, .breaking, .broken, .expired] {
            #expect(Self.stateAfter(.release(id: Self.a), on: state) == .available)
            #expect(Self.failure(.release(id: Self.b), on: state) == "409 LeaseIdMismatchWithLeaseOperation")
        }
        #expect(Self.failure(.release(id: Self.a), on: .available) == "409 LeaseNotPresentWithLeaseOperation")
    }

    @Test func fixedLeaseExpiresAfterItsDuration() {
        let lease = LeaseRecord(id: Self.a, duration: 15, renewed: Self.t0)
        #expect(lease.state(at: Self.t0.addingTimeInterval(14.9)) == .leased)
        #expect(lease.state(at: Self.t0.addingTimeInterval(15)) == .expired)
        #expect(LeaseRecord(id: Self.a, duration: -1, renewed: Self.t0).state(at: .distantFuture) == .leased)
    }

    static func access(_ state: LeaseState, _ id: String?, require: Bool = true, resource: LeaseResource = .blob) -> String? {
        do throws(EmulatorError) {
            try LeaseRules.checkAccess(lease(state), requestLeaseID: id, now: t0, resource: resource, requireLeaseID: require)
            return nil
        } catch {
            return "\(error.status) \(error.code)"
        }
    }

    @Test func writesToLeasedResources() {
        #expect(Self.access(.leased, nil) == "412 LeaseIdMissing")
        #expect(Self.access(.leased, nil, require: false) == nil)
        #expect(Self.access(.leased, Self.a) == nil)
        #expect(Self.access(.leased, Self.a.uppercased()) == nil)
        #expect(Self.access(.leased, Self.b) == "412 LeaseIdMismatchWithBlobOperation")
        #expect(Self.access(.leased, Self.b, resource: .container) == "412 LeaseIdMismatchWithContainerOperation")
        #expect(Self.access(.breaking, nil) == "412 LeaseIdMissing")
        #expect(Self.access(.breaking, Self.a) == nil)
        #expect(Self.access(.broken, nil) == nil)
        #expect(Self.access(.broken, Self.a) == "412 LeaseNotPresentWithBlobOperation")
        #expect(Self.access(.expired, nil) == nil)
        #expect(Self.access(.expired, Self.a) == "412 LeaseLost")
        #expect(Self.access(.available, Self.a, resource: .container) == "412 LeaseNotPresentWithContainerOperation")
    }

    @Test func actionHeadersAreValidated() {
        func parse(_ headers: [String: String]) -> String {
            do throws(EmulatorError) {
                return "\(try LeaseAction(headers: { headers[$0] }))"
            } catch {
                return "\(error.code) \(error.details.first?.1 ?? "")"
            }
        }
        #expect(parse(["x-ms-lease-action": "acquire", "x-ms-lease-duration": "14"]) == "InvalidHeaderValue x-ms-lease-duration")
        #expect(parse(["x-ms-lease-action": "acquire"]) == "MissingRequiredHeader x-ms-lease-duration")
        #expect(parse(["x-ms-lease-action": "renew", "x-ms-lease-id": "not-a-guid"]) == "InvalidHeaderValue x-ms-lease-id")
        #expect(parse(["x-ms-lease-action": "break", "x-ms-lease-break-period": "61"]) == "InvalidHeaderValue x-ms-lease-break-period")
        #expect(parse(["x-ms-lease-action": "steal"]) == "InvalidHeaderValue x-ms-lease-action")
        #expect(parse(["x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1"]) == "\(LeaseAction.acquire(duration: -1, proposedID: nil))")
    }
}
