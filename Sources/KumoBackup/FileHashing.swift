import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum FileHashing {
    /// Hex SHA-256 and size of the file at `path`, read in 1 MiB chunks into one reused buffer.
    static func sha256(ofFileAt path: String) throws -> (hex: String, size: Int64) {
        let (digest, size) = try hash(SHA256.self, path: path)
        return (hex(digest), size)
    }

    /// MD5 of the file at `path`: what Blob Storage keeps as Content-MD5.
    static func md5(ofFileAt path: String) throws -> [UInt8] {
        try hash(Insecure.MD5.self, path: path).digest
    }

    /// Hex SHA-256 and size of what `handle` reads from its current offset to the end.
    static func sha256(of handle: FileHandle, name: String) throws -> (hex: String, size: Int64) {
        let (digest, size) = try hash(SHA256.self, descriptor: handle.fileDescriptor, name: name)
        return (hex(digest), size)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    private static func hash<H: HashFunction>(_: H.Type, path: String) throws -> (digest: [UInt8], size: Int64) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LocalFileIO.failure("read", path) }
        defer { close(descriptor) }
        #if os(Linux)
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
        return try hash(H.self, descriptor: descriptor, name: path)
    }

    private static func hash<H: HashFunction>(_: H.Type, descriptor: Int32, name: String) throws -> (digest: [UInt8], size: Int64) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: LocalFileIO.chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        var hasher = H()
        var size: Int64 = 0
        while true {
            let count = read(descriptor, buffer.baseAddress, buffer.count)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw LocalFileIO.failure("read", name)
            }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            size += Int64(count)
        }
        return (Array(hasher.finalize()), size)
    }
}

/// Runs `body` over `items` with at most `limit` running at once, returning results in input order.
func boundedMap<Item: Sendable, Result: Sendable>(
    _ items: [Item], limit: Int, _ body: @escaping @Sendable (Item) async throws -> Result
) async throws -> [Result] {
    try await withThrowingTaskGroup(of: (Int, Result).self) { group in
        var results = [Result?](repeating: nil, count: items.count)
        var next = 0
        while next < min(limit, items.count) {
            let index = next
            group.addTask { (index, try await body(items[index])) }
            next += 1
        }
        while let (index, result) = try await group.next() {
            results[index] = result
            if next < items.count {
                let index = next
                group.addTask { (index, try await body(items[index])) }
                next += 1
            }
        }
        return results.map { $0! }
    }
}
