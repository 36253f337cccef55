import Foundation
import Synchronization

/// A checkpoint in a local file, written atomically (temporary file, fsync, rename, fsync of the directory), and
/// held with an exclusive `flock` on `<file>.lock` for as long as the feed runs: a second feed on the same file is
/// refused with the holder's name, and a feed killed with SIGKILL releases the lock with its process.
public final class FileCheckpointStore: ChangeFeedCheckpointStore {
    public let path: String
    public var location: String { "file://\(path)" }
    private let lockDescriptor = Mutex<Int32?>(nil)

    /// - Parameter path: The checkpoint file (absolute, or relative to the working directory). Its directory is
    ///   created when a feed claims it.
    public init(path: String) {
        let joined = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        self.path = URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    private var lockPath: String { path + ".lock" }
    private var directory: String { (path as NSString).deletingLastPathComponent }

    public func claim(holder: String, staleAfter: Duration, takeOver: Bool) async throws -> ChangeFeedCheckpoint? {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ChangeFeedError(.checkpointIO, "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holderText = (try? String(contentsOfFile: lockPath, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            let name = holderText.isEmpty ? "another process" : holderText
            throw ChangeFeedError(
                .checkpointHeld, "checkpoint \(location) is held by \(name); one feed per store (stop it first)", holder: name)
        }
        let text = Array("\(holder) (pid \(ProcessInfo.processInfo.processIdentifier))\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        lockDescriptor.withLock { $0 = descriptor }
        return try await read()
    }

    public func read() async throws -> ChangeFeedCheckpoint? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw ChangeFeedError(.checkpointIO, "cannot read \(path)")
            }
            return nil
        }
        return try ChangeFeedCheckpoint.decode(Array(data), location: location)
    }

    public func save(_ checkpoint: ChangeFeedCheckpoint) async throws {
        guard lockDescriptor.withLock({ $0 != nil }) else {
            throw ChangeFeedError(.checkpointLost, "checkpoint \(location) is not held by this feed (claim it first)")
        }
        let temporary = path + ".tmp"
        let bytes = checkpoint.encoded()
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ioError("cannot create \(temporary)") }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            guard result > 0 else {
                close(descriptor)
                throw ioError("cannot write \(temporary)")
            }
            written += result
        }
        guard fsync(descriptor) == 0 else {
            close(descriptor)
            throw ioError("cannot fsync \(temporary)")
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else { throw ioError("cannot rename \(temporary) to \(path)") }
        // The rename is durable only once the directory is.
        let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    public func release() async {
        lockDescriptor.withLock {
            if let descriptor = $0 {
                _ = flock(descriptor, LOCK_UN)
                close(descriptor)
            }
            $0 = nil
        }
    }

    private func ioError(_ what: String) -> ChangeFeedError {
        ChangeFeedError(.checkpointIO, "\(what): \(String(cString: strerror(errno)))")
    }

    deinit {
        lockDescriptor.withLock {
            if let descriptor = $0 { close(descriptor) }
        }
    }
}
