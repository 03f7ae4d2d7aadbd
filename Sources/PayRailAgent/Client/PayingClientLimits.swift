import Foundation

/// How much a paying client reads and how long one call may take: a server decides what it sends,
/// so every body is counted against a limit while it arrives (never after it was buffered), and one
/// deadline covers every request of a call (the first request, each presentation and retry, and the
/// receipt key fetch).
///
/// The deadline never cuts a wallet's payment in the middle (a payment stopped half way is how money
/// is lost; each wallet bounds its own calls): it is checked before paying, and any time it ends a
/// call after the wallet paid, the spend stays pending in the ledger and the next call with the same
/// request finishes it without paying twice (`PayingClientError.Code.paidButUndelivered`).
public struct PayingClientLimits: Hashable, Sendable {
    /// The default for `maxChallengeBodyBytes`: 256 KiB, far more than any 402's offers need.
    public static let defaultChallengeBodyBytes = 256 * 1024
    /// The default for `maxKeySetBytes`: 64 KiB, a few hundred keys.
    public static let defaultKeySetBytes = 64 * 1024
    /// The default for `maxResponseBodyBytes`: 100 MiB.
    public static let defaultResponseBodyBytes = 100 * 1024 * 1024
    /// The default for `maxCallDuration`: 300 seconds.
    public static let defaultCallDuration: Duration = .seconds(300)

    /// The most read of a 402's body, or of any answer that is not the final content (a refusal, a
    /// "try again"). Past it reading stops and the body is ignored: offers are then read from the
    /// header fields only, so a paywall page too large to read does not hide offers carried in headers.
    public var maxChallengeBodyBytes: Int
    /// The most read of a server's receipt key set (`/.well-known/payrail/jwks.json`); a larger one
    /// leaves the receipt unverified.
    public var maxKeySetBytes: Int
    /// The most read (kept, or streamed to the caller's sink) of the final answer's body. Past it the
    /// call fails with `.responseTooLarge`; a paid spend is committed first, since the server served.
    public var maxResponseBodyBytes: Int
    /// The most one `send` may take, every request of it included.
    public var maxCallDuration: Duration

    /// Creates limits; a value below 0 is taken as 0 (a zero duration lets nothing be sent).
    public init(
        maxChallengeBodyBytes: Int = PayingClientLimits.defaultChallengeBodyBytes,
        maxKeySetBytes: Int = PayingClientLimits.defaultKeySetBytes,
        maxResponseBodyBytes: Int = PayingClientLimits.defaultResponseBodyBytes,
        maxCallDuration: Duration = PayingClientLimits.defaultCallDuration
    ) {
        self.maxChallengeBodyBytes = max(0, maxChallengeBodyBytes)
        self.maxKeySetBytes = max(0, maxKeySetBytes)
        self.maxResponseBodyBytes = max(0, maxResponseBodyBytes)
        self.maxCallDuration = max(.zero, maxCallDuration)
    }

    /// `maxCallDuration` in seconds, for messages.
    var callSeconds: Double {
        Double(maxCallDuration.components.seconds) + Double(maxCallDuration.components.attoseconds) / 1e18
    }
}

/// What one `send` is bounded by, set for the whole call so every step (and the receipt key fetch)
/// reads the same deadline without threading it through each of them.
struct CallBounds: Sendable {
    @TaskLocal static var current: CallBounds?

    /// When the call must have ended.
    let deadline: ContinuousClock.Instant
    /// Where the final answer's body goes, when the caller streams it.
    let sink: ResponseBodySink?
    /// The limit, for messages.
    let limits: PayingClientLimits

    var expired: Bool { ContinuousClock.now >= deadline }

    /// Seconds left (0 when past).
    var secondsLeft: Double { max(0, HTTPExchange.seconds(from: .now, to: deadline)) }

    /// Says the deadline passed, for errors.
    var expiredReason: String {
        "the call's time limit of \(Self.text(limits.callSeconds)) s ran out"
    }

    static func text(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int64(seconds)) : String(format: "%.3g", seconds)
    }
}
