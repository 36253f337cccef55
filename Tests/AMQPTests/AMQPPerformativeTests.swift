import AMQP
import Foundation
import NIOCore
import Testing

/// One composite value fully populated, one left at its defaults, and the spec's field count.
struct CompositeCase: Sendable, CustomTestStringConvertible {
    let name: String
    let fieldCount: Int
    let minimal: AMQPValue
    let populated: AMQPValue
    let decode: @Sendable (AMQPValue) throws -> AMQPValue

    var testDescription: String { name }

    init<C: AMQPComposite>(_ minimal: C, _ populated: C, fieldCount: Int) {
        name = C.descriptorName
        self.fieldCount = fieldCount
        self.minimal = minimal.described
        self.populated = populated.described
        decode = { try C(described: $0).described }
    }
}

let sampleError = AMQPErrorCondition(
    condition: "amqp:not-found",
    description: "no such hub",
    info: [AMQPMapEntry(.symbol("tracking-id"), .string("abc"))]
)

let sampleSource = AMQPSource(
    address: "hub/ConsumerGroups/$default/Partitions/0",
    durable: 2,
    expiryPolicy: "never",
    timeout: 60,
    dynamic: true,
    dynamicNodeProperties: [AMQPMapEntry(.symbol("lifetime-policy"), .null)],
    distributionMode: "copy",
    filter: [
        AMQPMapEntry(
            .symbol("apache.org:selector-filter:string"),
            .described(descriptor: .ulong(0x0000_468C_0000_0004), value: .string("amqp.annotation.x-opt-offset > '0'"))
        )
    ],
    defaultOutcome: .released,
    outcomes: ["amqp:accepted:list", "amqp:released:list"],
    capabilities: ["queue"]
)

let sampleTarget = AMQPTarget(
    address: "hub/Partitions/1",
    durable: 1,
    expiryPolicy: "link-detach",
    timeout: 5,
    dynamic: false,
    dynamicNodeProperties: [],
    capabilities: ["topic"]
)

let compositeCases: [CompositeCase] = [
    CompositeCase(
        AMQPOpen(containerID: "c"),
        AMQPOpen(
            containerID: "container", hostname: "ns.servicebus.windows.net", maxFrameSize: 65536, channelMax: 4999,
            idleTimeOut: 120_000, outgoingLocales: ["en-US"], incomingLocales: ["en-US", "de"],
            offeredCapabilities: ["ANONYMOUS-RELAY"], desiredCapabilities: ["com.microsoft:georeplication"],
            properties: [AMQPMapEntry(.symbol("product"), .string("kumo"))]
        ),
        fieldCount: 10
    ),
    CompositeCase(
        AMQPBegin(nextOutgoingID: 0, incomingWindow: 0, outgoingWindow: 0),
        AMQPBegin(
            remoteChannel: 3, nextOutgoingID: 1, incomingWindow: 5000, outgoingWindow: 65536, handleMax: 255,
            offeredCapabilities: ["a"], desiredCapabilities: ["b"], properties: []
        ),
        fieldCount: 8
    ),
    CompositeCase(
        AMQPAttach(name: "l", handle: 0, role: .sender),
        AMQPAttach(
            name: "link", handle: 7, role: .receiver, sndSettleMode: .settled, rcvSettleMode: .second,
            source: sampleSource, target: sampleTarget, unsettled: [AMQPMapEntry(.binary([1]), .null)],
            incompleteUnsettled: true, initialDeliveryCount: 9, maxMessageSize: 1_048_576,
            offeredCapabilities: ["x"], desiredCapabilities: ["com.microsoft:enable-receiver-runtime-metric"],
            properties: [AMQPMapEntry(.symbol("com.microsoft:timeout"), .uint(60000))]
        ),
        fieldCount: 14
    ),
    CompositeCase(
        AMQPFlow(incomingWindow: 0, nextOutgoingID: 0, outgoingWindow: 0),
        AMQPFlow(
            nextIncomingID: 1, incomingWindow: 5000, nextOutgoingID: 2, outgoingWindow: 65536, handle: 1,
            deliveryCount: 4, linkCredit: 300, available: 0, drain: true, echo: true,
            properties: [AMQPMapEntry(.symbol("k"), .long(-1))]
        ),
        fieldCount: 11
    ),
    CompositeCase(
        AMQPTransfer(handle: 0),
        AMQPTransfer(
            handle: 2, deliveryID: 1, deliveryTag: [1, 0, 0, 0], messageFormat: AMQPMessage.batchFormat, settled: true,
            more: true, rcvSettleMode: .second, state: .received(sectionNumber: 1, sectionOffset: 300), resume: true,
            aborted: true, batchable: true
        ),
        fieldCount: 11
    ),
    CompositeCase(
        AMQPDisposition(role: .receiver, first: 0),
        AMQPDisposition(
            role: .sender, first: 3, last: 9, settled: true,
            state: .modified(deliveryFailed: true, undeliverableHere: false, messageAnnotations: []), batchable: true
        ),
        fieldCount: 6
    ),
    CompositeCase(AMQPDetach(handle: 0), AMQPDetach(handle: 4, closed: true, error: sampleError), fieldCount: 3),
    CompositeCase(AMQPEnd(), AMQPEnd(error: sampleError), fieldCount: 1),
    CompositeCase(AMQPClose(), AMQPClose(error: sampleError), fieldCount: 1),
    CompositeCase(AMQPErrorCondition(condition: "x"), sampleError, fieldCount: 3),
    CompositeCase(AMQPSource(), sampleSource, fieldCount: 11),
    CompositeCase(AMQPTarget(), sampleTarget, fieldCount: 7),
    CompositeCase(
        AMQPSASLMechanisms(mechanisms: []),
        AMQPSASLMechanisms(mechanisms: ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"]),
        fieldCount: 1
    ),
    CompositeCase(
        AMQPSASLInit(mechanism: "ANONYMOUS"),
        AMQPSASLInit(mechanism: "PLAIN", initialResponse: [0, 0x75, 0, 0x70], hostname: "localhost"),
        fieldCount: 3
    ),
    CompositeCase(AMQPSASLChallenge(challenge: []), AMQPSASLChallenge(challenge: [1, 2]), fieldCount: 1),
    CompositeCase(AMQPSASLResponse(response: []), AMQPSASLResponse(response: [3]), fieldCount: 1),
    CompositeCase(
        AMQPSASLOutcome(code: .ok),
        AMQPSASLOutcome(code: .sysTemp, additionalData: Array("Welcome!".utf8)),
        fieldCount: 2
    ),
    CompositeCase(
        AMQPMessage.Header(),
        AMQPMessage.Header(durable: true, priority: 9, ttl: 1000, firstAcquirer: true, deliveryCount: 2),
        fieldCount: 5
    ),
    CompositeCase(
        AMQPMessage.Properties(),
        AMQPMessage.Properties(
            messageID: .uuid(sampleUUID), userID: [1], to: "to", subject: "s", replyTo: "r", correlationID: .ulong(7),
            contentType: "application/json", contentEncoding: "gzip", absoluteExpiryTime: 2, creationTime: 1,
            groupID: "g", groupSequence: 3, replyToGroupID: "rg"
        ),
        fieldCount: 13
    ),
]

@Suite struct AMQPPerformativeTests {
    @Test(arguments: compositeCases)
    func everyFieldIsWrittenTrailingNullsIncluded(composite: CompositeCase) throws {
        for value in [composite.minimal, composite.populated] {
            guard case .described(.ulong, .list(let fields)) = value else {
                Issue.record("\(composite.name) is not a described list with a numeric descriptor")
                return
            }
            #expect(fields.count == composite.fieldCount)
            // The bytes carry the count too: decoding them sees the same number of fields.
            guard case .described(_, .list(let decoded)) = try decodeAll(encode(value)) else {
                Issue.record("\(composite.name) did not decode as a described list")
                return
            }
            #expect(decoded.count == composite.fieldCount)
        }
    }

    @Test(arguments: compositeCases)
    func roundTripsThroughBytes(composite: CompositeCase) throws {
        for value in [composite.minimal, composite.populated] {
            let decoded = try decodeAll(encode(value))
            #expect(try composite.decode(decoded) == value)
        }
    }

    @Test(arguments: compositeCases)
    func missingTrailingFieldsMeanDefaults(composite: CompositeCase) throws {
        guard case .described(let descriptor, .list(let fields)) = composite.minimal else { return }
        // Drop trailing nulls and false defaults the way a peer that shortens lists would.
        var shortened = fields
        while let last = shortened.last, last == .null {
            shortened.removeLast()
        }
        let value = AMQPValue.described(descriptor: descriptor, value: .list(shortened))
        #expect(try composite.decode(value) == composite.minimal)
    }

    @Test func exactBytesOfSmallPerformatives() {
        #expect(hexString(encode(AMQPEnd().described)) == "005317c0020140")
        #expect(hexString(encode(AMQPClose().described)) == "005318c0020140")
        #expect(hexString(encode(AMQPDetach(handle: 3, closed: true).described)) == "005316c00503520341" + "40")
        #expect(
            hexString(encode(AMQPDisposition(role: .receiver, first: 0, settled: true, state: .accepted).described))
                == "005315c00a06" + "41" + "43" + "40" + "41" + "00532445" + "42"
        )
        #expect(
            hexString(encode(AMQPBegin(nextOutgoingID: 0, incomingWindow: 65536, outgoingWindow: 65536).described))
                == "005311c01508" + "40" + "43" + "7000010000" + "7000010000" + "70ffffffff" + "404040"
        )
        #expect(
            hexString(
                encode(AMQPSASLInit(mechanism: "ANONYMOUS", initialResponse: [], hostname: "localhost").described))
                == "005341c01903" + "a309414e4f4e594d4f5553" + "a000" + "a1096c6f63616c686f7374"
        )
    }

    @Test func symbolDescriptorsAreAccepted() throws {
        let open = AMQPValue.described(
            descriptor: .symbol("amqp:open:list"),
            value: .list([.string("c"), .null, .uint(512)])
        )
        #expect(try AMQPPerformative(described: open) == .open(AMQPOpen(containerID: "c", maxFrameSize: 512)))
        let accepted = AMQPValue.described(descriptor: .symbol("amqp:accepted:list"), value: .list([]))
        #expect(try AMQPDeliveryState(described: accepted) == .accepted)
        let mechanisms = AMQPValue.described(
            descriptor: .symbol("amqp:sasl-mechanisms:list"),
            value: .list([.symbol("PLAIN")])
        )
        #expect(
            try AMQPSASLPerformative(described: mechanisms) == .mechanisms(AMQPSASLMechanisms(mechanisms: ["PLAIN"])))
    }

    @Test func symbolMultipleReadsOneSymbolAndWritesAnArray() throws {
        let single = AMQPValue.described(
            descriptor: .ulong(0x10),
            value: .list([.string("c"), .null, .null, .null, .null, .null, .null, .symbol("ANONYMOUS-RELAY")])
        )
        let open = try AMQPOpen(described: single)
        #expect(open.offeredCapabilities == ["ANONYMOUS-RELAY"])
        #expect(open.fields[7] == .array([.symbol("ANONYMOUS-RELAY")]))
        #expect(open.fields[8] == .null)
    }

    @Test func specDefaults() {
        let open = AMQPOpen(containerID: "c")
        #expect(open.maxFrameSize == .max && open.channelMax == 65535 && open.idleTimeOut == nil)
        #expect(AMQPBegin(nextOutgoingID: 0, incomingWindow: 1, outgoingWindow: 1).handleMax == .max)
        let attach = AMQPAttach(name: "l", handle: 0, role: .receiver)
        #expect(attach.sndSettleMode == .mixed && attach.rcvSettleMode == .first && !attach.incompleteUnsettled)
        #expect(AMQPSource().expiryPolicy == "session-end" && AMQPTarget().timeout == 0)
        #expect(AMQPMessage.Header().priority == 4)
        #expect(AMQPRole.receiver != AMQPRole.sender)
        #expect(AMQPSASLCode.sysPerm.rawValue == 3 && AMQPSenderSettleMode.mixed.rawValue == 2)
    }

    @Test func deliveryStates() throws {
        let states: [AMQPDeliveryState] = [
            .received(sectionNumber: 0, sectionOffset: 0), .accepted, .rejected(nil), .rejected(sampleError), .released,
            .modified(deliveryFailed: nil, undeliverableHere: nil, messageAnnotations: nil),
            .modified(
                deliveryFailed: true, undeliverableHere: true, messageAnnotations: [AMQPMapEntry(.symbol("a"), .null)]),
            .other(.described(descriptor: .ulong(0x34), value: .list([.binary([1])]))),
        ]
        for state in states {
            #expect(try AMQPDeliveryState(described: decodeAll(encode(state.described))) == state)
        }
        #expect(hexString(encode(AMQPDeliveryState.accepted.described)) == "00532445")
        #expect(hexString(encode(AMQPDeliveryState.rejected(nil).described)) == "005325c0020140")
        #expect(throws: AMQPError.self) { try AMQPDeliveryState(described: .uint(1)) }
    }

    @Test func performativeNamesAndEnums() throws {
        let performatives: [AMQPPerformative] = [
            .open(AMQPOpen(containerID: "c")),
            .begin(AMQPBegin(nextOutgoingID: 0, incomingWindow: 1, outgoingWindow: 1)),
            .attach(AMQPAttach(name: "n", handle: 0, role: .sender)),
            .flow(AMQPFlow(incomingWindow: 1, nextOutgoingID: 0, outgoingWindow: 1)),
            .transfer(AMQPTransfer(handle: 0)),
            .disposition(AMQPDisposition(role: .receiver, first: 0)), .detach(AMQPDetach(handle: 0)), .end(AMQPEnd()),
            .close(AMQPClose()),
        ]
        #expect(
            performatives.map(\.name) == [
                "open", "begin", "attach", "flow", "transfer", "disposition", "detach", "end", "close",
            ])
        for performative in performatives {
            #expect(try AMQPPerformative(described: decodeAll(encode(performative.described))) == performative)
        }
        let sasl: [AMQPSASLPerformative] = [
            .mechanisms(AMQPSASLMechanisms(mechanisms: ["PLAIN"])), .initial(AMQPSASLInit(mechanism: "PLAIN")),
            .challenge(AMQPSASLChallenge(challenge: [1])), .response(AMQPSASLResponse(response: [2])),
            .outcome(AMQPSASLOutcome(code: .auth)),
        ]
        #expect(
            sasl.map(\.name) == ["sasl-mechanisms", "sasl-init", "sasl-challenge", "sasl-response", "sasl-outcome"])
        for performative in sasl {
            #expect(try AMQPSASLPerformative(described: decodeAll(encode(performative.described))) == performative)
        }
    }

    @Test func remoteErrorsCarryTheCondition() {
        let error = AMQPError.remote(sampleError, code: .linkDetached)
        #expect(error.code == .linkDetached)
        #expect(error.condition == "amqp:not-found")
        #expect(error.remoteDescription == "no such hub")
        #expect(error.remoteInfo == sampleError.info)
        #expect(error.message == "amqp:not-found: no such hub")
        #expect(error.description == "AMQPError.linkDetached: amqp:not-found: no such hub")
        #expect(AMQPError.Code.malformedData.description == "malformedData")
    }
}
