import Foundation

// Expiry decides whether money moves, so every place that compares against "now" takes a clock
// instead of calling `Date()`: tests can then expire an offer deterministically, without sleeping.

/// A source of the current time, injected wherever expiry is decided.
public protocol PayRailClock: Sendable {
    /// The current time.
    func now() -> Date
    /// The current time in whole seconds since 1970 (rounded down): what token expiry checks use.
    func unixSeconds() -> Int64
}

extension PayRailClock {
    /// `now()` rounded down to whole seconds.
    public func unixSeconds() -> Int64 {
        Int64(now().timeIntervalSince1970.rounded(.down))
    }
}

/// The real wall clock.
public struct SystemClock: PayRailClock {
    /// Creates the wall clock.
    public init() {}

    /// The current wall-clock time.
    public func now() -> Date { Date() }

    /// The wall clock in whole seconds from `time(2)`, which the kernel answers from its last tick
    /// without a clock read: a fraction of `Date()`'s cost, and second-exact, which is all a
    /// receipt's `exp` and `iat` can say. Checked on every verification.
    public func unixSeconds() -> Int64 { Int64(time(nil)) }
}

/// A clock that moves only when told to; share one instance between a rail and its test.
public final class ManualClock: PayRailClock, @unchecked Sendable {
    // @unchecked: `current` is only touched under `lock`.
    private let lock = NSLock()
    private var current: Date

    /// Starts the clock at `start` (by default a fixed, readable date so test output is stable).
    public init(start: Date = Date(timeIntervalSince1970: 1_767_225_600)) {
        current = start
    }

    /// The time the clock was last set to.
    public func now() -> Date {
        lock.withLock { current }
    }

    /// Moves the clock forward (or backward, for a negative interval).
    public func advance(by seconds: TimeInterval) {
        lock.withLock { current = current.addingTimeInterval(seconds) }
    }

    /// Sets the clock to an exact time.
    public func set(to date: Date) {
        lock.withLock { current = date }
    }
}
