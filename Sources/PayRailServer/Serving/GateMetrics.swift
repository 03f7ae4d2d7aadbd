import Foundation

// One small registry rather than a metrics library: PayRail has no package dependencies, and the
// handful of series an operator needs (traffic, 402s, sales, replays, refusals, latency) fit in a
// lock-protected struct. Label values come only from closed sets (status codes, rail names, problem
// type tokens), never from request data, so a client cannot blow up the series count.

/// Counters and a latency histogram for a gated server, rendered in the Prometheus text format.
public final class GateMetrics: @unchecked Sendable {
    /// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` is implied.
    public static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct State {
        var requestsByStatus: [Int: UInt64] = [:]
        var challenges: UInt64 = 0
        var grants: UInt64 = 0
        var replays: UInt64 = 0
        var settlementsByRail: [String: UInt64] = [:]
        var refusalsByReason: [String: UInt64] = [:]
        var upstreamFailures: UInt64 = 0
        var bucketCounts = [UInt64](repeating: 0, count: GateMetrics.latencyBuckets.count)
        var latencyCount: UInt64 = 0
        var latencySumMicros: UInt64 = 0
    }

    private let lock = NSLock()
    private var state = State()

    /// Creates an empty registry.
    public init() {}

    /// Counts one HTTP request answered with `status` after `seconds`.
    public func recordRequest(status: Int, seconds: Double) {
        let clamped = max(0, seconds.isFinite ? seconds : 0)
        lock.withLock {
            state.requestsByStatus[status, default: 0] += 1
            state.latencyCount += 1
            state.latencySumMicros += UInt64(min(clamped, 1e9) * 1_000_000)
            // Prometheus buckets are cumulative: a 3 ms request counts in every bucket from 5 ms up.
            for (index, bound) in Self.latencyBuckets.enumerated() where clamped <= bound {
                state.bucketCounts[index] += 1
            }
        }
    }

    /// Counts what one gate decision meant.
    public func record(_ outcome: GateOutcome) {
        lock.withLock {
            switch outcome {
            case .free:
                break
            case .challenged:
                state.challenges += 1
            case .granted(let rail):
                state.grants += 1
                state.settlementsByRail[rail.rawValue, default: 0] += 1
            case .regranted:
                state.grants += 1
                state.replays += 1
            case .replayed:
                state.replays += 1
            case .refused(let reason, let issuedChallenge):
                state.refusalsByReason[reason, default: 0] += 1
                if issuedChallenge { state.challenges += 1 }
            }
        }
    }

    /// Counts a paid request whose upstream could not answer (the receipt stays valid for a replay).
    public func recordUpstreamFailure() {
        lock.withLock { state.upstreamFailures += 1 }
    }

    /// The registry in the Prometheus text exposition format (version 0.0.4).
    public func prometheusText() -> String {
        let snapshot = lock.withLock { state }
        var lines: [String] = []
        func family(_ name: String, _ type: String, _ help: String) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
        }
        family("payrail_requests_total", "counter", "HTTP requests answered, by status code.")
        if snapshot.requestsByStatus.isEmpty { lines.append("payrail_requests_total{code=\"200\"} 0") }
        for (code, count) in snapshot.requestsByStatus.sorted(by: { $0.key < $1.key }) {
            lines.append("payrail_requests_total{code=\"\(code)\"} \(count)")
        }
        family("payrail_challenges_issued_total", "counter", "402 challenge sets issued.")
        lines.append("payrail_challenges_issued_total \(snapshot.challenges)")
        family("payrail_grants_total", "counter", "Paid requests granted access.")
        lines.append("payrail_grants_total \(snapshot.grants)")
        family("payrail_replays_total", "counter", "Paid responses served again without a new settlement.")
        lines.append("payrail_replays_total \(snapshot.replays)")
        family("payrail_settlements_total", "counter", "Payments settled, by rail.")
        for (rail, count) in snapshot.settlementsByRail.sorted(by: { $0.key < $1.key }) {
            lines.append("payrail_settlements_total{rail=\"\(rail)\"} \(count)")
        }
        family("payrail_refusals_total", "counter", "Requests refused by the gate, by problem type.")
        for (reason, count) in snapshot.refusalsByReason.sorted(by: { $0.key < $1.key }) {
            lines.append("payrail_refusals_total{reason=\"\(reason)\"} \(count)")
        }
        family("payrail_upstream_failures_total", "counter", "Paid requests the upstream could not answer (502).")
        lines.append("payrail_upstream_failures_total \(snapshot.upstreamFailures)")
        family("payrail_request_duration_seconds", "histogram", "Time from request to response.")
        for (index, bound) in Self.latencyBuckets.enumerated() {
            lines.append("payrail_request_duration_seconds_bucket{le=\"\(Self.format(bound))\"} \(snapshot.bucketCounts[index])")
        }
        lines.append("payrail_request_duration_seconds_bucket{le=\"+Inf\"} \(snapshot.latencyCount)")
        let sum = Double(snapshot.latencySumMicros) / 1_000_000
        lines.append("payrail_request_duration_seconds_sum \(Self.format(sum))")
        lines.append("payrail_request_duration_seconds_count \(snapshot.latencyCount)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The media type of `prometheusText()`.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
