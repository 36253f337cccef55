import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Store {
    /// The version of the RocksDB library this process runs on (e.g. "7.8.3"), or nil when it cannot be told.
    ///
    /// RocksDB's C API has no version function and `rocksdb/version.h` is C++, so the version is read from
    /// the file name of the shared library the dynamic loader actually mapped for `rocksdb_open`
    /// (`librocksdb.so.7.8.3`, `librocksdb.9.10.0.dylib`): that is the code running, whatever the headers
    /// said at build time. A statically linked RocksDB has no such name, and the answer is nil.
    public static var rocksDBVersion: String? {
        guard let path = rocksDBLibraryPath else { return nil }
        let name = (path as NSString).lastPathComponent
        guard name.hasPrefix("librocksdb") else { return nil }
        let numbers = name.dropFirst("librocksdb".count).split(separator: ".").filter { part in
            part.allSatisfy(\.isNumber)
        }
        return numbers.isEmpty ? nil : numbers.joined(separator: ".")
    }

    /// The resolved path of the file `rocksdb_open` was loaded from: the shared library, or this executable
    /// when RocksDB is linked statically.
    public static var rocksDBLibraryPath: String? {
        guard let process = dlopen(nil, RTLD_NOW) else { return nil }
        defer { dlclose(process) }
        guard let symbol = dlsym(process, "rocksdb_open") else { return nil }
        guard let loaded = mappedFile(containing: UInt(bitPattern: symbol)) else { return nil }
        guard let resolved = realpath(loaded, nil) else { return loaded }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    #if canImport(Darwin)
    private static func mappedFile(containing address: UInt) -> String? {
        var info = Dl_info()
        guard dladdr(UnsafeRawPointer(bitPattern: address), &info) != 0, let name = info.dli_fname else { return nil }
        return String(cString: name)
    }
    #else
    /// glibc's `dladdr` is hidden behind _GNU_SOURCE, so the mapping is looked up where the kernel lists it.
    private static func mappedFile(containing address: UInt) -> String? {
        // Read to the end: the file reports size 0, and a reader that trusts the size stops after one page.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
        let maps = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        for line in maps.split(separator: "\n") {
            // start-end perms offset device inode path
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6 else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                start <= address, address < end
            else { continue }
            return String(fields[5]).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
    #endif
}
