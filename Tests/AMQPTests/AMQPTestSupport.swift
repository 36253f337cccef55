import AMQP
import Foundation
import NIOCore

/// Bytes from hex text; spaces are ignored so vectors can be grouped by field.
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

func buffer(_ bytes: [UInt8]) -> ByteBuffer {
    ByteBuffer(bytes: bytes)
}

func encode(_ value: AMQPValue) -> [UInt8] {
    var out = ByteBuffer()
    value.encode(into: &out)
    return Array(out.readableBytesView)
}

func encode(_ frame: AMQPFrame) -> [UInt8] {
    var out = ByteBuffer()
    frame.encode(into: &out)
    return Array(out.readableBytesView)
}

/// Decodes exactly one value and requires that it used every byte.
func decodeAll(_ bytes: [UInt8], limits: AMQPDecodingLimits = .default) throws -> AMQPValue {
    var input = buffer(bytes)
    let value = try AMQPValue.decode(from: &input, limits: limits)
    if input.readableBytes != 0 {
        throw AMQPError(code: .malformedData, message: "\(input.readableBytes) bytes left over")
    }
    return value
}

/// The message of the AMQPError `body` throws, or nil when it throws something else or nothing.
func amqpErrorMessage(_ body: () throws -> Void) -> (AMQPError.Code, String)? {
    do {
        try body()
        return nil
    } catch let error as AMQPError {
        return (error.code, error.message)
    } catch {
        return nil
    }
}

/// A small deterministic generator (SplitMix64), so property tests see the same inputs on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
