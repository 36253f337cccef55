import Foundation

/// Everything a manifest says is read from an untrusted target (anyone with a writable SAS, a damaged disk, an
/// older or buggy writer). These checks run where a manifest enters, before any name, path or id it holds can
/// touch the local file system or size an allocation.
extension BackupManifest {
    /// The largest manifest read: about 40,000 files. Larger objects are refused before they are downloaded.
    public static let maximumEncodedSize = 16 << 20
    /// The largest file a manifest may list (16 TiB): bounds every sum of sizes well inside `Int64`.
    static let maximumFileSize: Int64 = 1 << 44

    /// Whether `id` has the form Kumo gives backup ids: `yyyyMMddTHHmmssSSSZ-<6 hex>`.
    public static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count == 26, bytes[8] == UInt8(ascii: "T"), bytes[18] == UInt8(ascii: "Z"), bytes[19] == UInt8(ascii: "-")
        else { return false }
        let digits = bytes[0..<8] + bytes[9..<18]
        let hex = bytes[20..<26]
        return digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
            && hex.allSatisfy { isLowerHex($0) }
    }

    /// Whether `name` is one plain file name: not empty, at most 255 bytes, no `/`, no NUL or control
    /// characters, not `.` or `..`.
    public static func isPlainFileName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 255, name != ".", name != ".." else { return false }
        return !bytes.contains(UInt8(ascii: "/")) && !bytes.contains(UInt8(ascii: "\\")) && !containsControl(name)
    }

    /// Whether `path` is a relative object path: segments that are plain file names, joined by single `/`.
    public static func isSafeRelativePath(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= 1024 else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isPlainFileName(String($0)) }
    }

    /// Checks every field against the rules above and the backup layout.
    /// - Throws: ``BackupError`` `.corrupt` naming the manifest and the field that is wrong.
    func validate(path manifestPath: String) throws {
        func refuse(_ what: String) -> BackupError { BackupError(.corrupt, "manifest \(manifestPath) is refused: \(what)") }
        guard schema >= 1 else { throw refuse("schema \(schema) is not a schema") }
        guard Self.isValidID(id) else { throw refuse("its id '\(Self.printable(id))' is not a backup id (yyyyMMddTHHmmssSSSZ-<6 hex>)") }
        guard manifestPath == Self.path(id: id, createdAt: createdAt) else {
            throw refuse("it is stored at \(manifestPath), but its id and date place it at \(Self.path(id: id, createdAt: createdAt))")
        }
        for (field, value, limit) in [("label", label ?? "", 1024), ("kumoVersion", kumoVersion, 128), ("rocksDBVersion", rocksDBVersion, 128),
                                      ("sourceHost", sourceHost, 1024), ("sourcePath", sourcePath, 4096)] {
            guard value.utf8.count <= limit, !Self.containsControl(value) else { throw refuse("\(field) has control characters or is too long") }
        }
        guard columnFamilies.count <= 4096, columnFamilies.allSatisfy({ $0.utf8.count <= 1024 && !Self.containsControl($0) }) else {
            throw refuse("its column family names are malformed")
        }
        guard durationSeconds.isFinite else { throw refuse("durationSeconds is not a number") }
        let ownDirectory = "rocksdb/\(Self.dayString(createdAt))/\(id)/"
        var names = Set<String>()
        var paths = Set<String>()
        var encrypted = 0
        for file in files {
            let shown = Self.printable(file.name)
            guard Self.isPlainFileName(file.name) else { throw refuse("file name '\(shown)' is not a plain file name") }
            guard names.insert(file.name).inserted else { throw refuse("file name '\(shown)' appears twice") }
            guard Self.isSafeRelativePath(file.path) else {
                throw refuse("\(shown): path '\(Self.printable(file.path))' is not a relative path without '..', empty segments or control characters")
            }
            guard file.path.hasPrefix(BackupEngine.sharedPrefix) || file.path.hasPrefix(ownDirectory) else {
                throw refuse("\(shown): path '\(file.path)' is outside rocksdb/shared/ and this backup's directory \(ownDirectory)")
            }
            guard file.path != manifestPath, file.path != BackupEngine.lockPath else { throw refuse("\(shown): path '\(file.path)' is not a data file") }
            guard paths.insert(file.path).inserted else { throw refuse("path '\(file.path)' is listed twice") }
            guard (0...Self.maximumFileSize).contains(file.size) else { throw refuse("\(shown): size \(file.size) is out of range") }
            guard file.sha256.utf8.count == 64, file.sha256.utf8.allSatisfy(Self.isLowerHex) else {
                throw refuse("\(shown): sha256 is not 64 lowercase hex digits")
            }
            if let md5 = file.storedMD5, Data(base64Encoded: md5)?.count != 16 { throw refuse("\(shown): storedMD5 is not a base64 MD5") }
            if let encryption = file.encryption {
                encrypted += 1
                guard encryption.format == "KUMOENC1" else { throw refuse("\(shown): encryption format '\(Self.printable(encryption.format))' is unknown") }
                guard (0...(Self.maximumFileSize * 2)).contains(encryption.storedSize) else { throw refuse("\(shown): storedSize is out of range") }
                try Self.validate(encryption.dataKey, refuse: { refuse("\(shown): data key \($0)") })
            }
        }
        guard encrypted == 0 || encrypted == files.count else {
            throw refuse("\(encrypted) of its \(files.count) files are encrypted; an encrypted backup encrypts every file")
        }
        if let authentication {
            guard encrypted == files.count else { throw refuse("it is authenticated but its files are not encrypted") }
            try Self.validate(authentication.key, refuse: { refuse("authentication key \($0)") })
        }
    }

    static func validate(_ key: WrappedKey, refuse: (String) -> BackupError) throws {
        guard key.kekID.utf8.count <= 2048, !containsControl(key.kekID) else { throw refuse("has a malformed key id") }
        guard key.algorithm.utf8.count <= 32, !containsControl(key.algorithm) else { throw refuse("has a malformed algorithm") }
        guard key.wrapped.utf8.count <= 8192, Data(base64Encoded: key.wrapped) != nil else { throw refuse("is not base64") }
    }

    static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    static func containsControl(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// `text` safe to print in an error: control characters escaped, cut at 200 characters.
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(200) {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += String(format: "\\u{%02x}", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > 200 ? out + "…" : out
    }
}
