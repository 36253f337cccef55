import AMQP
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Feeds one input to every reader of untrusted AMQP bytes: the frame decoder (with a small and a large
/// max-frame-size, so both the size check and the body decoding see it), the value decoder and the message
/// decoder. Any of them may refuse the input with an AMQPError; none may trap, hang, or allocate by a length the
/// input states. Whatever decodes is encoded again, so the writers see decoded values of every shape too.
func tryInput(_ bytes: [UInt8]) {
    let input = ByteBuffer(bytes: bytes)
    for maxFrameSize: UInt32 in [512, 1 << 20] {
        var decoder = AMQPFrameDecoder(maxFrameSize: maxFrameSize)
        var frames = input
        while let item = try? decoder.decode(buffer: &frames) {
            guard case .frame(let frame) = item else { continue }
            var out = ByteBuffer()
            frame.encode(into: &out)
            if case .amqp(.transfer, let payload?) = frame.body, let message = try? AMQPMessage.decode(from: payload) {
                _ = message.encoded()
            }
        }
    }
    var values = input
    while values.readableBytes > 0, let value = try? AMQPValue.decode(from: &values) {
        var out = ByteBuffer()
        value.encode(into: &out)
        precondition(out.readableBytes == value.encodedSize, "encodedSize disagrees with encode for \(value)")
    }
    if let message = try? AMQPMessage.decode(from: input) {
        _ = message.encoded()
    }
}

#if KUMO_LIBFUZZER
    /// libFuzzer entry point; built by `scripts/fuzz-amqp` with `--sanitize fuzzer`.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        tryInput(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
#else
    /// Without libFuzzer the same target replays inputs: `kumo-amqp-fuzzer FILE...` (a corpus, or a crash to check).
    func replay(_ paths: ArraySlice<String>) throws -> Int {
        for path in paths {
            tryInput(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        return paths.count
    }

    // A declaration rather than a statement: SwiftPM compiles this file as a library under `--sanitize fuzzer`, where
    // top-level statements are refused even in an inactive `#if` branch, and as a script otherwise, where this
    // global is initialized at startup.
    let replayedInputs = try replay(CommandLine.arguments.dropFirst())
#endif
