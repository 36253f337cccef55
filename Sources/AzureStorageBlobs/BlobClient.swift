import AzureChecksums
import AzureCore
import Crypto
import Foundation
import NIOCore

/// How uploads split and parallelise.
public struct BlobUploadOptions: Sendable {
    /// Content up to this size goes in one Put Blob request; larger content is staged in blocks.
    /// Never above 256 MiB, so large files are always split.
    public var singleUploadThreshold: Int = 32 << 20
    /// Size of each staged block.
    public var blockSize: Int = 8 << 20
    /// Blocks in flight at once; memory use stays near `concurrency × blockSize`.
    public var concurrency: Int = 8
    public var httpHeaders = BlobHTTPHeaders()
    public var metadata: [String: String] = [:]
    public var conditions = BlobRequestConditions()
    /// Called with the bytes sent so far.
    public var progress: (@Sendable (Int64) -> Void)?

    public init() {}

    func validated() throws -> BlobUploadOptions {
        guard blockSize > 0, blockSize <= 4000 << 20 else {
            throw AzureError(.invalidArgument, "blockSize must be between 1 byte and 4000 MiB, not \(blockSize)")
        }
        guard concurrency > 0 else { throw AzureError(.invalidArgument, "concurrency must be at least 1, not \(concurrency)") }
        var copy = self
        copy.singleUploadThreshold = min(max(singleUploadThreshold, 0), 256 << 20)
        return copy
    }
}

/// How downloads split and parallelise.
public struct BlobDownloadOptions: Sendable {
    /// Size of each ranged GET.
    public var chunkSize: Int = 8 << 20
    public var concurrency: Int = 8
    /// Check the downloaded bytes against the blob's stored MD5, when it has one.
    public var validateMD5 = true
    public var conditions = BlobRequestConditions()
    public var progress: (@Sendable (Int64) -> Void)?

    public init() {}
}

/// One blob: upload, download, properties, metadata, blocks, delete, leases.
public struct BlobClient: Sendable {
    public let url: RequestURL
    public let containerName: String
    public let name: String
    let pipeline: BlobPipeline

    init(url: RequestURL, containerName: String, name: String, pipeline: BlobPipeline) {
        self.url = url
        self.containerName = containerName
        self.name = name
        self.pipeline = pipeline
    }

    /// The same blob addressed at one version (accounts with versioning).
    public func withVersion(_ versionID: String) -> BlobClient {
        var url = self.url
        url.setQuery("versionid", versionID)
        return BlobClient(url: url, containerName: containerName, name: name, pipeline: pipeline)
    }

    public func leaseClient(leaseID: String? = nil) -> BlobLeaseClient {
        BlobLeaseClient(url: url, isContainer: false, leaseID: leaseID ?? UUID().uuidString.lowercased(), pipeline: pipeline)
    }

    private func url(comp: String?, _ extra: [(String, String)] = []) -> RequestURL {
        var url = self.url
        url.setQuery("comp", comp)
        for (name, value) in extra { url.setQuery(name, value) }
        return url
    }

    // MARK: Upload

    /// Uploads `data` as the blob's whole content, replacing any existing content unless conditions say not.
    @discardableResult
    public func upload(_ data: [UInt8], options: BlobUploadOptions = BlobUploadOptions()) async throws -> BlobWriteResult {
        let options = try options.validated()
        if data.count <= options.singleUploadThreshold {
            let result = try await putBlob(ByteBuffer(bytes: data), options: options)
            options.progress?(Int64(data.count))
            return result
        }
        var offset = 0
        return try await uploadInBlocks(options: options) {
            guard offset < data.count else { return nil }
            let end = min(offset + options.blockSize, data.count)
            defer { offset = end }
            return ByteBuffer(bytes: data[offset..<end])
        }
    }

    /// Uploads the file at `path`, in blocks when it is larger than the single-upload threshold. The file is
    /// read one block at a time, so memory stays bounded whatever its size.
    @discardableResult
    public func upload(fileAt path: String, options: BlobUploadOptions = BlobUploadOptions()) async throws -> BlobWriteResult {
        let options = try options.validated()
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw AzureError(.invalidArgument, "cannot read \(path): no such file or no permission")
        }
        defer { try? handle.close() }
        let size = Int((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0)
        // Each block is read straight into the buffer that is sent, with no intermediate `Data`.
        func readBlock(upTo count: Int, capacity: Int) throws -> ByteBuffer {
            var buffer = ByteBufferAllocator().buffer(capacity: capacity)
            while buffer.readableBytes < count {
                let wanted = min(count - buffer.readableBytes, max(buffer.writableBytes, 1 << 20))
                let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { pointer in
                    let result = Foundation.read(handle.fileDescriptor, pointer.baseAddress!, wanted)
                    guard result >= 0 else { throw AzureError(.invalidArgument, "reading \(path) failed (errno \(errno))") }
                    return result
                }
                if read == 0 { break }
            }
            return buffer
        }
        if size <= options.singleUploadThreshold {
            let body = try readBlock(upTo: .max, capacity: size + 1)
            let result = try await putBlob(body, options: options)
            options.progress?(Int64(body.readableBytes))
            return result
        }
        return try await uploadInBlocks(options: options) {
            let block = try readBlock(upTo: options.blockSize, capacity: options.blockSize)
            return block.readableBytes == 0 ? nil : block
        }
    }

    /// Uploads content that exists only as a stream (encrypted or compressed on the fly, say): `nextChunk` returns
    /// the bytes in order, in pieces of any size, and nil at the end. Pieces are regrouped into blocks of
    /// `options.blockSize` staged with at most `options.concurrency` in flight, so memory stays bounded and no
    /// temporary file is needed. Content no larger than one block goes up in a single request.
    @discardableResult
    public func upload(streaming nextChunk: () throws -> [UInt8]?, options: BlobUploadOptions = BlobUploadOptions()) async throws
        -> BlobWriteResult
    {
        let options = try options.validated()
        var pending: [UInt8] = []
        var finished = false
        // Reading past a full block means the end of the stream is known as soon as a block is cut, which
        // decides between a single Put Blob and staged blocks.
        func nextBlock() throws -> ByteBuffer? {
            while !finished && pending.count <= options.blockSize {
                if let piece = try nextChunk() { pending.append(contentsOf: piece) } else { finished = true }
            }
            guard !pending.isEmpty else { return nil }
            let count = min(options.blockSize, pending.count)
            let block = ByteBuffer(bytes: pending[0..<count])
            pending.removeFirst(count)
            return block
        }
        guard let first = try nextBlock() else {
            return try await putBlob(ByteBuffer(), options: options)
        }
        if finished && pending.isEmpty {
            let result = try await putBlob(first, options: options)
            options.progress?(Int64(first.readableBytes))
            return result
        }
        var head: ByteBuffer? = first
        return try await uploadInBlocks(options: options) {
            if let block = head {
                head = nil
                return block
            }
            return try nextBlock()
        }
    }

    private func putBlob(_ body: ByteBuffer, options: BlobUploadOptions) async throws -> BlobWriteResult {
        var headers = HTTPHeaderFields()
        headers["x-ms-blob-type"] = "BlockBlob"
        let md5 = Data(Self.md5(body)).base64EncodedString()
        headers["Content-MD5"] = md5
        var httpHeaders = options.httpHeaders
        if httpHeaders.contentMD5 == nil { httpHeaders.contentMD5 = Array(Data(base64Encoded: md5)!) }
        httpHeaders.apply(to: &headers)
        for (key, value) in options.metadata { headers["x-ms-meta-\(key)"] = value }
        options.conditions.apply(to: &headers)
        let response = try await pipeline.send(.put, url, headers: headers, body: body, expected: [201])
        var result = BlobWriteResult(headers: response.headers)
        result.blobContentMD5 = httpHeaders.contentMD5
        return result
    }

    /// Stages blocks from `nextBlock` with at most `concurrency` in flight, then commits them in order with
    /// the MD5 of the whole content.
    private func uploadInBlocks(
        options: BlobUploadOptions, nextBlock: () throws -> ByteBuffer?
    ) async throws -> BlobWriteResult {
        var wholeMD5 = Insecure.MD5()
        var ids: [String] = []
        var sent: Int64 = 0
        try await withThrowingTaskGroup(of: Int.self) { group in
            var inFlight = 0
            while true {
                // Wait for a free slot before reading the next block, so at most `concurrency` blocks are in memory.
                if inFlight == options.concurrency {
                    sent += Int64(try await group.next() ?? 0)
                    options.progress?(sent)
                    inFlight -= 1
                }
                guard let block = try nextBlock() else { break }
                block.withUnsafeReadableBytes { wholeMD5.update(bufferPointer: $0) }
                let id = Self.blockID(ids.count)
                ids.append(id)
                group.addTask { try await stageBlock(id: id, data: block) }
                inFlight += 1
            }
            while let done = try await group.next() {
                sent += Int64(done)
                options.progress?(sent)
            }
        }
        var httpHeaders = options.httpHeaders
        if httpHeaders.contentMD5 == nil { httpHeaders.contentMD5 = Array(wholeMD5.finalize()) }
        var result = try await commitBlockList(ids, httpHeaders: httpHeaders, metadata: options.metadata, conditions: options.conditions)
        result.blobContentMD5 = httpHeaders.contentMD5
        return result
    }

    /// Block ids of one fixed length, as Azure requires for the blocks of a blob.
    static func blockID(_ index: Int) -> String {
        let digits = String(index)
        return Data(("kumo-block-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits).utf8)
            .base64EncodedString()
    }

    /// Stages one block (Put Block) with its CRC-64 as the transactional checksum (`x-ms-content-crc64`: the service
    /// refuses a block that arrived different, and answers the CRC of what it stored, which is checked too).
    /// Returns its size.
    @discardableResult
    public func stageBlock(id: String, data: ByteBuffer) async throws -> Int {
        var headers = HTTPHeaderFields()
        let crc = StorageCRC64.headerValue(data.withUnsafeReadableBytes { StorageCRC64.checksum($0) })
        headers["x-ms-content-crc64"] = crc
        let response = try await pipeline.send(.put, url(comp: "block", [("blockid", id)]), headers: headers, body: data, expected: [201])
        if let stored = response.headers["x-ms-content-crc64"], stored != crc {
            throw AzureError(.integrity, "block \(id) of blob \(name) was stored with CRC-64 \(stored), but \(crc) was sent", isRetriable: true)
        }
        return data.readableBytes
    }

    /// Commits `blockIDs`, in order, as the blob's content (Put Block List, each id as `Latest`).
    @discardableResult
    public func commitBlockList(
        _ blockIDs: [String], httpHeaders: BlobHTTPHeaders = BlobHTTPHeaders(), metadata: [String: String] = [:],
        conditions: BlobRequestConditions = BlobRequestConditions()
    ) async throws -> BlobWriteResult {
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
        for id in blockIDs { xml += "<Latest>\(id)</Latest>" }
        xml += "</BlockList>"
        var headers = HTTPHeaderFields()
        headers["Content-Type"] = "application/xml"
        httpHeaders.apply(to: &headers)
        for (key, value) in metadata { headers["x-ms-meta-\(key)"] = value }
        conditions.apply(to: &headers)
        let response = try await pipeline.send(.put, url(comp: "blocklist"), headers: headers, body: ByteBuffer(string: xml), expected: [201])
        return BlobWriteResult(headers: response.headers)
    }

    public enum BlockListType: String, Sendable { case committed, uncommitted, all }

    public func blockList(_ type: BlockListType = .all) async throws -> BlockList {
        let (xml, _) = try await pipeline.sendForXML(.get, url(comp: "blocklist", [("blocklisttype", type.rawValue)]))
        func blocks(_ name: String) -> [BlockInfo] {
            xml.child(name)?.children("Block").map {
                BlockInfo(id: $0.value("Name") ?? "", size: $0.value("Size").flatMap(Int64.init) ?? 0)
            } ?? []
        }
        return BlockList(committed: blocks("CommittedBlocks"), uncommitted: blocks("UncommittedBlocks"))
    }

    // MARK: Download

    /// The whole blob in memory, checked against its stored MD5.
    public func download(options: BlobDownloadOptions = BlobDownloadOptions()) async throws -> [UInt8] {
        let sink = MemorySink()
        let properties = try await download(to: sink, options: options)
        let bytes = await sink.bytes
        if options.validateMD5, let expected = properties.httpHeaders.contentMD5 {
            try Self.checkMD5(Array(Insecure.MD5.hash(data: bytes)), expected: expected, what: "blob \(name)")
        }
        return bytes
    }

    /// Bytes `[offset, offset + length)` of the blob.
    public func download(range offset: Int64, length: Int64, conditions: BlobRequestConditions = BlobRequestConditions()) async throws -> [UInt8] {
        guard offset >= 0, length > 0 else { throw AzureError(.invalidArgument, "a range needs offset >= 0 and length > 0") }
        var headers = HTTPHeaderFields()
        headers["x-ms-range"] = "bytes=\(offset)-\(offset + length - 1)"
        conditions.apply(to: &headers)
        let response = try await pipeline.send(.get, url, headers: headers, expected: [200, 206])
        let body = try await response.body.collect(upTo: Int(length) + 1)
        return Array(body.readableBytesView)
    }

    /// Downloads the blob into the file at `path` (created or truncated) with parallel ranged GETs, streaming
    /// each range to its place in the file; checks the stored MD5 afterwards.
    @discardableResult
    public func download(toFile path: String, options: BlobDownloadOptions = BlobDownloadOptions()) async throws -> BlobProperties {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw AzureError(.invalidArgument, "cannot create \(path)")
        }
        let sink = try FileSink(path: path)
        // Hash the file while later ranges are still arriving, rather than in a second pass at the end.
        let digest = options.validateMD5 ? TrailingFileMD5(sink: sink) : nil
        let properties: BlobProperties
        do {
            properties = try await download(to: sink, options: options, digest: digest)
        } catch {
            try? sink.close()
            throw error
        }
        try sink.close()
        if options.validateMD5, let expected = properties.httpHeaders.contentMD5 {
            let actual: [UInt8]
            if let digest, digest.hashedUpTo == properties.contentLength {
                actual = digest.finalize()
            } else {
                actual = try Self.md5(ofFileAt: path)
            }
            try Self.checkMD5(actual, expected: expected, what: "blob \(name) downloaded to \(path)")
        }
        return properties
    }

    private func download(to sink: some DownloadSink, options: BlobDownloadOptions, digest: TrailingFileMD5? = nil) async throws -> BlobProperties {
        guard options.chunkSize > 0, options.concurrency > 0 else {
            throw AzureError(.invalidArgument, "chunkSize and concurrency must be at least 1")
        }
        // The first range tells the size; a blob of zero bytes answers 416 to any range.
        var headers = HTTPHeaderFields()
        headers["x-ms-range"] = "bytes=0-\(options.chunkSize - 1)"
        options.conditions.apply(to: &headers)
        let first: AzureHTTPResponse
        do {
            first = try await pipeline.send(.get, url, headers: headers, expected: [200, 206])
        } catch let error as AzureError where error.statusCode == 416 {
            var plain = HTTPHeaderFields()
            options.conditions.apply(to: &plain)
            let response = try await pipeline.send(.get, url, headers: plain, expected: [200])
            _ = try await response.body.collect(upTo: 1 << 20)
            return BlobProperties(headers: response.headers)
        }
        let properties = BlobProperties(headers: first.headers)
        let total = properties.contentLength
        var written: Int64
        do {
            written = try await write(first.body, to: sink, at: 0)
        } catch where Self.isTransient(error) {
            var pinnedFirst = options.conditions
            pinnedFirst.ifMatch = properties.etag
            written = try await downloadRange(offset: 0, length: min(Int64(options.chunkSize), total), conditions: pinnedFirst, to: sink)
        }
        options.progress?(written)
        let digest = properties.httpHeaders.contentMD5 == nil ? nil : digest
        try digest?.rangeFinished(offset: 0, length: written)
        guard total > written else { return properties }
        // Later ranges must come from the same blob: pin them to the ETag the first range returned.
        var pinned = options.conditions
        pinned.ifMatch = properties.etag
        let conditions = pinned
        let ranges = stride(from: Int64(options.chunkSize), to: total, by: options.chunkSize).map {
            ($0, min(Int64(options.chunkSize), total - $0))
        }
        try await withThrowingTaskGroup(of: (offset: Int64, length: Int64).self) { group in
            var next = 0
            for (offset, length) in ranges.prefix(options.concurrency) {
                group.addTask { (offset, try await downloadRange(offset: offset, length: length, conditions: conditions, to: sink)) }
                next += 1
            }
            while let done = try await group.next() {
                written += done.length
                options.progress?(written)
                if next < ranges.count {
                    let (offset, length) = ranges[next]
                    next += 1
                    group.addTask { (offset, try await downloadRange(offset: offset, length: length, conditions: conditions, to: sink)) }
                }
                try digest?.rangeFinished(offset: done.offset, length: done.length)
            }
        }
        return properties
    }

    private func downloadRange(offset: Int64, length: Int64, conditions: BlobRequestConditions, to sink: some DownloadSink) async throws -> Int64 {
        var headers = HTTPHeaderFields()
        headers["x-ms-range"] = "bytes=\(offset)-\(offset + length - 1)"
        conditions.apply(to: &headers)
        // The pipeline retries until the response headers arrive; a body cut off afterwards is fetched again
        // here (writing the same range at the same offset is harmless).
        var attempt = 0
        while true {
            do {
                let response = try await pipeline.send(.get, url, headers: headers, expected: [206])
                let count = try await write(response.body, to: sink, at: offset)
                guard count == length else {
                    throw AzureError(.integrity, "range at \(offset) of blob \(name) returned \(count) bytes, expected \(length)", isRetriable: true)
                }
                return count
            } catch where attempt < 3 && Self.isTransient(error) {
                attempt += 1
            }
        }
    }

    /// Whether a failure while reading a response may pass on another try.
    static func isTransient(_ error: any Error) -> Bool {
        if error is CancellationError { return false }
        if let azure = error as? AzureError { return azure.isRetriable }
        return true  // connection-level failures while streaming a body
    }

    private func write(_ body: HTTPResponseBody, to sink: some DownloadSink, at offset: Int64) async throws -> Int64 {
        var position = offset
        for try await chunk in body {
            try await sink.write(chunk, at: position)
            position += Int64(chunk.readableBytes)
        }
        return position - offset
    }

    static func md5(_ buffer: ByteBuffer) -> [UInt8] {
        var md5 = Insecure.MD5()
        buffer.withUnsafeReadableBytes { md5.update(bufferPointer: $0) }
        return Array(md5.finalize())
    }

    static func md5(ofFileAt path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw AzureError(.invalidArgument, "cannot read \(path)") }
        defer { try? handle.close() }
        var md5 = Insecure.MD5()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { md5.update(data: chunk) }
        return Array(md5.finalize())
    }

    static func checkMD5(_ actual: [UInt8], expected: [UInt8], what: String) throws {
        guard actual == expected else {
            throw AzureError(.integrity, "\(what) does not match its stored MD5 (\(Data(expected).base64EncodedString()), got \(Data(actual).base64EncodedString()))")
        }
    }

    // MARK: Properties, metadata, delete

    public func properties(conditions: BlobRequestConditions = BlobRequestConditions()) async throws -> BlobProperties {
        var headers = HTTPHeaderFields()
        conditions.apply(to: &headers)
        let response = try await pipeline.send(.head, url, headers: headers, expected: [200])
        return BlobProperties(headers: response.headers)
    }

    public func exists() async throws -> Bool {
        do {
            _ = try await properties()
            return true
        } catch let error as AzureError where error.statusCode == 404 {
            return false
        }
    }

    /// Replaces the blob's metadata.
    @discardableResult
    public func setMetadata(_ metadata: [String: String], conditions: BlobRequestConditions = BlobRequestConditions()) async throws -> BlobWriteResult {
        var headers = HTTPHeaderFields()
        for (key, value) in metadata { headers["x-ms-meta-\(key)"] = value }
        conditions.apply(to: &headers)
        let response = try await pipeline.send(.put, url(comp: "metadata"), headers: headers, expected: [200])
        return BlobWriteResult(headers: response.headers)
    }

    /// Replaces the blob's HTTP properties (content type, MD5, ...).
    @discardableResult
    public func setHTTPHeaders(_ httpHeaders: BlobHTTPHeaders, conditions: BlobRequestConditions = BlobRequestConditions()) async throws -> BlobWriteResult {
        var headers = HTTPHeaderFields()
        httpHeaders.apply(to: &headers)
        conditions.apply(to: &headers)
        let response = try await pipeline.send(.put, url(comp: "properties"), headers: headers, expected: [200])
        return BlobWriteResult(headers: response.headers)
    }

    public enum DeleteSnapshotsOption: String, Sendable { case include, only }

    /// Deletes the blob (or, with `withVersion`, one version).
    public func delete(snapshots: DeleteSnapshotsOption? = nil, conditions: BlobRequestConditions = BlobRequestConditions()) async throws {
        var headers = HTTPHeaderFields()
        if let snapshots { headers["x-ms-delete-snapshots"] = snapshots.rawValue }
        conditions.apply(to: &headers)
        _ = try await pipeline.send(.delete, url, headers: headers, expected: [202])
    }

    /// Deletes the blob if it exists. Returns whether it did.
    @discardableResult
    public func deleteIfExists(conditions: BlobRequestConditions = BlobRequestConditions()) async throws -> Bool {
        do {
            try await delete(conditions: conditions)
            return true
        } catch let error as AzureError where error.errorCode == "BlobNotFound" {
            return false
        }
    }

    /// Restores a soft-deleted blob.
    public func undelete() async throws {
        _ = try await pipeline.send(.put, url(comp: "undelete"), expected: [200])
    }
}

/// Where downloaded ranges go.
protocol DownloadSink: Sendable {
    func write(_ buffer: ByteBuffer, at offset: Int64) async throws
}

/// Collects a download in memory.
actor MemorySink: DownloadSink {
    private(set) var bytes: [UInt8] = []

    func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        let end = Int(offset) + buffer.readableBytes
        if bytes.count < end { bytes.append(contentsOf: repeatElement(0, count: end - bytes.count)) }
        bytes.replaceSubrange(Int(offset)..<end, with: buffer.readableBytesView)
    }
}

/// Writes ranges at their offsets with `pwrite`, so parallel ranges need no coordination.
final class FileSink: DownloadSink, @unchecked Sendable {
    // The descriptor is only closed after every range has been written.
    private let descriptor: Int32
    private let path: String

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw AzureError(.invalidArgument, "cannot open \(path) for writing (errno \(errno))") }
    }

    func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let result = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                guard result > 0 else { throw AzureError(.invalidArgument, "writing \(path) failed (errno \(errno))") }
                done += result
            }
        }
    }

    /// Reads up to `count` bytes at `offset` into `buffer`; returns how many were read (0 at the end).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        while true {
            let result = pread(descriptor, buffer.baseAddress!, buffer.count, off_t(offset))
            if result >= 0 { return result }
            guard errno == EINTR else { throw AzureError(.invalidArgument, "reading back \(path) failed (errno \(errno))") }
        }
    }

    func close() throws {
        guard fsync(descriptor) == 0, Foundation.close(descriptor) == 0 else {
            throw AzureError(.invalidArgument, "closing \(path) failed (errno \(errno))")
        }
    }
}

/// The MD5 of a file that parallel ranges are filling out of order. Each time the finished ranges reach further
/// from the start, the newly contiguous bytes are read back (from the page cache) and hashed, so the check after
/// the download needs no second pass over the file. Used by one task only.
final class TrailingFileMD5 {
    private let sink: FileSink
    private var md5 = Insecure.MD5()
    private var finished: [Int64: Int64] = [:]
    private(set) var hashedUpTo: Int64 = 0
    private var buffer: [UInt8] = []

    init(sink: FileSink) { self.sink = sink }

    func rangeFinished(offset: Int64, length: Int64) throws {
        finished[offset] = length
        while let length = finished.removeValue(forKey: hashedUpTo) {
            var position = hashedUpTo
            let end = hashedUpTo + length
            if buffer.count < min(length, 1 << 20) { buffer = [UInt8](repeating: 0, count: Int(min(length, 1 << 20))) }
            while position < end {
                let wanted = Int(min(Int64(buffer.count), end - position))
                let count = try buffer.withUnsafeMutableBytes { try sink.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<wanted]), at: position) }
                guard count > 0 else { throw AzureError(.integrity, "the downloaded file ended at \(position), before \(end)") }
                buffer.withUnsafeBytes { md5.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                position += Int64(count)
            }
            hashedUpTo = end
        }
    }

    func finalize() -> [UInt8] { Array(md5.finalize()) }
}
