import Crypto
import AzureCore
import AzureStorageBlobs
import Foundation

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
    /// up to `lockTimeout`, which covers a lease left behind by a killed run.
    public func withLock<T: Sendable>(_ path: String, _ body: @Sendable () async throws -> T) async throws -> T {
        let lockBlob = blob(path)
        if try await !lockBlob.exists() {
            var options = transferOptions.upload
            options.conditions = .ifNotExists
            do { try await lockBlob.upload([], options: options) } catch let error as AzureError where error.statusCode == 409 || error.statusCode == 412 {}
        }
        let lease = lockBlob.leaseClient()
        let deadline = ContinuousClock.now + lockTimeout
        while true {
            do {
                try await lease.acquire(seconds: 15)
                break
            } catch let error as AzureError where error.errorCode == "LeaseAlreadyPresent" {
                guard ContinuousClock.now < deadline else {
                    throw BackupError(.locked, "another backup of \(description) is running (its lease on \(path) is active)")
                }
                try await Task.sleep(for: .seconds(1))
            }
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
}
