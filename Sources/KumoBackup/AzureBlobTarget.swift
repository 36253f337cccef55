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

    public func upload(file localPath: String, to path: String) async throws {
        try await blob(path).upload(fileAt: localPath, options: transferOptions.upload)
    }

    public func upload(encrypting localPath: String, key: Data, to path: String) async throws {
        let encryptor = try EncryptedFileFormat.Encryptor(file: localPath, key: SymmetricKey(data: key))
        try await blob(path).upload(streaming: encryptor.next, options: transferOptions.upload)
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

    public func download(_ path: String, to localPath: String) async throws {
        do {
            try await blob(path).download(toFile: localPath, options: transferOptions.download)
        } catch let error as AzureError where error.errorCode == "BlobNotFound" {
            throw BackupError(.corrupt, "\(path) is missing from \(description)")
        }
    }

    public func read(_ path: String) async throws -> [UInt8] {
        do {
            return try await blob(path).download()
        } catch let error as AzureError where error.errorCode == "BlobNotFound" {
            throw BackupError(.notFound, "\(path) is missing from \(description)")
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
            objects.append(StoredObject(path: String(item.name.dropFirst(prefix.count)), size: item.properties.contentLength))
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
        let renewal = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(5))
                try await lease.renew()
            }
        }
        do {
            let result = try await body()
            renewal.cancel()
            try? await lease.release()
            return result
        } catch {
            renewal.cancel()
            try? await lease.release()
            throw error
        }
    }
}
