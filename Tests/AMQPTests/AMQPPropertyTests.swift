import AMQP
import Foundation
import NIOCore
import Testing

/// Random values and damaged frames, from fixed seeds so every run sees the same inputs.
@Suite struct AMQPPropertyTests {
    @Test func randomValueTreesRoundTrip() throws {
        var random = SeededGenerator(seed: 0x4B55_4D4F)
        for index in 0..<2000 {
            let value = RandomValues.value(depth: 0, using: &random)
            var out = ByteBuffer()
            // Write after some bytes that are already read, as a frame encoder does.
            out.writeBytes([1, 2, 3])
            out.moveReaderIndex(forwardBy: 2)
            value.encode(into: &out)
            #expect(out.readableBytes == 1 + value.encodedSize, "value \(index)")
            out.moveReaderIndex(forwardBy: 1)
            let decoded = try AMQPValue.decode(from: &out)
            #expect(out.readableBytes == 0)
            #expect(decoded == value, "value \(index): \(value)")
        }
    }

    @Test func randomMessagesRoundTrip() throws {
        var random = SeededGenerator(seed: 7)
        for _ in 0..<300 {
            let message = RandomValues.message(using: &random)
            #expect(try AMQPMessage.decode(from: ByteBuffer(bytes: message.encoded())) == message)
        }
    }

    /// Whole frames as Azure and its client send them (rebuilt from the recordings, transfers with their
    /// recorded payloads), damaged 5,000 ways: every decoder either refuses with an AMQPError or returns something
    /// that encodes and decodes again to the same bytes.
    @Test func mutatedFixtureFramesNeverCrashTheDecoders() throws {
        let frames = Self.recordedFrames()
        #expect(frames.count > 200)
        var random = SeededGenerator(seed: 0xF00D)
        var refused = 0
        for _ in 0..<5000 {
            let original = frames[Int.random(in: 0..<frames.count, using: &random)]
            let mutated = Mutations.mutate(original, using: &random)
            refused += Self.feed(mutated) ? 0 : 1
        }
        // Most damage is caught; some (a flipped bit in a string) still makes a valid frame.
        #expect(refused > 1000)
    }

    /// Runs bytes through every decoder; returns whether the frame decoder accepted them.
    static func feed(_ bytes: [UInt8]) -> Bool {
        var accepted = true
        for maxFrameSize: UInt32 in [512, 1 << 20] {
            var decoder = AMQPFrameDecoder(maxFrameSize: maxFrameSize)
            var input = ByteBuffer(bytes: bytes)
            do {
                while let item = try decoder.decode(buffer: &input) {
                    if case .frame(let frame) = item {
                        var out = ByteBuffer()
                        frame.encode(into: &out)
                        var again = out
                        #expect(try AMQPFrame.decode(from: &again, maxFrameSize: .max) != nil)
                        if case .amqp(.transfer, let payload?) = frame.body,
                            let message = try? AMQPMessage.decode(from: payload)
                        {
                            let encoded = message.encoded()
                            #expect(try AMQPMessage.decode(from: ByteBuffer(bytes: encoded)).encoded() == encoded)
                        }
                    }
                }
            } catch is AMQPError {
                accepted = false
            } catch {
                Issue.record("decoder threw \(error), not an AMQPError")
            }
        }
        // The performative alone, past the frame header: whatever decodes must encode to bytes that decode to
        // the same bytes again (compared as bytes, so a NaN from a flipped bit is no false alarm).
        var value = ByteBuffer(bytes: bytes.dropFirst(8))
        if let decoded = try? AMQPValue.decode(from: &value) {
            let once = decoded.encodedBytesForTest()
            var input = ByteBuffer(bytes: once)
            #expect((try? AMQPValue.decode(from: &input))?.encodedBytesForTest() == once)
        }
        _ = try? AMQPMessage.decode(from: ByteBuffer(bytes: bytes))
        return accepted
    }

    static func recordedFrames() -> [[UInt8]] {
        var frames: [[UInt8]] = []
        for frame in AzureFixtures.allFrames {
            guard let recorded = frame.Frame, let body = recorded.Body else { continue }
            let channel = UInt16(recorded.Header.Channel)
            if frame.FrameType == "Transfer", let payload = body["Payload"].base64 {
                let transfer = RecordedBody.transfer(body)
                frames.append(
                    encode(
                        AMQPFrame(
                            channel: channel, body: .amqp(.transfer(transfer), payload: ByteBuffer(bytes: payload)))))
            } else if let performative = RecordedBody.performative(frame.FrameType, body) {
                frames.append(encode(AMQPFrame(channel: channel, body: performative)))
            }
        }
        return frames
    }
}

extension AMQPValue {
    func encodedBytesForTest() -> [UInt8] {
        var out = ByteBuffer()
        encode(into: &out)
        return Array(out.readableBytesView)
    }
}

/// Ways to damage bytes: flipped bits, cuts, inserted runs, and bytes set to constructors and lengths.
enum Mutations {
    static let interesting: [UInt8] = [
        0x00, 0x40, 0x45, 0x53, 0x70, 0x7f, 0x80, 0xa1, 0xb1, 0xc0, 0xc1, 0xd0, 0xd1, 0xe0, 0xf0, 0xff,
    ]

    static func mutate(_ input: [UInt8], using random: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        let rounds = Int.random(in: 1...3, using: &random)
        for _ in 0..<rounds where !bytes.isEmpty {
            let position = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0:
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
            case 1:
                bytes.removeSubrange(position...)
            case 2:
                let run = (0..<Int.random(in: 1...8, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
                bytes.insert(contentsOf: run, at: position)
            case 3:
                bytes[position] = interesting[Int.random(in: 0..<interesting.count, using: &random)]
            case 4:
                // A length or count field claiming far more than is there.
                let end = min(bytes.count, position + 4)
                for index in position..<end {
                    bytes[index] = 0xff
                }
            default:
                bytes.remove(at: position)
            }
        }
        return bytes
    }
}

/// Random AMQP values of every type, nested a few levels.
enum RandomValues {
    static func value(depth: Int, using random: inout SeededGenerator) -> AMQPValue {
        let kinds = depth >= 3 ? 21 : 25
        return value(kind: Int.random(in: 0..<kinds, using: &random), depth: depth, using: &random)
    }

    static func value(kind: Int, depth: Int, using random: inout SeededGenerator) -> AMQPValue {
        switch kind {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2: return .ubyte(UInt8.random(in: 0...255, using: &random))
        case 3: return .ushort(UInt16.random(in: 0...UInt16.max, using: &random))
        case 4:
            return .uint(
                interestingUnsigned(using: &random).map(UInt32.init(truncatingIfNeeded:))
                    ?? UInt32.random(in: 0...UInt32.max, using: &random))
        case 5: return .ulong(interestingUnsigned(using: &random) ?? random.next())
        case 6: return .byte(Int8.random(in: Int8.min...Int8.max, using: &random))
        case 7: return .short(Int16.random(in: Int16.min...Int16.max, using: &random))
        case 8:
            return .int(
                Int32(truncatingIfNeeded: interestingSigned(using: &random) ?? Int64(bitPattern: random.next())))
        case 9: return .long(interestingSigned(using: &random) ?? Int64(bitPattern: random.next()))
        case 10:
            let float = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random))
            return .float(float.isNaN ? 0.5 : float)
        case 11:
            let double = Double(bitPattern: random.next())
            return .double(double.isNaN ? -0.25 : double)
        case 12: return .decimal32(UInt32.random(in: 0...UInt32.max, using: &random))
        case 13: return .decimal64(random.next())
        case 14: return .decimal128(bytes(count: 16, using: &random))
        case 15: return .char(scalar(using: &random))
        case 16: return .timestamp(Int64(bitPattern: random.next()))
        case 17:
            let b = bytes(count: 16, using: &random)
            return .uuid(
                UUID(
                    uuid: (
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                        b[15]
                    )))
        case 18: return .binary(bytes(count: length(using: &random), using: &random))
        case 19:
            return .string(
                String(String.UnicodeScalarView((0..<length(using: &random)).map { _ in scalar(using: &random) })))
        case 20:
            let ascii = (0..<length(using: &random)).map { _ in
                Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7e, using: &random)))
            }
            return .symbol(String(ascii))
        case 21:
            return .list(
                (0..<Int.random(in: 0...6, using: &random)).map { _ in value(depth: depth + 1, using: &random) })
        case 22:
            return .map(
                (0..<Int.random(in: 0...4, using: &random)).map { _ in
                    AMQPMapEntry(value(depth: depth + 1, using: &random), value(depth: depth + 1, using: &random))
                })
        case 23:
            // Arrays are homogeneous: one kind for every element (described elements share the descriptor).
            let elementKind = Int.random(in: 0..<25, using: &random)
            let count = Int.random(in: 0...5, using: &random)
            if elementKind == 24 {
                let descriptor = AMQPValue.ulong(UInt64.random(in: 0...0x80, using: &random))
                let innerKind = Int.random(in: 0..<23, using: &random)
                return .array(
                    (0..<count).map { _ in
                        .described(
                            descriptor: descriptor, value: value(kind: innerKind, depth: depth + 1, using: &random))
                    })
            }
            return .array((0..<count).map { _ in value(kind: elementKind, depth: depth + 1, using: &random) })
        default:
            let descriptor: AMQPValue =
                Bool.random(using: &random) ? .ulong(random.next() % 0x100) : .symbol("kumo:test:list")
            return .described(descriptor: descriptor, value: value(depth: depth + 1, using: &random))
        }
    }

    static func message(using random: inout SeededGenerator) -> AMQPMessage {
        func maybe<T>(_ make: () -> T) -> T? { Bool.random(using: &random) ? make() : nil }
        func map() -> [AMQPMapEntry] {
            (0..<Int.random(in: 0...3, using: &random)).map { index in
                AMQPMapEntry(.symbol("k\(index)"), value(depth: 1, using: &random))
            }
        }
        let bodies: [AMQPMessage.Body] = [
            .data(
                (0..<Int.random(in: 1...3, using: &random)).map { _ in
                    bytes(count: length(using: &random), using: &random)
                }),
            .sequence([[value(depth: 1, using: &random)]]), .value(value(depth: 0, using: &random)),
        ]
        return AMQPMessage(
            header: maybe { AMQPMessage.Header(durable: true, priority: 1, ttl: 9, deliveryCount: 2) },
            deliveryAnnotations: maybe(map), messageAnnotations: maybe(map),
            properties: maybe {
                AMQPMessage.Properties(messageID: .ulong(random.next()), subject: "s", groupSequence: 1)
            },
            applicationProperties: maybe(map), body: bodies[Int.random(in: 0..<3, using: &random)], footer: maybe(map)
        )
    }

    static func length(using random: inout SeededGenerator) -> Int {
        // Mostly short, sometimes over the 255-byte boundary of the 8-bit forms.
        Int.random(in: 0..<8, using: &random) == 0
            ? Int.random(in: 250...300, using: &random) : Int.random(in: 0...12, using: &random)
    }

    static func bytes(count: Int, using random: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    static func scalar(using random: inout SeededGenerator) -> Unicode.Scalar {
        while true {
            if let scalar = Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &random)) {
                return scalar
            }
        }
    }

    static func interestingUnsigned(using random: inout SeededGenerator) -> UInt64? {
        let values: [UInt64] = [0, 1, 255, 256, UInt64(UInt32.max)]
        return Bool.random(using: &random) ? values[Int.random(in: 0..<values.count, using: &random)] : nil
    }

    static func interestingSigned(using random: inout SeededGenerator) -> Int64? {
        let values: [Int64] = [0, -1, 127, 128, -128, -129, Int64(Int32.min)]
        return Bool.random(using: &random) ? values[Int.random(in: 0..<values.count, using: &random)] : nil
    }
}
