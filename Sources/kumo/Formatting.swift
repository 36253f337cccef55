import ArgumentParser
import Foundation

/// A size given on the command line with a unit: `8MiB`, `4M`, `256KiB`, `1.5GiB`, `512` (bytes).
/// K, M and G (with or without `i`/`iB`) are powers of 1024; KB, MB and GB are powers of 1000, as the units
/// say.
struct ByteSize: ExpressibleByArgument, Equatable, CustomStringConvertible {
    var bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces)
        let digits = text.prefix { $0.isNumber || $0 == "." }
        let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let multipliers: [String: Double] = [
            "": 1, "b": 1,
            "k": 1024, "ki": 1024, "kib": 1024, "kb": 1e3,
            "m": 1_048_576, "mi": 1_048_576, "mib": 1_048_576, "mb": 1e6,
            "g": 1_073_741_824, "gi": 1_073_741_824, "gib": 1_073_741_824, "gb": 1e9,
        ]
        guard let number = Double(digits), number.isFinite, number >= 0, let multiplier = multipliers[unit] else { return nil }
        let value = (number * multiplier).rounded()
        guard value <= Double(Int.max / 2) else { return nil }
        bytes = Int(value)
    }

    var description: String { ByteSize.format(Int64(bytes), exact: true) }
    var defaultValueDescription: String { description }
    static var defaultCompletionKind: CompletionKind { .list(["64KiB", "256KiB", "1MiB", "4MiB", "8MiB", "16MiB", "100MiB"]) }

    /// `8 MiB`-style text; `exact` keeps whole units only (for defaults), otherwise one decimal.
    static func format(_ bytes: Int64, exact: Bool = false) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 && (!exact || bytes % (Int64(1) << (10 * (unit + 1))) == 0) {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        return exact ? "\(Int64(value))\(units[unit])" : String(format: "%.1f %@", value, units[unit])
    }
}

func formatBytes(_ bytes: Int64) -> String { ByteSize.format(bytes) }

/// `1 file`, `2 files`: counts read by people get the right noun.
func plural(_ count: Int, _ singular: String, _ pluralForm: String? = nil) -> String {
    "\(count) \(count == 1 ? singular : pluralForm ?? singular + "s")"
}

/// `3 s`, `2 min 5 s`, `1 h 4 min`: how long something took or has left.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    if seconds < 10 { return String(format: "%.1f s", seconds) }
    let whole = Int(seconds.rounded())
    if whole < 60 { return "\(whole) s" }
    if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
    return "\(whole / 3600) h \((whole % 3600) / 60) min"
}
