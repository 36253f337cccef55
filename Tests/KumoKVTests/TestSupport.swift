import Foundation
import KumoKV

/// A directory under the system temp dir, removed when the test is done with it.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ name: String = "kumo-test") {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(name)-\(UUID().uuidString.prefix(12))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func child(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func openStore(
    _ directory: TemporaryDirectory, name: String = "db", configure: (inout StoreOptions) -> Void = { _ in }
) async throws -> Store {
    var options = StoreOptions()
    configure(&options)
    return try await Store.open(at: directory.child(name), options: options)
}

/// Every key and value of `family`, in key order.
func contents(of store: Store, family: ColumnFamily = .default, at snapshot: Snapshot? = nil) async throws -> [KeyValue] {
    var entries: [KeyValue] = []
    for try await entry in store.scan(in: family, at: snapshot) { entries.append(entry) }
    return entries
}

/// Deterministic pseudo-random numbers, so a failing test fails the same way again.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs a program and returns its exit status and output.
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// The `kumo` executable built beside this test bundle.
var kumoExecutable: String {
    let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    // The test binary lives inside `<build>/debug/KumoPackageTests.xctest` on some platforms.
    if directory.pathExtension == "xctest" { directory.deleteLastPathComponent() }
    return directory.appendingPathComponent("kumo").path
}
