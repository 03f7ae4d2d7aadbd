import Foundation

// Stores keep times as whole milliseconds since 1970 (INTEGER in SQLite). Every record normalizes its
// dates the same way on creation, so a record read back from any store equals the one written, and
// the memory and SQLite stores behave identically in tests.

package enum StoreTime {
    /// Far beyond any real expiry (year ~292 million would overflow); clamping keeps hostile or
    /// mistaken dates (`Date.distantFuture`, huge intervals) from trapping the conversion.
    package static let limit: Int64 = 1 << 52

    package static func milliseconds(_ date: Date) -> Int64 {
        // Nearest, not down: a date rebuilt from milliseconds may sit a hair below the exact value, and
        // rounding down would then lose a millisecond on every round trip.
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return value.isNaN ? 0 : (value > 0 ? limit : -limit) }
        if value >= Double(limit) { return limit }
        if value <= -Double(limit) { return -limit }
        return Int64(value)
    }

    package static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    package static func normalized(_ date: Date) -> Date {
        self.date(milliseconds: milliseconds(date))
    }
}
