import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain POSIX file I/O for backups to and restores from local directories: large transfers per system call
/// (Foundation's `FileManager.copyItem` and `FileHandle.read` move 4 KiB per call on Linux), and blocking work
/// kept off Swift's cooperative thread pool, whose few threads would otherwise sit in `fsync`.
enum LocalFileIO {
    /// Bytes moved per read, write or sendfile call.
    static let chunkSize = 1 << 20

    private static let queue = DispatchQueue(label: "kumo.backup.file-io", attributes: .concurrent)

    /// Runs `body` on a Dispatch thread and waits for it without holding a cooperative thread.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    static func failure(_ what: String, _ path: String, _ code: Int32 = errno) -> BackupError {
        BackupError(.invalidArgument, "cannot \(what) \(path): \(String(cString: strerror(code))) (errno \(code))")
    }

    /// Copies the file at `source` to `destination`, which must not exist, with the source's permission bits;
    /// with `sync`, the copy is on disk (fsync) before this returns. A failed copy leaves `destination` for the
    /// caller to remove.
    static func copy(from source: String, to destination: String, sync: Bool) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw failure("read", source) }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0 else { throw failure("stat", source) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 0o777)
        guard output >= 0 else { throw failure("create", destination) }
        defer { close(output) }
        #if os(Linux)
        _ = posix_fadvise(input, 0, 0, POSIX_FADV_SEQUENTIAL)
        var copied = 0
        // sendfile copies file to file inside the kernel; anything it cannot do falls back to read/write.
        while true {
            let count = sendfile(output, input, nil, chunkSize * 64)
            if count > 0 {
                copied += count
                continue
            }
            if count == 0 { break }
            let code = errno
            if code == EINTR || code == EAGAIN { continue }
            guard copied == 0, code == EINVAL || code == ENOSYS || code == EOPNOTSUPP else { throw failure("copy \(source) to", destination, code) }
            try readWriteCopy(input, source: source, output, destination: destination)
            break
        }
        #else
        try readWriteCopy(input, source: source, output, destination: destination)
        #endif
        if sync {
            guard fsync(output) == 0 else { throw failure("fsync", destination) }
        }
    }

    private static func readWriteCopy(_ input: Int32, source: String, _ output: Int32, destination: String) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let count = read(input, buffer.baseAddress, chunkSize)
            if count == 0 { return }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read", source)
            }
            var written = 0
            while written < count {
                let step = write(output, buffer.baseAddress! + written, count - written)
                if step < 0 {
                    if errno == EINTR { continue }
                    throw failure("write", destination)
                }
                written += step
            }
        }
    }
}
