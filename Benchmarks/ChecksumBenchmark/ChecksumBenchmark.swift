// kumo-checksum-bench: GB/s of the checksums a Blob upload can compute, for scripts/bench-checksums: Azure Storage's
// CRC-64 (AzureChecksums), MD5 and SHA-256 (swift-crypto), each over the same SIZE MiB buffer, RUNS times; prints one
// JSON object per algorithm with the median.

import AzureChecksums
import Crypto
import Foundation

func argument(_ name: String, default value: String) -> String {
    let arguments = CommandLine.arguments
    if let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count { return arguments[index + 1] }
    return value
}

@main
struct ChecksumBenchmark {
    static func main() {
        let size = Int(argument("size", default: "256"))! << 20
        let runs = Int(argument("runs", default: "5"))!
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let buffer = (0..<size).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        let algorithms: [(String, ([UInt8]) -> String)] = [
            ("crc64", { String(StorageCRC64.checksum($0), radix: 16) }),
            ("md5", { Insecure.MD5.hash(data: $0).description }),
            ("sha256", { SHA256.hash(data: $0).description }),
        ]
        for (name, compute) in algorithms {
            var rates: [Double] = []
            var digest = ""
            for _ in 0..<runs {
                let start = ContinuousClock.now
                digest = compute(buffer)
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                rates.append(Double(size) / seconds / 1e9)
            }
            rates.sort()
            let record: [String: Any] = [
                "client": "kumo", "algorithm": name, "bytes": size, "gigabytesPerSecond": rates[rates.count / 2], "digest": String(digest.suffix(16)),
            ]
            let data = try! JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
