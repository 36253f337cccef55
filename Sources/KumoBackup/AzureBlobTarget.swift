import AzureCore
import AzureStorageBlobs
import Crypto
import Foundation
import Logging

/// Backups in an Azure Blob Storage container, below a prefix.
public struct AzureBlobTarget: BackupTarget {
    public let container: BlobContainerClient
    /// Prepended to every path (empty, or ending in `/`).
    public let prefix: String
    let transferOptions: (upload: BlobUploadOptions, download: BlobDownloadOptions)
    /// How long to wait for another backup's lock before failing with `.locked`.
    public var lockTimeout: Duration
    /// How often the lock's 15-second lease is renewed while an operation holds it.
    public var leaseRenewalInterval: Duration = .seconds(5)
    /// Where a wait for another run's lock is reported, at warning level: once when it starts, then every
    /// 10 seconds, naming the holder.
    public var logger = Logger(label: "kumo.backup")

    public init(container: BlobContainerClient, prefix: String, lockTimeout: Duration = .seconds(30)) {
        self.lockTimeout = lockTimeout
        self.container = container
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        transferOptions = (BlobUploadOptions(), BlobDownloadOptions())
    }

    public var description: String {
        Redaction.redact(container.url.string + (prefix.isEmpty ? "" : "/" + prefix))
    }

    private func blob(_ path: String) -> BlobClient { container.blobClient(prefix + path) }

    public func upload(file localPath: String, to path: String) async throws -> [UInt8]? {
        try await blob(path).upload(fileAt: localPath, options: transferOptions.upload).blobContentMD5
    }

    public func upload(encrypting localPath: String, key: Data, to path: String) async throws -> [UInt8]? {
        let encryptor = try EncryptedFileFormat.Encryptor(file: localPath, key: SymmetricKey(data: key))
        return try await blob(path).upload(streaming: encryptor.next, options: transferOptions.upload).blobContentMD5
    }

    public func write(_ data: [UInt8], to path: String, createOnly: Bool) async throws {
        var options = transferOptions.upload
        if createOnly { options.conditions = .ifNotExists }
        do {
            try await blob(path).upload(data, options: options)
        } catch let error as AzureError where error.errorCode == "BlobAlreadyExists" {
            throw BackupError(.locked, "\(path) already exists in \(description)")
        }
    }

    /// Checks the blob's size before anything is downloaded, then pins the download to the ETag it saw, so
    /// the bytes that arrive are the ones whose size was checked.
    public func download(_ path: String, to localPath: String, expectedSize: Int64) async throws {
        let properties = try await storedProperties(path, missing: .corrupt)
        guard properties.contentLength == expectedSize else {
            throw BackupError(.corrupt, "\(path) has \(properties.contentLength) bytes, the manifest says \(expectedSize)")
        }
        var options = transferOptions.download
        options.conditions.ifMatch = properties.etag
        do {
            try await blob(path).download(toFile: localPath, options: options)
        } catch let error as AzureError where error.statusCode == 412 || error.statusCode == 404 {
            throw BackupError(.corrupt, "\(path) in \(description) changed while it was downloaded")
        }
    }

    public func read(_ path: String, limit: Int) async throws -> [UInt8] {
        let properties = try await storedProperties(path, missing: .notFound)
        guard properties.contentLength <= Int64(limit) else {
            throw BackupError(.corrupt, "\(path) has \(properties.contentLength) bytes; at most \(limit) are read")
        }
        var options = transferOptions.download
        options.conditions.ifMatch = properties.etag
        do {
            return try await blob(path).download(options: options)
        } catch let error as AzureError where error.statusCode == 412 || error.statusCode == 404 {
            throw BackupError(.corrupt, "\(path) in \(description) changed while it was read")
        }
    }

    private func storedProperties(_ path: String, missing: BackupError.Code) async throws -> BlobProperties {
        do {
            return try await blob(path).properties()
        } catch let error as AzureError where error.statusCode == 404 {
            throw BackupError(missing, "\(path) is missing from \(description)")
        }
    }

    public func size(of path: String) async throws -> Int64? {
        do {
            return try await blob(path).properties().contentLength
        } catch let error as AzureError where error.statusCode == 404 {
            return nil
        }
    }

    public func list(prefix listPrefix: String) async throws -> [StoredObject] {
        var objects: [StoredObject] = []
        for try await item in container.listBlobs(prefix: prefix + listPrefix) {
            objects.append(StoredObject(
                path: String(item.name.dropFirst(prefix.count)), size: item.properties.contentLength,
                lastModified: item.properties.lastModified, contentMD5: item.properties.httpHeaders.contentMD5))
        }
        return objects
    }

    public func delete(_ path: String) async throws {
        try await blob(path).deleteIfExists()
    }

    /// A blob lease is the lock. It lasts 15 seconds (Azure's shortest) and is renewed every 5 while `body`
    /// runs, so a process that dies holding it frees the target within 15 seconds. A held lock is waited for
    /// up to `lockTimeout`, which covers a lease left behind by a killed run; the wait is logged, naming the
    /// holder that the lock blob's metadata records (host, pid, command, start).
    public func withLock<T: Sendable>(_ path: String, _ body: @Sendable () async throws -> T) async throws -> T {
        let lockBlob = blob(path)
        if try await !lockBlob.exists() {
            var options = transferOptions.upload
            options.conditions = .ifNotExists
            do { try await lockBlob.upload([], options: options) } catch let error as AzureError where error.statusCode == 409 || error.statusCode == 412 {}
        }
        let lease = lockBlob.leaseClient()
        let waitStarted = ContinuousClock.now
        var nextReport = waitStarted
        while true {
            do {
                try await lease.acquire(seconds: 15)
                break
            } catch let error as AzureError where error.errorCode == "LeaseAlreadyPresent" {
                let now = ContinuousClock.now
                guard now - waitStarted < lockTimeout else {
                    let holder = await currentHolder(of: lockBlob)
                    throw BackupError(
                        .locked,
                        "another backup of \(description) is running: \(path) is locked by \(holder); gave up after "
                            + "waiting \(LockHolder.spoken(lockTimeout))")
                }
                if now >= nextReport {
                    let holder = await currentHolder(of: lockBlob)
                    let latest = HTTPDateFormat.iso8601(Date().addingTimeInterval(15))
                    let giveUp = HTTPDateFormat.iso8601(Date().addingTimeInterval((lockTimeout - (now - waitStarted)).seconds))
                    let line = "waiting for the lock of \(description): \(path) is held by \(holder), until at most "
                        + "\(latest) if its holder stopped renewing; giving up at \(giveUp)"
                    logger.warning("\(line)")
                    nextReport = now + .seconds(10)
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
        do {
            try await lockBlob.setMetadata(
                LockHolder.current().metadata, conditions: BlobRequestConditions(leaseID: lease.leaseID))
        } catch {
            // The record only names the holder to runs that wait; the lease alone is the lock.
            logger.warning("could not record this run as the holder of \(path) in \(description): \(error)")
        }
        let renewalInterval = leaseRenewalInterval
        let description = self.description
        do {
            let result = try await withoutActuallyEscaping(body) { body in
                try await withThrowingTaskGroup(of: T?.self) { group in
                    group.addTask { try await body() }
                    // The lease is renewed beside the work it protects: a failed renewal ends the group, which
                    // cancels the work, so nothing runs on without the lock.
                    group.addTask {
                        var lastRenewed = ContinuousClock.now
                        while true {
                            try await Task.sleep(for: renewalInterval)
                            do {
                                try await lease.renew()
                                lastRenewed = ContinuousClock.now
                            } catch let error as AzureError {
                                let held = ContinuousClock.now - lastRenewed
                                throw BackupError(.lockLost, "lost the lease on \(path) in \(description) (renewal failed \(held.formatted(.units(allowed: [.seconds], width: .narrow))) after the last one: \(error)); the operation was stopped and may be incomplete")
                            }
                        }
                    }
                    while let next = try await group.next() {
                        if let value = next {
                            group.cancelAll()
                            return value
                        }
                    }
                    throw CancellationError()
                }
            }
            try? await lease.release()
            return result
        } catch {
            try? await lease.release()
            throw error
        }
    }

    /// Who the lock blob says holds it, for messages; a read that fails says so instead of failing the wait.
    private func currentHolder(of lockBlob: BlobClient) async -> String {
        do {
            let properties = try await lockBlob.properties()
            return LockHolder(metadata: properties.metadata)?.description
                ?? "a run that recorded no holder (an older Kumo, or a lease taken by hand)"
        } catch {
            return "an unknown holder (its record could not be read: \(error))"
        }
    }
}

// MARK: - Lock holders

/// Who holds a target's lock, as the holder recorded it when it took the lock: in the lock blob's metadata
/// (`kumoholderhost`, `kumoholderpid`, `kumoholdercommand`, `kumoholderstarted`) or in the lock file.
struct LockHolder: Sendable, Equatable, CustomStringConvertible {
    var host: String
    var pid: String
    var command: String
    /// ISO 8601, UTC.
    var started: String

    /// This process, taking a lock now.
    static func current() -> LockHolder {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(decoding: name.prefix { $0 != 0 }.map(UInt8.init), as: UTF8.self) : "?"
        return LockHolder(
            host: host, pid: String(getpid()), command: commandWords(CommandLine.arguments),
            started: HTTPDateFormat.iso8601(Date()))
    }

    /// The program and its subcommands (`kumo backup create`), without options or their values, which can
    /// carry secrets (a SAS URL, a connection string) and would land in metadata that every reader sees.
    static func commandWords(_ arguments: [String]) -> String {
        guard let program = arguments.first else { return "?" }
        var words = [URL(fileURLWithPath: program).lastPathComponent]
        for argument in arguments.dropFirst().prefix(3) {
            guard !argument.hasPrefix("-"), !argument.isEmpty,
                argument.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") })
            else { break }
            words.append(argument)
        }
        return words.joined(separator: " ")
    }

    var metadata: [String: String] {
        [
            "kumoholderhost": Self.printable(host), "kumoholderpid": Self.printable(pid),
            "kumoholdercommand": Self.printable(command), "kumoholderstarted": Self.printable(started),
        ]
    }

    init(host: String, pid: String, command: String, started: String) {
        self.host = host
        self.pid = pid
        self.command = command
        self.started = started
    }

    init?(metadata: [String: String]) {
        let lowercased = Dictionary(metadata.map { ($0.key.lowercased(), $0.value) }) { first, _ in first }
        guard let host = lowercased["kumoholderhost"], let pid = lowercased["kumoholderpid"] else { return nil }
        self.init(
            host: host, pid: pid, command: lowercased["kumoholdercommand"] ?? "?",
            started: lowercased["kumoholderstarted"] ?? "?")
    }

    /// `kumo backup create (pid 4242 on backup-7, since 2026-12-04T03:00:00Z)`
    var description: String {
        Redaction.redact("\(Self.printable(command)) (pid \(Self.printable(pid)) on \(Self.printable(host)), since \(Self.printable(started)))")
    }

    /// Metadata travels in HTTP headers and the record is read back into messages: printable ASCII only.
    static func printable(_ text: String) -> String {
        String(text.prefix(200).map { $0.isASCII && !$0.isNewline && ($0 == " " || $0.isPunctuation || $0.isSymbol || $0.isLetter || $0.isNumber) ? $0 : "?" })
    }

    /// "30 s", "2 min"
    static func spoken(_ duration: Duration) -> String {
        let seconds = duration.seconds
        if seconds >= 120 { return "\(Int((seconds / 60).rounded())) min" }
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
