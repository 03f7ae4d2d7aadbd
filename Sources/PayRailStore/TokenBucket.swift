// Token-bucket arithmetic shared by both stores, in integers: tokens are counted in thousandths so a
// bucket refills smoothly between whole tokens, and times are whole milliseconds. No floating point,
// so the memory and SQLite stores give identical answers for identical clocks.

package struct TokenBucketState: Hashable, Sendable {
    package var milliTokens: Int64
    package var updatedAtMilliseconds: Int64
    /// When the bucket will be full again; a full bucket equals no bucket, so it can be purged then.
    package var fullAtMilliseconds: Int64

    package init(milliTokens: Int64, updatedAtMilliseconds: Int64, fullAtMilliseconds: Int64) {
        self.milliTokens = milliTokens
        self.updatedAtMilliseconds = updatedAtMilliseconds
        self.fullAtMilliseconds = fullAtMilliseconds
    }

    package static func full(_ policy: TokenBucketPolicy, at now: Int64) -> TokenBucketState {
        TokenBucketState(milliTokens: Int64(policy.capacity) * 1000, updatedAtMilliseconds: now, fullAtMilliseconds: now)
    }
}

extension TokenBucketPolicy {
    package var intervalMilliseconds: Int64 {
        let (seconds, attoseconds) = refillInterval.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// Validates `count` before any state is touched.
    package func checkCount(_ count: Int) throws(StoreError) {
        guard count >= 1, count <= capacity else {
            throw StoreError.invalid("a rate-limit take must ask for 1...\(capacity) tokens, got \(count)")
        }
    }

    /// Refills `state` up to `now`, then takes `count` tokens if they are there.
    package func take(_ count: Int, from state: TokenBucketState, now: Int64) -> (TokenBucketState, RateLimitDecision) {
        let capacityMilli = Int64(capacity) * 1000
        let interval = intervalMilliseconds
        let ratePerInterval = Int64(refillTokens) * 1000  // milli-tokens per interval
        var tokens = min(max(state.milliTokens, 0), capacityMilli)
        let elapsed = max(0, now - state.updatedAtMilliseconds)  // a clock going backwards refills nothing
        let (product, overflow) = elapsed.multipliedReportingOverflow(by: ratePerInterval)
        let added = overflow ? capacityMilli : product / interval
        tokens = min(capacityMilli, tokens + min(added, capacityMilli))
        let updatedAt = max(now, state.updatedAtMilliseconds)

        let wanted = Int64(count) * 1000
        let decision: RateLimitDecision
        if tokens >= wanted {
            tokens -= wanted
            decision = .allowed(remaining: Int(tokens / 1000))
        } else {
            let waitMilliseconds = Self.ceilingDivide((wanted - tokens) * interval, by: ratePerInterval)
            decision = .limited(retryAfterSeconds: Int(max(1, Self.ceilingDivide(waitMilliseconds, by: 1000))))
        }
        let untilFull = Self.ceilingDivide((capacityMilli - tokens) * interval, by: ratePerInterval)
        let next = TokenBucketState(milliTokens: tokens, updatedAtMilliseconds: updatedAt,
                                    fullAtMilliseconds: updatedAt + untilFull)
        return (next, decision)
    }

    private static func ceilingDivide(_ value: Int64, by divisor: Int64) -> Int64 {
        (value + divisor - 1) / divisor
    }
}
