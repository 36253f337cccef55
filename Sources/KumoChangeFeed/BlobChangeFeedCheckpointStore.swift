import AzureCore
import AzureStorageBlobs
import Foundation

/// A checkpoint in a block blob, every write conditional on the ETag this feed last saw. The record names its
/// holder and when it was written; a feed writes it at least every heartbeat, so a second feed finds it fresh and
/// refuses, naming the holder. A holder that stopped writing for `staleAfter` (crashed, its host gone) can be taken
/// over; the same holder (same host and store path) takes its own checkpoint back at once after a crash.
public actor BlobChangeFeedCheckpointStore: ChangeFeedCheckpointStore {
    public let blob: BlobClient
    public nonisolated let location: String
    /// The ETag of the record as this feed last read or wrote it; `nil` before the claim or when there is none.
    private var etag: String?
    private var claimed = false

    /// - Parameters:
    ///   - blob: The checkpoint blob; its container must exist.
    ///   - location: How messages name it (`azure://container/path`), without any SAS.
    public init(blob: BlobClient, location: String) {
        self.blob = blob
        self.location = Redaction.redact(location)
    }

    public func claim(holder: String, staleAfter: Duration, takeOver: Bool) async throws -> ChangeFeedCheckpoint? {
        let (current, currentETag) = try await readWithETag()
        if let current, current.holder != holder, !takeOver {
            let age = Date().timeIntervalSince(current.updated)
            if age < Double(staleAfter.components.seconds) {
                throw ChangeFeedError(
                    .checkpointHeld,
                    "checkpoint \(location) is held by \(current.holder) (pid \(current.processID)), written \(Int(age)) s ago; one feed per store. Stop that feed, wait \(staleAfter.components.seconds) s after it stops, or take over with --take-over",
                    holder: current.holder)
            }
        }
        // Write ourselves in as the holder, conditionally, so that of two feeds claiming at once exactly one wins.
        if var record = current {
            record.holder = holder
            record.processID = ProcessInfo.processInfo.processIdentifier
            record.updated = Date()
            etag = currentETag
            try await write(record, conditions: BlobRequestConditions(ifMatch: currentETag))
            claimed = true
            return current
        }
        etag = nil
        claimed = true
        return nil
    }

    public func read() async throws -> ChangeFeedCheckpoint? { try await readWithETag().0 }

    private func readWithETag() async throws -> (ChangeFeedCheckpoint?, String?) {
        for _ in 0..<5 {
            let properties: BlobProperties
            do {
                properties = try await blob.properties()
            } catch let error as AzureError where error.statusCode == 404 {
                return (nil, nil)
            } catch {
                throw ChangeFeedError(.checkpointIO, "cannot read checkpoint \(location): \(error)")
            }
            var options = BlobDownloadOptions()
            options.conditions = BlobRequestConditions(ifMatch: properties.etag)
            do {
                let bytes = try await blob.download(options: options)
                return (try ChangeFeedCheckpoint.decode(bytes, location: location), properties.etag)
            } catch let error as AzureError where error.statusCode == 412 || error.statusCode == 404 {
                continue  // written or deleted between the two requests: read again
            } catch let error as ChangeFeedError {
                throw error
            } catch {
                throw ChangeFeedError(.checkpointIO, "cannot read checkpoint \(location): \(error)")
            }
        }
        throw ChangeFeedError(.checkpointIO, "checkpoint \(location) changed on every read (another feed writing it?)")
    }

    public func save(_ checkpoint: ChangeFeedCheckpoint) async throws {
        guard claimed else {
            throw ChangeFeedError(.checkpointLost, "checkpoint \(location) is not held by this feed (claim it first)")
        }
        let conditions = etag.map { BlobRequestConditions(ifMatch: $0) } ?? .ifNotExists
        try await write(checkpoint, conditions: conditions)
    }

    private func write(_ checkpoint: ChangeFeedCheckpoint, conditions: BlobRequestConditions) async throws {
        var options = BlobUploadOptions()
        options.conditions = conditions
        options.httpHeaders.contentType = "application/json"
        do {
            etag = try await blob.upload(checkpoint.encoded(), options: options).etag
        } catch let error as AzureError where error.statusCode == 412 || error.statusCode == 409 {
            claimed = false
            let holder = (try? await readWithETag().0)?.holder ?? "another feed"
            throw ChangeFeedError(
                .checkpointLost, "checkpoint \(location) was taken over by \(holder); this feed stopped without writing it",
                holder: holder)
        } catch {
            throw ChangeFeedError(.checkpointIO, "cannot write checkpoint \(location): \(error)")
        }
    }

    public func release() async { claimed = false }
}
