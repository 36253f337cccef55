import Foundation
import KumoBackup
import KumoKV

/// What `kumo --version` prints: the release, the commit the binary was built from and the RocksDB it runs on.
enum KumoVersion {
    /// The release number; the same one backup manifests record.
    static let number = KumoBackupVersion.kumo

    /// The commit `BuildInfo` recorded at build time ("unknown" outside a git checkout), with "-dirty" when
    /// tracked files differed from it.
    static let commit = BuildInfo.commit

    static let string = """
        kumo \(number)
        commit \(commit)
        \(rocksDB)
        """

    /// The loaded library's version, beside the headers' version when they differ or the library's is unknown,
    /// since a mismatch is what an operator chasing a RocksDB problem needs to see.
    static var rocksDB: String {
        let headers = BuildInfo.rocksDBHeaders
        guard let running = Store.rocksDBVersion else {
            return "RocksDB \(headers) (headers built against; the loaded library's version is unknown)"
        }
        let library = Store.rocksDBLibraryPath.map { " (\($0))" } ?? ""
        if running == headers || headers == "unknown" { return "RocksDB \(running)\(library)" }
        return "RocksDB \(running)\(library), built against \(headers) headers"
    }
}
