import Dispatch
import Foundation
import Synchronization

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
        BackupError(.io, "cannot \(what) \(path): \(String(cString: strerror(code))) (errno \(code))")
    }

    // MARK: Durability

    /// Local file operations that can be made to fail, for tests of what a command reports when the disk does.
    package enum Operation: Sendable, Hashable { case fsync, delete }

    /// A failure to inject: `operation` on any path below `pathPrefix` fails with `code`.
    package struct InjectedFailure: Sendable, Equatable {
        package var operation: Operation
        package var pathPrefix: String
        package var code: Int32
        package init(_ operation: Operation, below pathPrefix: String, code: Int32) {
            self.operation = operation
            self.pathPrefix = pathPrefix
            self.code = code
        }
    }

    private static let injectedFailures = Mutex<[InjectedFailure]>([])

    /// Runs `body` with `failure` injected (scoped to its path prefix, so concurrent tests are unaffected).
    package static func withInjectedFailure<T>(_ failure: InjectedFailure, _ body: () async throws -> T) async rethrows -> T {
        injectedFailures.withLock { $0.append(failure) }
        defer { injectedFailures.withLock { $0.removeAll { $0 == failure } } }
        return try await body()
    }

    static func injectedFailure(_ operation: Operation, _ path: String) -> Int32? {
        injectedFailures.withLock { $0.first { $0.operation == operation && path.hasPrefix($0.pathPrefix) }?.code }
    }

    /// fsync on `descriptor`, every failure reported: a write that is not known to be on disk is not done.
    static func sync(_ descriptor: Int32, _ path: String) throws {
        if let code = injectedFailure(.fsync, path) { throw failure("fsync", path, code) }
        while fsync(descriptor) != 0 {
            if errno == EINTR { continue }
            throw failure("fsync", path)
        }
    }

    /// fsync on the file or directory at `path`.
    static func sync(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open for fsync", path) }
        defer { close(descriptor) }
        try sync(descriptor, path)
    }

    /// fsync on the directory holding `path`, so a name created, renamed or removed there is durable.
    static func syncParent(of path: String) throws {
        try sync(path: (path as NSString).deletingLastPathComponent)
    }

    /// fsyncs every file and directory below `directory`, then `directory` and its parent: a restored store
    /// is on disk before it is reported done.
    static func syncTree(_ directory: String) throws {
        guard let names = FileManager.default.enumerator(atPath: directory) else { throw failure("list", directory, ENOENT) }
        while let relative = names.nextObject() as? String { try sync(path: directory + "/" + relative) }
        try sync(path: directory)
        try syncParent(of: directory)
    }

    // MARK: Reading untrusted files

    /// Opens the regular file `relative` below `root` for reading without following a symbolic link at any
    /// component and without blocking on a FIFO or device, and returns it with its size.
    /// - Throws: ``BackupError`` `.corrupt` when any component is a link or the file is not regular,
    ///   `.notFound` when it does not exist.
    static func openRegularFile(root: String, relative: String) throws -> (descriptor: Int32, size: Int64) {
        var directory = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw failure("open", root) }
        let components = relative.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for component in components.dropLast() {
            let next = openat(directory, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let code = errno
            close(directory)
            guard next >= 0 else {
                if code == ENOENT { throw BackupError(.notFound, "\(relative) is missing from \(root)") }
                throw BackupError(.corrupt, "\(relative) in \(root) cannot be read: '\(component)' is not a plain directory (\(String(cString: strerror(code))))")
            }
            directory = next
        }
        defer { close(directory) }
        let descriptor = openat(directory, components.last ?? "", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { throw BackupError(.notFound, "\(relative) is missing from \(root)") }
            if code == ELOOP { throw BackupError(.corrupt, "\(relative) in \(root) is a symbolic link; backups hold regular files only") }
            throw failure("open", root + "/" + relative, code)
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            throw failure("stat", root + "/" + relative)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw BackupError(.corrupt, "\(relative) in \(root) is not a regular file; backups hold regular files only")
        }
        return (descriptor, Int64(info.st_size))
    }

    /// Copies exactly `expectedSize` bytes from `input` (named `source` in errors) to a new file at `destination`,
    /// stopping one byte past the expected size: a file that grew or lies about its size cannot fill the disk.
    static func copy(from input: Int32, source: String, expectedSize: Int64, to destination: String, sync: Bool) throws {
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw failure("create", destination) }
        defer { close(output) }
        let copied = try transfer(input, source: source, output, destination: destination, limit: expectedSize + 1)
        guard copied == expectedSize else {
            throw BackupError(.corrupt, "\(source) has \(copied > expectedSize ? "more than \(expectedSize)" : "\(copied)") bytes, the manifest says \(expectedSize)")
        }
        if sync { try Self.sync(output, destination) }
    }

    static func writeAll(_ output: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int, destination: String) throws {
        var written = 0
        while written < count {
            let step = write(output, bytes + written, count - written)
            if step < 0 {
                if errno == EINTR { continue }
                throw failure("write", destination)
            }
            written += step
        }
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
        _ = try transfer(input, source: source, output, destination: destination, limit: .max)
        if sync { try Self.sync(output, destination) }
    }

    /// Moves up to `limit` bytes from `input` to `output` and returns how many it moved: sendfile on Linux, so the
    /// copy stays inside the kernel, and read/write where sendfile cannot do it.
    private static func transfer(_ input: Int32, source: String, _ output: Int32, destination: String, limit: Int64) throws -> Int64 {
        var copied: Int64 = 0
        #if os(Linux)
        _ = posix_fadvise(input, 0, 0, POSIX_FADV_SEQUENTIAL)
        while copied < limit {
            let count = sendfile(output, input, nil, Int(min(Int64(chunkSize * 64), limit - copied)))
            if count > 0 {
                copied += Int64(count)
                continue
            }
            if count == 0 { return copied }
            let code = errno
            if code == EINTR || code == EAGAIN { continue }
            guard copied == 0, code == EINVAL || code == ENOSYS || code == EOPNOTSUPP else { throw failure("copy \(source) to", destination, code) }
            break
        }
        if copied > 0 { return copied }
        #endif
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while copied < limit {
            let count = read(input, buffer.baseAddress, Int(min(Int64(chunkSize), limit - copied)))
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read", source)
            }
            try writeAll(output, buffer.baseAddress!, count, destination: destination)
            copied += Int64(count)
        }
        return copied
    }
}
