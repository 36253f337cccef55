import Foundation

/// Dates in the forms the Blob service uses: RFC 1123 in headers (`Thu, 12 Jan 2023 02:30:37 GMT`) and
/// ISO 8601 with seven fractional digits in error messages and version ids.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The range of years 1 to 9999 in seconds since 1970; dates outside it (a JWT `exp` of `1e300`) are
    /// written as its ends, since `time_t` cannot hold every `Double`.
    private static let representable: ClosedRange<Double> = -62_135_596_800...253_402_300_799

    private static func clampedSeconds(_ date: Date) -> Double {
        let seconds = date.timeIntervalSince1970
        guard !seconds.isNaN else { return 0 }
        return min(max(seconds, representable.lowerBound), representable.upperBound)
    }

    static func rfc1123(_ date: Date) -> String {
        var seconds = time_t(clampedSeconds(date).rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    /// Parses an RFC 1123 date; `nil` when malformed.
    static func parseRFC1123(_ text: String) -> Date? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[5] == "GMT", let day = Int32(fields[1]),
            let month = months.firstIndex(of: String(fields[2])), let year = Int32(fields[3])
        else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3, (1...31).contains(day), (1...9999).contains(year), (0...23).contains(clock[0]),
            (0...59).contains(clock[1]), (0...60).contains(clock[2])
        else { return nil }
        var parts = tm()
        parts.tm_mday = day
        parts.tm_mon = Int32(month)
        parts.tm_year = year - 1900
        parts.tm_hour = clock[0]
        parts.tm_min = clock[1]
        parts.tm_sec = clock[2]
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    static func iso8601(_ date: Date) -> String {
        let exact = clampedSeconds(date)
        let whole = exact.rounded(.down)
        var seconds = time_t(whole)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let ticks = min(9_999_999, Int((exact - whole) * 10_000_000))
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(ticks, 7))Z"
    }

    /// ISO 8601 of a time given in 100 ns ticks since 1970, exact to the tick (Azure's version-id form).
    static func iso8601(ticks: UInt64) -> String {
        let seconds = ticks / 10_000_000
        let base = iso8601(Date(timeIntervalSince1970: TimeInterval(seconds)))
        let fraction = String(ticks % 10_000_000)
        return String(base.prefix(20)) + String(repeating: "0", count: 7 - fraction.count) + fraction + "Z"
    }

    /// Parses the ISO 8601 UTC forms shared access signatures use: `2026-11-25`, `2026-11-25T18:00Z`,
    /// `2026-11-25T18:00:00Z` and `2026-11-25T18:00:00.1234567Z`; `nil` when malformed.
    static func parseISO8601(_ text: String) -> Date? {
        let scalars = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int32? {
            guard start + count <= scalars.count else { return nil }
            var value: Int32 = 0
            for byte in scalars[start..<(start + count)] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int32(byte - 48)
            }
            return value
        }
        guard scalars.count >= 10, scalars[4] == 45, scalars[7] == 45, let year = number(0, 4), let month = number(5, 2),
            let day = number(8, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        var fraction = 0.0
        if scalars.count > 10 {
            guard scalars[10] == 84, scalars.last == 90, let hour = number(11, 2), scalars.count >= 17, scalars[13] == 58,
                let minute = number(14, 2), hour < 24, minute < 60
            else { return nil }
            parts.tm_hour = hour
            parts.tm_min = minute
            var index = 16
            if scalars[index] == 58 {
                guard let second = number(17, 2), second < 60 else { return nil }
                parts.tm_sec = second
                index = 19
                if scalars[index] == 46 {
                    let digits = scalars[(index + 1)..<(scalars.count - 1)]
                    guard !digits.isEmpty, digits.count <= 7, let value = number(index + 1, digits.count) else { return nil }
                    fraction = Double(value) / pow(10, Double(digits.count))
                    index += 1 + digits.count
                }
            }
            guard index == scalars.count - 1 else { return nil }
        }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)) + fraction)
    }
}
