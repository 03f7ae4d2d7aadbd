import Foundation
import PayRail
import PayRailStore

/// A wallet that takes its turn: a store call refused with `.busy` (another process held the lock
/// past the store's own busy timeout; nothing was written, so retrying is safe) is tried again after
/// a pause growing from 10 ms to 250 ms with jitter, until `patience` has passed since the call began.
///
/// Fifty `payrail fetch` processes starting at once on one SQLite wallet queue on its write lock;
/// without this, the unlucky ones would fail with "database is locked" instead of being told the
/// budget's answer. Every other error, and `.busy` past the deadline, is passed on unchanged.
struct PatientSpendStore: SpendStore {
    let base: any SpendStore
    /// How long one call may keep retrying, the store's busy timeout of each attempt included.
    let patience: Duration

    private func patiently<T: Sendable>(_ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: patience)
        var pause = Duration.milliseconds(10)
        while true {
            do { return try await body() } catch where error.code == .busy && error.isRetrySafe && clock.now + pause < deadline {
                let jitter = Duration.milliseconds(Int.random(in: 0...Int(pause.components.seconds * 1000
                    + pause.components.attoseconds / 1_000_000_000_000_000)))
                try? await Task.sleep(for: pause + jitter)
                pause = min(pause * 2, .milliseconds(250))
            }
        }
    }

    func reserve(_ record: SpendRecord, limits: SpendLimits, now: Date) async throws(StoreError) -> ReserveOutcome {
        try await patiently { () throws(StoreError) in try await base.reserve(record, limits: limits, now: now) }
    }

    func markPaid(paymentID: String, proof: String, now: Date) async throws(StoreError) -> SpendRecord {
        try await patiently { () throws(StoreError) in try await base.markPaid(paymentID: paymentID, proof: proof, now: now) }
    }

    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, now: Date) async throws(StoreError) -> SpendRecord {
        try await patiently { () throws(StoreError) in
            try await base.commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, now: now)
        }
    }

    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                now: Date) async throws(StoreError) -> SpendRecord {
        try await patiently { () throws(StoreError) in
            try await base.commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, amount: amount, now: now)
        }
    }

    func commit(paymentID: String, receipt: String?, reference: String?, note: String?, amount: Money?,
                standardReceipt: LedgerReceipt?, now: Date) async throws(StoreError) -> SpendRecord {
        try await patiently { () throws(StoreError) in
            try await base.commit(paymentID: paymentID, receipt: receipt, reference: reference, note: note, amount: amount,
                                  standardReceipt: standardReceipt, now: now)
        }
    }

    func release(paymentID: String, reason: String, now: Date) async throws(StoreError) -> SpendRecord {
        try await patiently { () throws(StoreError) in try await base.release(paymentID: paymentID, reason: reason, now: now) }
    }

    func record(paymentID: String) async throws(StoreError) -> SpendRecord? {
        try await patiently { () throws(StoreError) in try await base.record(paymentID: paymentID) }
    }

    func unfinished() async throws(StoreError) -> [SpendRecord] {
        try await patiently { () throws(StoreError) in try await base.unfinished() }
    }

    func unfinished(method: String, url: String) async throws(StoreError) -> [SpendRecord] {
        try await patiently { () throws(StoreError) in try await base.unfinished(method: method, url: url) }
    }

    func records(since: Date?) async throws(StoreError) -> [SpendRecord] {
        try await patiently { () throws(StoreError) in try await base.records(since: since) }
    }

    func committed(host: String, rail: RailID, offset: Int, limit: Int) async throws(StoreError) -> [SpendRecord] {
        try await patiently { () throws(StoreError) in try await base.committed(host: host, rail: rail, offset: offset, limit: limit) }
    }
}
