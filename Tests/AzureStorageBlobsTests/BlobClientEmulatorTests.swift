import Crypto
import AzureCore
import AzureStorageBlobs
import Foundation
import NIOCore
import Testing

/// Every client operation against the emulator over a real socket.
@Suite("Blob clients against the emulator")
struct BlobClientEmulatorTests {
    @Test func containersCreateListPageDelete() async throws {
        try await withEmulator { service, _ in
            let prefix = uniqueName("p")
            for index in 0..<5 {
                try await service.containerClient("\(prefix)-\(index)").create(metadata: ["index": "\(index)"])
            }
            let container = service.containerClient("\(prefix)-0")
            #expect(try await container.createIfNotExists() == false)
            let error = try await #require(throws: AzureError.self) { try await container.create() }
            #expect(error.statusCode == 409 && error.errorCode == "ContainerAlreadyExists")
            #expect(error.requestID != nil)

            var pages = 0
            var names: [String] = []
            for try await page in service.listContainers(prefix: prefix, includeMetadata: true, pageSize: 2).byPage() {
                pages += 1
                #expect(page.items.count <= 2)
                names += page.items.map(\.name)
                #expect(page.items.allSatisfy { $0.properties.metadata["index"] != nil })
            }
            #expect(pages == 3)
            #expect(names == (0..<5).map { "\(prefix)-\($0)" })

            let properties = try await container.properties()
            #expect(properties.metadata == ["index": "0"])
            try await container.setMetadata(["env": "dev"])
            #expect(try await container.properties().metadata == ["env": "dev"])
            try await container.delete()
            #expect(try await container.exists() == false)
            let missing = try await #require(throws: AzureError.self) { try await container.delete() }
            #expect(missing.statusCode == 404 && missing.errorCode == "ContainerNotFound")
        }
    }

    @Test(arguments: [0, 1, 1000, (1 << 20) + 3])
    func uploadDownloadBytes(size: Int) async throws {
        try await withEmulator { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let blob = container.blobClient("dir/sub dir/ünï+\(size).bin")
            let data = randomBytes(size, seed: UInt64(size))
            var options = BlobUploadOptions()
            options.httpHeaders.contentType = "application/x-kumo"
            options.metadata = ["source": "test"]
            let written = try await blob.upload(data, options: options)
            #expect(!written.etag.isEmpty)
            #expect(try await blob.download() == data)
            let properties = try await blob.properties()
            #expect(properties.contentLength == Int64(size))
            #expect(properties.httpHeaders.contentType == "application/x-kumo")
            #expect(properties.metadata == ["source": "test"])
            #expect(properties.blobType == "BlockBlob")
            if size > 10 {
                #expect(try await blob.download(range: 3, length: 7) == Array(data[3..<10]))
            }
            let names = try await collect(container.listBlobs())
            #expect(names.map(\.name) == [blob.name])
        }
    }

    @Test func largeUploadsUseBlocksAndParallelRangedDownloads() async throws {
        try await withEmulator { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let directory = TemporaryDirectory()
            let source = directory.path + "/source.bin"
            let data = randomBytes(5 * (1 << 20) + 12345, seed: 42)
            try Data(data).write(to: URL(fileURLWithPath: source))
            var options = BlobUploadOptions()
            options.singleUploadThreshold = 1 << 20
            options.blockSize = 1 << 20
            options.concurrency = 3
            let progress = ProgressRecorder()
            options.progress = { sent in progress.record(sent) }
            let blob = container.blobClient("large.bin")
            try await blob.upload(fileAt: source, options: options)
            #expect(progress.last == Int64(data.count))
            let blocks = try await blob.blockList(.committed)
            #expect(blocks.committed.count == 6)
            #expect(blocks.committed.map(\.size).reduce(0, +) == Int64(data.count))
            #expect(Set(blocks.committed.map(\.id.count)).count == 1, "block ids share one length")

            var download = BlobDownloadOptions()
            download.chunkSize = 700_000
            download.concurrency = 4
            let target = directory.path + "/target.bin"
            let properties = try await blob.download(toFile: target, options: download)
            #expect(properties.contentLength == Int64(data.count))
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data(data))
            #expect(properties.httpHeaders.contentMD5?.count == 16, "the whole-file MD5 is stored at commit")

            // The MD5 is computed while ranges arrive out of order; a wrong stored MD5 must still be caught.
            var wrong = properties.httpHeaders
            wrong.contentMD5 = Array(repeating: 7, count: 16)
            try await blob.setHTTPHeaders(wrong)
            let error = try await #require(throws: AzureError.self) { try await blob.download(toFile: target, options: download) }
            #expect(error.code == .integrity)
            download.validateMD5 = false
            _ = try await blob.download(toFile: target, options: download)
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data(data))

            // Files under the single-upload threshold go in one Put Blob, read whole.
            let small = directory.path + "/small.bin"
            let smallData = randomBytes(300_000, seed: 7)
            try Data(smallData).write(to: URL(fileURLWithPath: small))
            let smallBlob = container.blobClient("small.bin")
            try await smallBlob.upload(fileAt: small, options: options)
            #expect(try await smallBlob.blockList(.committed).committed.isEmpty)
            #expect(try await smallBlob.download() == smallData)
        }
    }

    @Test(arguments: [0, 1, 300_000, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 777])
    func streamedUploadsRegroupPiecesIntoBlocks(size: Int) async throws {
        try await withEmulator { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let data = randomBytes(size, seed: UInt64(size) + 3)
            var options = BlobUploadOptions()
            options.blockSize = 1 << 20
            options.concurrency = 2
            let progress = ProgressRecorder()
            options.progress = { sent in progress.record(sent) }
            // Pieces of awkward sizes, so blocks are cut across them.
            var offset = 0
            var pieceSize = 1
            let blob = container.blobClient("streamed-\(size).bin")
            try await blob.upload(streaming: {
                guard offset < data.count else { return nil }
                let end = min(data.count, offset + pieceSize)
                defer { offset = end; pieceSize = pieceSize * 3 + 17 }
                return Array(data[offset..<end])
            }, options: options)
            #expect(try await blob.download() == data)
            let blocks = try await blob.blockList(.committed).committed
            if size <= 1 << 20 {
                #expect(blocks.isEmpty, "content of one block or less goes in a single Put Blob")
            } else {
                #expect(blocks.count == (size + (1 << 20) - 1) / (1 << 20))
                #expect(blocks.dropLast().allSatisfy { $0.size == 1 << 20 })
                #expect(progress.last == Int64(size))
            }
            let properties = try await blob.properties()
            #expect(properties.httpHeaders.contentMD5 == Array(Insecure.MD5.hash(data: data)))
        }
    }

    @Test func listingsByPrefixDelimiterAndPages() async throws {
        try await withEmulator { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let names = ["a/1", "a/2", "a/b/3", "b/1", "c", "d", "e"]
            for name in names { try await container.blobClient(name).upload(Array(name.utf8)) }
            #expect(try await collect(container.listBlobs(prefix: "a/")).map(\.name) == ["a/1", "a/2", "a/b/3"])
            var pages = 0
            var all: [String] = []
            for try await page in container.listBlobs(pageSize: 2).byPage() {
                pages += 1
                all += page.items.map(\.name)
            }
            #expect(all == names)
            #expect(pages == 4)
            var top: [String] = []
            for try await item in container.listBlobsByHierarchy() {
                switch item {
                case .prefix(let prefix): top.append("prefix:" + prefix)
                case .blob(let blob): top.append(blob.name)
                }
            }
            #expect(top == ["prefix:a/", "prefix:b/", "c", "d", "e"])
            var nested: [String] = []
            for try await item in container.listBlobsByHierarchy(prefix: "a/") {
                if case .prefix(let prefix) = item { nested.append(prefix) } else if case .blob(let blob) = item { nested.append(blob.name) }
            }
            #expect(nested == ["a/1", "a/2", "a/b/"])
        }
    }

    @Test func conditionalRequestsAndErrorCodes() async throws {
        try await withEmulator { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let blob = container.blobClient("doc")
            let first = try await blob.upload(Array("v1".utf8))

            var createOnly = BlobUploadOptions()
            createOnly.conditions = .ifNotExists
            let exists = try await #require(throws: AzureError.self) { try await blob.upload(Array("x".utf8), options: createOnly) }
            #expect(exists.statusCode == 409 && exists.errorCode == "BlobAlreadyExists")

            var stale = BlobUploadOptions()
            stale.conditions = BlobRequestConditions(ifMatch: "\"0x1\"")
            let mismatch = try await #require(throws: AzureError.self) { try await blob.upload(Array("x".utf8), options: stale) }
            #expect(mismatch.statusCode == 412 && mismatch.errorCode == "ConditionNotMet")

            var matching = BlobUploadOptions()
            matching.conditions = BlobRequestConditions(ifMatch: first.etag)
            let second = try await blob.upload(Array("v2".utf8), options: matching)
            #expect(second.etag != first.etag)

            let notModified = try await #require(throws: AzureError.self) {
                try await blob.properties(conditions: BlobRequestConditions(ifNoneMatch: second.etag))
            }
            #expect(notModified.statusCode == 304)

            let staleDelete = try await #require(throws: AzureError.self) {
                try await blob.delete(conditions: BlobRequestConditions(ifMatch: first.etag))
            }
            #expect(staleDelete.statusCode == 412)
            try await blob.delete(conditions: BlobRequestConditions(ifMatch: second.etag))
            let gone = try await #require(throws: AzureError.self) { try await blob.download() }
            #expect(gone.statusCode == 404 && gone.errorCode == "BlobNotFound")
            #expect(try await blob.deleteIfExists() == false)

            let noContainer = try await #require(throws: AzureError.self) {
                try await service.containerClient(uniqueName()).blobClient("x").upload([1])
            }
            #expect(noContainer.statusCode == 404 && noContainer.errorCode == "ContainerNotFound")
        }
    }

    @Test func blocksStageCommitAndReorder() async throws {
        try await withEmulator { service, _ in
            let container = service.containerClient(uniqueName())
            try await container.create()
            let blob = container.blobClient("assembled")
            let ids = ["QUFB", "QkJC", "Q0ND"]  // AAA, BBB, CCC
            for (id, text) in zip(ids, ["one-", "two-", "three"]) {
                try await blob.stageBlock(id: id, data: ByteBuffer(string: text))
            }
            let staged = try await blob.blockList(.all)
            #expect(Set(staged.uncommitted.map(\.id)) == Set(ids))
            #expect(staged.committed.isEmpty)
            try await blob.commitBlockList([ids[2], ids[0]])
            #expect(String(decoding: try await blob.download(), as: UTF8.self) == "threeone-")
            let committed = try await blob.blockList(.all)
            #expect(committed.committed.map(\.id) == [ids[2], ids[0]])
            #expect(committed.uncommitted.isEmpty, "uncommitted blocks are discarded at commit")
            let invalid = try await #require(throws: AzureError.self) { try await blob.commitBlockList(["WldaWg=="]) }
            #expect(invalid.statusCode == 400 && invalid.errorCode == "InvalidBlockList")
        }
    }

    @Test func wrongKeyIsAuthenticationFailed() async throws {
        try await withEmulator { _, endpoint in
            let wrongKey = Data(repeating: 7, count: 64).base64EncodedString()
            let service = try BlobServiceClient(
                endpoint: URL(string: endpoint)!,
                credential: .sharedKey(try StorageSharedKeyCredential(accountName: "devstoreaccount1", accountKey: wrongKey)),
                options: testOptions())
            let error = try await #require(throws: AzureError.self) { try await service.containerClient("abc").create() }
            #expect(error.statusCode == 403 && error.errorCode == "AuthenticationFailed")
            #expect(!error.description.contains(wrongKey))
        }
    }

    @Test func unreachableEndpointIsATransportError() async throws {
        var options = testOptions(retry: .exponential(maxRetries: 1, delay: .milliseconds(5)))
        options.perTryTimeout = .seconds(5)
        let service = try BlobServiceClient(connectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=\(StorageConnectionString.developmentAccountKey);BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;", options: options)
        let error = try await #require(throws: AzureError.self) { try await service.containerClient("abc").create() }
        #expect(error.code == .transport || error.code == .timeout)
    }
}

func collect<T>(_ results: PagedResults<T>) async throws -> [T] {
    var items: [T] = []
    for try await item in results { items.append(item) }
    return items
}

final class ProgressRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int64] = []
    func record(_ value: Int64) { lock.withLock { values.append(value) } }
    var last: Int64? { lock.withLock { values.max() } }
}
