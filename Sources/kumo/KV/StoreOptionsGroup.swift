import ArgumentParser
import Foundation
import KumoKV

/// The store every `kumo kv` subcommand works on, and its output form.
struct StoreOptionsGroup: ParsableArguments {
    @Option(name: .long, help: "The database directory.")
    var db: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if db.isEmpty { throw ValidationError("--db needs a path") }
    }

    /// Opens the store. `create` is for commands that write; reads refuse to create an empty store.
    func open(create: Bool) async throws -> Store {
        var options = StoreOptions()
        options.createIfMissing = create
        return try await Store.open(at: absolutePath(db), options: options)
    }
}

/// `--cf`, for commands that read or write one column family.
struct ColumnFamilyOption: ParsableArguments {
    @Option(name: .customLong("cf"), help: "The column family.")
    var columnFamily: String = "default"

    var family: ColumnFamily { ColumnFamily(columnFamily) }
}

/// `--hex`, for commands that take or print keys and values.
struct KeyFormatOptions: ParsableArguments {
    @Flag(help: "Keys and values are hexadecimal bytes, in input and output.")
    var hex = false

    func bytes(_ text: String, name: String) throws -> [UInt8] {
        guard hex else { return Array(text.utf8) }
        guard let bytes = ByteText.parseHex(text) else {
            throw ValidationError("\(name) '\(text)' is not hexadecimal (expected pairs of 0-9a-f)")
        }
        return bytes
    }

    func text(_ bytes: [UInt8]) -> String {
        hex ? ByteText.hex(bytes) : ByteText.display(bytes)
    }
}

/// A path made absolute against the working directory, so that what the store and backups record (and the
/// messages quoting it) do not depend on where a command happened to run.
func absolutePath(_ path: String) -> String {
    Store.absolutePath((path as NSString).expandingTildeInPath)
}

/// Turning bytes into text for people and scripts, and back.
enum ByteText {
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func parseHex(_ text: String) -> [UInt8]? {
        var digits = Array(text.utf8)
        if digits.starts(with: Array("0x".utf8)) { digits.removeFirst(2) }
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// UTF-8 text when the bytes are printable UTF-8, otherwise `0x` and hex digits.
    static func display(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self),
            !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        {
            return text
        }
        return "0x" + hex(bytes)
    }

    /// The JSON form of a key or value: text when it is valid UTF-8, and always the hex bytes.
    static func json(_ bytes: [UInt8]) -> [String: String] {
        var out = ["hex": hex(bytes)]
        if let text = String(validating: bytes, as: UTF8.self) { out["utf8"] = text }
        return out
    }
}

/// Prints a value as pretty, key-sorted JSON on standard output.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Prints a value as one line of JSON, for streams of records.
func printJSONLine(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
