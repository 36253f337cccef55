import Foundation
import KumoBackup

/// libFuzzer entry point: the bytes are tried as a backup manifest and as a KUMOENC1 header, the two parsers
/// that read what a backup target holds. Either may refuse the input; neither may trap, hang or allocate by a
/// length the input states. Built by `scripts/fuzz` with `--sanitize fuzzer`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    tryInput(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

func tryInput(_ bytes: [UInt8]) {
    _ = try? BackupManifest.decode(bytes, path: "rocksdb/2026-12-04/20261204T000000000Z-000000/manifest.json")
    let storedSize = bytes.count >= 8 ? bytes.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } : UInt64(bytes.count)
    _ = try? EncryptedFileFormat.Header.parse(bytes, name: "fuzz", storedSize: storedSize)
}

#if !KUMO_LIBFUZZER
/// Without libFuzzer the same target replays inputs: `kumo-backup-fuzzer FILE...` (a corpus, or a crash to check).
@main
struct ReplayInputs {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            tryInput(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        }
    }
}
#endif
