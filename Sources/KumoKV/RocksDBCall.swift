import CRocksDB

/// Runs one RocksDB C call that reports failure through a `char** errptr`, and turns a set error into a
/// ``KVError``. Every errptr-style call in KumoKV goes through here so no error string is leaked or shared.
@inline(__always)
func rocksCall<T>(
    _ context: @autoclosure () -> String? = nil,
    _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) throws -> T
) throws -> T {
    var errorPointer: UnsafeMutablePointer<CChar>? = nil
    let result = try body(&errorPointer)
    if let errorPointer {
        let status = String(cString: errorPointer)
        rocksdb_free(errorPointer)
        throw KVError(rocksDBStatus: status, context: context())
    }
    return result
}

/// Copies a malloc'd C string returned by RocksDB into a Swift string and frees it.
func takeRocksString(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    defer { rocksdb_free(pointer) }
    return String(cString: pointer)
}

extension Array where Element == UInt8 {
    /// Copies `length` bytes starting at `pointer` into a new array.
    init(copying pointer: UnsafePointer<CChar>?, length: Int) {
        guard let pointer, length > 0 else {
            self = []
            return
        }
        self = pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// Calls `body` with the bytes as a C `char` pointer and length, as the RocksDB C API wants them.
    @inline(__always)
    func withCChars<R>(_ body: (UnsafePointer<CChar>?, Int) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress, $0.count) }
        }
    }
}
