import ArgumentParser
import AzureCore
import AzureStorageBlobs
import Foundation

struct BlobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blob",
        abstract: "Work with Azure Blob Storage (or the local emulator): containers, uploads, downloads, SAS.",
        discussion: """
            The account comes from --connection-string or the AZURE_STORAGE_CONNECTION_STRING environment \
            variable. For the local emulator use 'UseDevelopmentStorage=true' (http://127.0.0.1:10000).
            """,
        subcommands: [
            BlobContainerCommand.self, BlobUpload.self, BlobDownload.self, BlobUploadDirectory.self, BlobDownloadPrefix.self,
            BlobList.self, BlobDelete.self, BlobSAS.self,
        ])
}

/// Options every `kumo blob` subcommand shares.
struct BlobAccountOptions: ParsableArguments {
    @Option(help: "A storage connection string (default: $AZURE_STORAGE_CONNECTION_STRING).")
    var connectionString: String?

    @Option(help: "A Key Vault secret (https://<vault>/secrets/<name>) holding the storage connection string.")
    var connectionStringSecret: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func resolvedConnectionString() async throws -> String {
        try await AzureAccess.connectionString(
            connectionString, secret: connectionStringSecret, environmentVariable: "AZURE_STORAGE_CONNECTION_STRING",
            missing: "no storage account: pass --connection-string or set AZURE_STORAGE_CONNECTION_STRING (for the emulator: UseDevelopmentStorage=true)")
    }

    func service() async throws -> BlobServiceClient {
        // KUMO_CA_FILE lets the CLI trust the emulator's https listener (or a corporate proxy's CA).
        try BlobServiceClient(connectionString: try await resolvedConnectionString(), transport: AzureAccess.transport)
    }

    func connectionParts() async throws -> StorageConnectionString {
        try StorageConnectionString(try await resolvedConnectionString())
    }
}

/// Refuses a container name Azure would not accept, before any request (see ``BlobContainerClient/isValidName(_:)``).
func validateContainerName(_ name: String) throws {
    guard BlobContainerClient.isValidName(name) else {
        throw ValidationError("'\(name)' is not a valid container name: \(BlobContainerClient.nameRules)")
    }
}

/// Azure's block size limits (up to 4000 MiB) and a floor that keeps a block list manageable.
func validateBlockSize(_ size: ByteSize, option: String = "--block-size") throws {
    guard (64 << 10)...(4000 << 20) ~= size.bytes else {
        throw ValidationError("\(option) must be between 64KiB and 4000MiB, not \(size)")
    }
}

struct BlobContainerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "container", abstract: "List, create or delete containers.")

    enum Action: String, ExpressibleByArgument, CaseIterable { case list, create, delete }

    @OptionGroup var account: BlobAccountOptions
    @Argument(help: "list, create or delete.") var action: Action = .list
    @Argument(help: "The container (for create and delete), or a name prefix (for list).") var name: String?

    func validate() throws {
        if action != .list && (name ?? "").isEmpty { throw ValidationError("'\(action.rawValue)' needs a container name") }
        if action != .list, let name { try validateContainerName(name) }
    }

    func run() async throws {
        let service = try await account.service()
        switch action {
        case .create:
            let created = try await service.containerClient(name!).createIfNotExists()
            print(account.json ? "{\"container\":\"\(name!)\",\"created\":\(created)}" : (created ? "created \(name!)" : "\(name!) already exists"))
        case .delete:
            try await service.containerClient(name!).delete()
            print(account.json ? "{\"container\":\"\(name!)\",\"deleted\":true}" : "deleted \(name!)")
        case .list:
            var names: [String] = []
            for try await item in service.listContainers(prefix: name) { names.append(item.name) }
            if account.json { try printJSON(names) } else { names.forEach { print($0) } }
        }
    }
}

struct BlobUpload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload", abstract: "Upload a file as a block blob (in parallel blocks when large).")

    @OptionGroup var account: BlobAccountOptions
    @Argument(help: "The file to upload.") var file: String
    @Option(help: "The container.") var container: String
    @Option(help: "The blob name (default: the file's name).") var name: String?
    @Option(help: ArgumentHelp("Block size for large files, with a unit (8MiB, 4M, 256KiB).", valueName: "size"))
    var blockSize = ByteSize(bytes: 8 << 20)
    @Option(help: "Blocks in flight at once.") var concurrency: Int = 8
    @Flag(help: "Fail if the blob exists instead of replacing it.") var noOverwrite = false

    func validate() throws {
        guard FileManager.default.isReadableFile(atPath: file) else { throw ValidationError("cannot read \(file)") }
        try validateBlockSize(blockSize)
        try validateContainerName(container)
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        let blobName = name ?? URL(fileURLWithPath: file).lastPathComponent
        let blob = try await account.service().containerClient(container).blobClient(blobName)
        let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0
        let bar = ProgressBar("uploading", total: size, style: .forCommand(json: account.json))
        var options = BlobUploadOptions()
        options.blockSize = blockSize.bytes
        options.concurrency = concurrency
        if noOverwrite { options.conditions = .ifNotExists }
        options.progress = { sent in bar.update(Int(sent)) }
        let started = Date()
        let result = try await blob.upload(fileAt: file, options: options)
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        if account.json {
            try printJSON(TransferSummary(container: container, blob: blobName, bytes: size, seconds: seconds, etag: result.etag))
        } else {
            print("uploaded \(file) to \(container)/\(blobName): \(formatBytes(Int64(size))) in \(formatDuration(seconds)) (\(formatBytes(Int64(Double(size) / max(seconds, 1e-6))))/s)")
        }
    }
}

struct BlobDownload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download", abstract: "Download a blob to a file with parallel ranged reads, checking its MD5.")

    @OptionGroup var account: BlobAccountOptions
    @Argument(help: "The blob name.") var name: String
    @Option(help: "The container.") var container: String
    @Option(help: "The file to write (created or replaced).") var to: String
    @Option(help: ArgumentHelp("Range size, with a unit (8MiB, 4M, 256KiB).", valueName: "size"))
    var chunkSize = ByteSize(bytes: 8 << 20)
    @Option(help: "Ranges in flight at once.") var concurrency: Int = 8

    func validate() throws {
        guard chunkSize.bytes >= 1 << 10 else { throw ValidationError("--chunk-size must be at least 1KiB, not \(chunkSize)") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        try validateContainerName(container)
    }

    func run() async throws {
        let blob = try await account.service().containerClient(container).blobClient(name)
        let total = try await blob.properties().contentLength
        let bar = ProgressBar("downloading", total: Int(total), style: .forCommand(json: account.json))
        var options = BlobDownloadOptions()
        options.chunkSize = chunkSize.bytes
        options.concurrency = concurrency
        options.progress = { received in bar.update(Int(received)) }
        let started = Date()
        let properties = try await blob.download(toFile: to, options: options)
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        if account.json {
            try printJSON(TransferSummary(container: container, blob: name, bytes: Int(properties.contentLength), seconds: seconds, etag: properties.etag))
        } else {
            print("downloaded \(container)/\(name) to \(to): \(formatBytes(properties.contentLength)) in \(formatDuration(seconds))")
        }
    }
}

struct TransferSummary: Encodable {
    var container: String
    var blob: String
    var bytes: Int
    var seconds: Double
    var etag: String
}

struct BlobList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List blobs by prefix, optionally one directory level.")

    @OptionGroup var account: BlobAccountOptions
    @Option(help: "The container.") var container: String
    @Option(help: "Only names starting with this.") var prefix: String?
    @Option(help: "List one level, grouping deeper names into prefixes ending in this delimiter.") var delimiter: String?

    func validate() throws { try validateContainerName(container) }

    func run() async throws {
        let client = try await account.service().containerClient(container)
        var rows: [[String: String]] = []
        if let delimiter {
            for try await item in client.listBlobsByHierarchy(delimiter: delimiter, prefix: prefix) {
                switch item {
                case .prefix(let name): rows.append(["name": name, "kind": "prefix"])
                case .blob(let blob): rows.append(["name": blob.name, "kind": "blob", "size": String(blob.properties.contentLength)])
                }
            }
        } else {
            for try await blob in client.listBlobs(prefix: prefix) {
                rows.append(["name": blob.name, "kind": "blob", "size": String(blob.properties.contentLength)])
            }
        }
        if account.json { try printJSON(rows); return }
        for row in rows { print(row["kind"] == "prefix" ? "\(row["name"]!)" : "\(row["size"]!)\t\(row["name"]!)") }
    }
}

struct BlobDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a blob.")

    @OptionGroup var account: BlobAccountOptions
    @Argument(help: "The blob name.") var name: String
    @Option(help: "The container.") var container: String

    func validate() throws { try validateContainerName(container) }

    func run() async throws {
        try await account.service().containerClient(container).blobClient(name).delete()
        print(account.json ? "{\"deleted\":true}" : "deleted \(container)/\(name)")
    }
}

struct BlobSAS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sas", abstract: "Print a SAS token for a container or blob, signed with the account key.")

    @OptionGroup var account: BlobAccountOptions
    @Option(help: "The container.") var container: String
    @Option(help: "A blob in the container (default: a container SAS).") var name: String?
    @Option(help: "Permissions: any of r a c w d x l t.") var permissions = "r"
    @Option(help: "Seconds until the token expires.") var expiresIn: Int = 3600
    @Option(help: "Allowed client IP or range (a.b.c.d or a.b.c.d-e.f.g.h).") var ip: String?
    @Flag(help: "Allow https only.") var httpsOnly = false

    func validate() throws {
        let allowed = Set("racwdxlt")
        if let bad = permissions.first(where: { !allowed.contains($0) }) {
            throw ValidationError("permission '\(bad)' is not one of r a c w d x l t")
        }
        if expiresIn <= 0 { throw ValidationError("--expires-in must be positive") }
        try validateContainerName(container)
    }

    func run() async throws {
        let parts = try await account.connectionParts()
        guard let accountName = parts.accountName, let key = parts.accountKey else {
            throw ValidationError("signing a SAS needs AccountName and AccountKey in the connection string")
        }
        let letters: [(Character, BlobSASBuilder.Permissions)] = [
            ("r", .read), ("a", .add), ("c", .create), ("w", .write), ("d", .delete), ("x", .deleteVersion), ("l", .list), ("t", .tag),
        ]
        var set: BlobSASBuilder.Permissions = []
        for (letter, permission) in letters where permissions.contains(letter) { set.insert(permission) }
        var builder = BlobSASBuilder(containerName: container, blobName: name, permissions: set, expiresOn: Date().addingTimeInterval(TimeInterval(expiresIn)))
        builder.ipRange = ip
        if httpsOnly { builder.protocol = .httpsOnly }
        print(builder.token(signedWith: try StorageSharedKeyCredential(accountName: accountName, accountKey: key)))
    }
}
