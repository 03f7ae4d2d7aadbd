import Foundation

/// RFC 3339 timestamps as the Payment scheme writes them (`expires`, receipt `timestamp`).
///
/// Written in UTC with whole seconds (`2025-01-15T12:05:00Z`) because the `expires` string is HMAC-bound
/// and must be reproduced byte for byte; read in any RFC 3339 form (offsets, fractions, lowercase `t`/`z`).
/// Hand-written rather than `DateFormatter` so parsing is total and locale-free.
public enum PaymentTimestamp {
    /// Formats a moment as `YYYY-MM-DDTHH:MM:SSZ`, dropping fractions of a second (toward the past, so
    /// a written expiry is never later than the one asked for).
    public static func format(_ date: Date) -> String {
        let raw = date.timeIntervalSince1970
        // Years 0001 to 9999 only: RFC 3339 has four year digits, and a non-finite Date must not trap.
        let total = Int64((raw.isFinite ? raw : 0).rounded(.down).clamped(to: -62_135_596_800...253_402_300_799))
        let (days, secondsOfDay) = floorDivide(total, 86_400)
        let (year, month, day) = civilFromDays(days)
        // Twenty ASCII bytes written in place: every 402 formats one per offer. The clamp above keeps
        // the year within 1...9999, so four digits always hold it.
        return String(unsafeUninitializedCapacity: 20) { buffer in
            func put(_ value: Int64, digits: Int, at start: Int) {
                var rest = value
                for offset in stride(from: digits - 1, through: 0, by: -1) {
                    buffer[start + offset] = UInt8(truncatingIfNeeded: 0x30 + rest % 10)
                    rest /= 10
                }
            }
            put(year, digits: 4, at: 0)
            buffer[4] = UInt8(ascii: "-")
            put(month, digits: 2, at: 5)
            buffer[7] = UInt8(ascii: "-")
            put(day, digits: 2, at: 8)
            buffer[10] = UInt8(ascii: "T")
            put(secondsOfDay / 3600, digits: 2, at: 11)
            buffer[13] = UInt8(ascii: ":")
            put(secondsOfDay % 3600 / 60, digits: 2, at: 14)
            buffer[16] = UInt8(ascii: ":")
            put(secondsOfDay % 60, digits: 2, at: 17)
            buffer[19] = UInt8(ascii: "Z")
            return 20
        }
    }

    /// Parses an RFC 3339 `date-time`.
    ///
    /// - Throws: `WireError.malformed` naming what is wrong; never traps on any input.
    public static func parse(_ text: String) throws(WireError) -> Date {
        let bytes = Array(text.utf8)
        func fail(_ why: String) -> WireError { WireError(.malformed, "\"\(text.prefix(40))\" is not an RFC 3339 date-time: \(why)") }
        guard bytes.count >= 20, bytes.count <= 40 else { throw fail("wrong length") }
        func number(_ start: Int, _ count: Int) throws(WireError) -> Int64 {
            var value: Int64 = 0
            for index in start..<(start + count) {
                guard index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 else { throw fail("digit expected at \(index)") }
                value = value * 10 + Int64(bytes[index] - 0x30)
            }
            return value
        }
        func expect(_ index: Int, _ options: [UInt8]) throws(WireError) {
            guard index < bytes.count, options.contains(bytes[index]) else { throw fail("unexpected character at \(index)") }
        }
        let year = try number(0, 4)
        try expect(4, [0x2D])
        let month = try number(5, 2)
        try expect(7, [0x2D])
        let day = try number(8, 2)
        try expect(10, [0x54, 0x74])  // T or t
        let hour = try number(11, 2)
        try expect(13, [0x3A])
        let minute = try number(14, 2)
        try expect(16, [0x3A])
        let second = try number(17, 2)
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { throw fail("no such date") }
        guard hour <= 23, minute <= 59, second <= 60 else { throw fail("no such time") }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                fraction += Double(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { throw fail("a decimal point without digits") }
        }
        var offsetSeconds: Int64 = 0
        guard index < bytes.count else { throw fail("missing time zone") }
        switch bytes[index] {
        case 0x5A, 0x7A:  // Z or z
            index += 1
        case 0x2B, 0x2D:
            let sign: Int64 = bytes[index] == 0x2D ? -1 : 1
            let offsetHour = try number(index + 1, 2)
            try expect(index + 3, [0x3A])
            let offsetMinute = try number(index + 4, 2)
            guard offsetHour <= 23, offsetMinute <= 59 else { throw fail("no such offset") }
            offsetSeconds = sign * (offsetHour * 3600 + offsetMinute * 60)
            index += 6
        default:
            throw fail("missing time zone")
        }
        guard index == bytes.count else { throw fail("trailing characters") }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    private static func isLeap(_ year: Int64) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, 1970-01-01 is day 0).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

private extension Double {
    func clamped(to range: ClosedRange<Double>) -> Double { Swift.min(Swift.max(self, range.lowerBound), range.upperBound) }
}
