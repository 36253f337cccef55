import ArgumentParser
import AzureCore
import AzureStorageBlobs
import Foundation
import Synchronization

/// `kumo blob upload-dir`: every regular file under a directory, as blobs named prefix + relative path.
struct BlobUploadDirectory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload-dir",
        abstract: "Upload every regular file under a directory, several files at once.",
        discussion: """
            Each file becomes the blob <prefix><path relative to DIR>, with '/' between directories, replacing \
            any blob of that name. Files up to the single-upload threshold (32 MiB) go in one Put Blob; larger \
            files are staged in blocks. Symbolic links and other non-regular files are skipped. Memory stays \
            near --concurrency x --block-concurrency x --block-size-mi-b for large files. Ctrl-C stops the \
            transfers and says which files went up; a blob changes only when its file's upload completes.
            """)

    @OptionGroup var account: BlobAccountOptions
    @Argument(help: "The directory to upload.") var directory: String
    @Option(help: "The container.") var container: String
    @Option(help: "Prepended to each relative path to name the blob (e.g. 'backups/2026/').") var prefix = ""
    @Option(help: "Files in flight at once.") var concurrency: Int = 8
    @Option(help: "Blocks in flight at once within one large file.") var blockConcurrency: Int = 4
    @Option(help: "Block size in MiB for large files.") var blockSizeMiB: Int = 8

    func validate() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(directory) is not a directory")
        }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard blockConcurrency >= 1 else { throw ValidationError("--block-concurrency must be at least 1") }
        guard (1...4000).contains(blockSizeMiB) else { throw ValidationError("--block-size-mi-b must be 1-4000, not \(blockSizeMiB)") }
    }

    func run() async throws {
        let client = try await account.service().containerClient(container)
        let files = try LocalTree.regularFiles(under: directory)
        let total = files.reduce(0) { $0 + $1.size }
        let bar = ProgressBar("uploading", total: total, enabled: !account.json && FileHandleOutput.standardErrorIsTerminal)
        let done = Atomic<Int>(0)
        var options = BlobUploadOptions()
        options.blockSize = blockSizeMiB << 20
        options.concurrency = blockConcurrency
        let baseOptions = options
        let prefix = self.prefix
        let container = self.container
        let started = Date()
        @Sendable func upload(_ file: LocalTree.File) async throws {
            let blobName = prefix + file.relativePath
            var fileOptions = baseOptions
            let reported = Mutex<Int64>(0)
            fileOptions.progress = { sent in
                let delta = reported.withLock { last in
                    defer { last = sent }
                    return Int(sent - last)
                }
                bar.update(done.add(delta, ordering: .relaxed).newValue)
            }
            do {
                try await client.blobClient(blobName).upload(fileAt: file.path, options: fileOptions)
            } catch {
                throw TransferFailure(what: "uploading \(file.path) to \(container)/\(blobName)", underlying: error)
            }
        }
        let finished = Mutex<(files: Int, bytes: Int64)>((0, 0))
        do {
            try await forEach(files, concurrency: concurrency) { file in
                try Task.checkCancellation()
                try await upload(file)
                finished.withLock { $0 = ($0.files + 1, $0.bytes + Int64(file.size)) }
            }
        } catch where Task.isCancelled {
            let (count, bytes) = finished.withLock { $0 }
            throw TransferInterrupted(
                done: "uploaded \(count) of \(plural(files.count, "file")) (\(formatBytes(bytes)) of \(formatBytes(Int64(total)))) to \(container)/\(prefix)",
                notDone: count < files.count
                    ? "the other \(files.count - count) were not uploaded (a blob changes only when its file's upload completes)" : nil)
        }
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        let summary = DirectoryTransferSummary(container: container, prefix: prefix, files: files.count, bytes: total, seconds: seconds)
        if account.json { try printJSON(summary) } else { print("uploaded \(directory) to \(container)/\(prefix): \(summary.text)") }
    }
}

/// `kumo blob download-prefix`: every blob under a prefix, into a directory.
struct BlobDownloadPrefix: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download-prefix",
        abstract: "Download every blob whose name starts with a prefix into a directory, several at once.",
        discussion: """
            The blob <prefix><rest> is written to DIR/<rest>, creating directories for each '/' in <rest> and \
            replacing existing files. Each blob is checked against its stored MD5. Names ending in '/' \
            (directory markers) are skipped; a name that would leave DIR (a '..' segment) is an error. Each blob \
            arrives under a hidden temporary name (.<name>.kumo-partial-<random>) and takes its own name only when \
            complete and checked, so a file never looks complete when it is not; Ctrl-C stops the transfers, \
            removes the partial files and says which blobs arrived.
            """)

    @OptionGroup var account: BlobAccountOptions
    @Option(help: "The container.") var container: String
    @Option(help: "Only blobs whose names start with this; it is removed from each file's path.") var prefix = ""
    @Option(help: "The directory to write into (created if missing).") var to: String
    @Option(help: "Blobs in flight at once.") var concurrency: Int = 8
    @Option(help: "Ranges in flight at once within one large blob.") var blockConcurrency: Int = 4
    @Option(help: "Range size in MiB for large blobs.") var chunkSizeMiB: Int = 8

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard blockConcurrency >= 1 else { throw ValidationError("--block-concurrency must be at least 1") }
        guard chunkSizeMiB >= 1 else { throw ValidationError("--chunk-size-mi-b must be at least 1") }
    }

    func run() async throws {
        let client = try await account.service().containerClient(container)
        var blobs: [(name: String, relativePath: String, size: Int)] = []
        var listed: [BlobItem] = []
        do {
            for try await blob in client.listBlobs(prefix: prefix.isEmpty ? nil : prefix) { listed.append(blob) }
        } catch {
            throw TransferFailure(what: "listing \(container)/\(prefix)", underlying: error)
        }
        for blob in listed {
            let relative = String(blob.name.dropFirst(prefix.count))
            if relative.isEmpty || relative.hasSuffix("/") { continue }
            let segments = relative.split(separator: "/", omittingEmptySubsequences: false)
            if relative.hasPrefix("/") || segments.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }) {
                throw BlobNameOutsideDirectory(blob: "\(container)/\(blob.name)", directory: to)
            }
            blobs.append((blob.name, relative, Int(blob.properties.contentLength)))
        }
        let root = URL(fileURLWithPath: to, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            for directory in Set(blobs.map { URL(fileURLWithPath: $0.relativePath, relativeTo: root).deletingLastPathComponent().path }) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        } catch {
            throw TransferFailure(what: "creating directories under \(to)", underlying: error)
        }
        let total = blobs.reduce(0) { $0 + $1.size }
        let bar = ProgressBar("downloading", total: total, enabled: !account.json && FileHandleOutput.standardErrorIsTerminal)
        let done = Atomic<Int>(0)
        var options = BlobDownloadOptions()
        options.chunkSize = chunkSizeMiB << 20
        options.concurrency = blockConcurrency
        let baseOptions = options
        let container = self.container
        let started = Date()
        let bytes = Atomic<Int>(0)
        @Sendable func download(_ blob: (name: String, relativePath: String, size: Int)) async throws {
            let path = root.appendingPathComponent(blob.relativePath).path
            var blobOptions = baseOptions
            let reported = Mutex<Int64>(0)
            blobOptions.progress = { received in
                let delta = reported.withLock { last in
                    defer { last = received }
                    return Int(received - last)
                }
                bar.update(done.add(delta, ordering: .relaxed).newValue)
            }
            let partial = PartialFile(finalPath: path)
            do {
                let properties = try await client.blobClient(blob.name).download(toFile: partial.path, options: blobOptions)
                try partial.complete()
                bytes.add(Int(properties.contentLength), ordering: .relaxed)
            } catch {
                partial.discard()
                throw TransferFailure(what: "downloading \(container)/\(blob.name) to \(path)", underlying: error)
            }
        }
        let finished = Atomic<Int>(0)
        do {
            try await forEach(blobs, concurrency: concurrency) { blob in
                try Task.checkCancellation()
                try await download(blob)
                finished.add(1, ordering: .relaxed)
            }
        } catch where Task.isCancelled {
            let count = finished.load(ordering: .relaxed)
            throw TransferInterrupted(
                done: "downloaded \(count) of \(plural(blobs.count, "blob")) (\(formatBytes(Int64(bytes.load(ordering: .relaxed)))) of \(formatBytes(Int64(total)))) to \(to)",
                notDone: count < blobs.count
                    ? "the other \(blobs.count - count) were not downloaded, and their partial files were removed" : nil)
        }
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        let summary = DirectoryTransferSummary(
            container: container, prefix: prefix, files: blobs.count, bytes: bytes.load(ordering: .relaxed), seconds: seconds)
        if account.json { try printJSON(summary) } else { print("downloaded \(container)/\(prefix) to \(to): \(summary.text)") }
    }
}

/// What `upload-dir` and `download-prefix` print with `--json`.
struct DirectoryTransferSummary: Encodable {
    var container: String
    var prefix: String
    var files: Int
    var bytes: Int
    var seconds: Double

    var text: String {
        String(
            format: "%d files, %d bytes in %.2f s (%.1f MB/s, %.0f files/s)", files, bytes, seconds,
            Double(bytes) / max(seconds, 1e-6) / 1e6, Double(files) / max(seconds, 1e-6))
    }
}

/// A file being downloaded: written under a hidden name beside its final one, and renamed into place only when
/// complete and checked, so an interrupted or failed download never leaves a file that looks complete, nor
/// replaces a good one with part of a new one.
struct PartialFile {
    let finalPath: String
    let path: String

    init(finalPath: String) {
        self.finalPath = finalPath
        let directory = (finalPath as NSString).deletingLastPathComponent
        let name = (finalPath as NSString).lastPathComponent
        path = (directory as NSString).appendingPathComponent(".\(name).kumo-partial-\(UUID().uuidString.prefix(8).lowercased())")
    }

    func complete() throws {
        guard rename(path, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            throw TransferFailure(what: "moving \(path) to \(finalPath)", underlying: CommandFailure(.checkFailed, reason))
        }
    }

    /// Removes the partial file; there is none when the download failed before creating it.
    func discard() {
        if unlink(path) != 0, errno != ENOENT {
            printError("kumo: could not remove the partial download \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// Transfers of a directory or prefix stopped by Ctrl-C or SIGTERM: what went across and what did not.
struct TransferInterrupted: Error, CustomStringConvertible {
    var done: String
    var notDone: String?
    var description: String { "interrupted: " + ([done] + (notDone.map { [$0] } ?? [])).joined(separator: "; ") }
}

/// A failed transfer of one file or blob, naming it.
struct TransferFailure: Error, CustomStringConvertible {
    var what: String
    var underlying: any Error
    var description: String { "\(what) failed: \(underlying)" }
}

/// A blob whose name would write outside the target directory (or to a path that is not a file).
struct BlobNameOutsideDirectory: Error, CustomStringConvertible {
    var blob: String
    var directory: String
    var description: String {
        "blob \(blob) cannot be written under \(directory): its name has an empty, '.' or '..' segment; nothing was downloaded"
    }
}

/// Regular files under a directory, with their paths relative to it.
enum LocalTree {
    struct File: Sendable {
        var path: String
        var relativePath: String
        var size: Int
    }

    /// Every regular file under `root` (symbolic links are not followed), sorted by relative path.
    static func regularFiles(under root: String) throws -> [File] {
        let base = URL(fileURLWithPath: root, isDirectory: true).standardizedFileURL
        let keys: [URLResourceKey] = [.isRegularFileKey, .isSymbolicLinkKey, .fileSizeKey]
        var failure: (any Error)?
        guard
            let enumerator = FileManager.default.enumerator(
                at: base, includingPropertiesForKeys: keys, options: [],
                errorHandler: { url, error in
                    failure = TransferFailure(what: "reading \(url.path)", underlying: error)
                    return false
                })
        else { throw ValidationError("cannot read \(root)") }
        var files: [File] = []
        let basePath = base.path.hasSuffix("/") ? base.path : base.path + "/"
        for case let url as URL in enumerator {
            let values = try url.resourceValues(forKeys: Set(keys))
            guard values.isRegularFile == true, values.isSymbolicLink != true else { continue }
            let path = url.standardizedFileURL.path
            guard path.hasPrefix(basePath) else { continue }
            files.append(File(path: path, relativePath: String(path.dropFirst(basePath.count)), size: values.fileSize ?? 0))
        }
        if let failure { throw failure }
        return files.sorted { $0.relativePath < $1.relativePath }
    }
}

/// Runs `body` for every element with at most `concurrency` running at once; the first error cancels the rest.
func forEach<Element: Sendable>(
    _ elements: [Element], concurrency: Int, _ body: @escaping @Sendable (Element) async throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        while next < min(concurrency, elements.count) {
            let element = elements[next]
            group.addTask { try await body(element) }
            next += 1
        }
        while try await group.next() != nil {
            if next < elements.count {
                let element = elements[next]
                group.addTask { try await body(element) }
                next += 1
            }
        }
    }
}
