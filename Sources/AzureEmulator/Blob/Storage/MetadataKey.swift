import KumoKV

/// Keys of the emulator's metadata store: tuples of strings (account, container, blob name, ...).
///
/// Each part is written as its UTF-8 bytes with every zero byte escaped as `00 FF` and is ended by `00 01`.
/// Decoding is therefore unambiguous whatever the parts contain, so a name can never reach into the part
/// after it and forge another record's key (`victim\0d` is not `victim` + `d`), and the key of a tuple is a
/// prefix only of the keys of tuples that start with it (`victim\0…` is not under `victim`). Unlike a
/// length prefix, this encoding keeps keys in the byte order of their parts (`00 01` sorts before any byte
/// a name continues with), so the keys of one name stay adjacent and every name that starts with a prefix
/// has a key that starts with ``prefix(_:partial:)``, which is what listings walk.
enum MetadataKey {
    /// The key of the tuple `parts`.
    static func encode(_ parts: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for part in parts {
            append(part, to: &bytes)
            bytes += [0, 1]
        }
        return bytes
    }

    /// The common start of every key whose tuple begins with `parts` followed by a part that starts with
    /// `partial`.
    static func prefix(_ parts: [String], partial: String) -> [UInt8] {
        var bytes = encode(parts)
        append(partial, to: &bytes)
        return bytes
    }

    /// The tuple of `key`, or nil when `key` is not one ``encode(_:)`` writes.
    static func decode(_ key: [UInt8]) -> [String]? {
        var parts: [String] = []
        var part: [UInt8] = []
        var index = key.startIndex
        while index < key.endIndex {
            let byte = key[index]
            index += 1
            guard byte == 0 else {
                part.append(byte)
                continue
            }
            guard index < key.endIndex else { return nil }
            let escaped = key[index]
            index += 1
            switch escaped {
            case 0xFF: part.append(0)
            case 1:
                guard let text = String(validating: part, as: UTF8.self) else { return nil }
                parts.append(text)
                part = []
            default: return nil
            }
        }
        // Every part ends with its terminator.
        return part.isEmpty ? parts : nil
    }

    private static func append(_ part: String, to bytes: inout [UInt8]) {
        for byte in part.utf8 {
            bytes.append(byte)
            if byte == 0 { bytes.append(0xFF) }
        }
    }

    // MARK: Format

    /// Where the metadata format is recorded (in the accounts family). No encoded key starts with `FF`.
    static let formatKey: [UInt8] = [0xFF] + Array("metadata-format".utf8)
    /// The format this emulator writes. Format 1 (no record) joined parts with a bare zero byte.
    static let currentFormat = 2

    /// Rewrites a store of format 1 to the current format in one atomic batch, and records the format.
    /// Returns how many entries were rewritten. Throws ``FormatError`` for a store written by a newer emulator.
    static func migrate(_ store: Store, families: [ColumnFamily], accounts: ColumnFamily) async throws -> Int {
        if let recorded = try store.get(formatKey, in: accounts) {
            let format = Int(String(decoding: recorded, as: UTF8.self)) ?? 0
            guard format == currentFormat else { throw FormatError(found: format) }
            return 0
        }
        var batch = WriteBatch()
        var rewritten = 0
        for family in families {
            for try await entry in store.scan(.all, in: family) {
                let parts = entry.key.split(separator: 0, omittingEmptySubsequences: false).map {
                    String(decoding: $0, as: UTF8.self)
                }
                batch.delete(entry.key, in: family)
                batch.put(encode(parts), entry.value, in: family)
                rewritten += 1
            }
        }
        batch.put(formatKey, Array(String(currentFormat).utf8), in: accounts)
        try store.write(batch)
        return rewritten
    }

    /// The metadata store was written in a format this emulator does not know.
    struct FormatError: Error, CustomStringConvertible {
        var found: Int
        var description: String {
            "the emulator's metadata is in format \(found), which this version (format \(currentFormat)) cannot read; "
                + "use a newer kumo or start with an empty data directory"
        }
    }
}
