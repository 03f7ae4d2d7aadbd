import Foundation

/// Challenge ids being granted right now, each forgotten after `grace` seconds (a handler that never
/// completes, e.g. a failed upstream, must not block its payer's regrant forever).
final class GrantsInProgress: @unchecked Sendable {
    private struct Entry {
        var count: Int
        var since: Date
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private let grace: TimeInterval

    init(grace: TimeInterval) { self.grace = grace }

    /// Marks `id` as being granted; every `begin` is matched by one `end`.
    func begin(_ id: String, now: Date) {
        lock.withLock {
            if entries.count > 10_000 { entries = entries.filter { now.timeIntervalSince($0.value.since) < grace } }
            var entry = entries[id] ?? Entry(count: 0, since: now)
            entry.count += 1
            entry.since = now
            entries[id] = entry
        }
    }

    /// Marks `id` as being granted unless it already is (within `grace`): one re-serving at a time.
    func beginIfIdle(_ id: String, now: Date) -> Bool {
        lock.withLock {
            if let entry = entries[id], entry.count > 0, now.timeIntervalSince(entry.since) < grace { return false }
            entries[id] = Entry(count: 1, since: now)
            return true
        }
    }

    func end(_ id: String) {
        lock.withLock {
            guard var entry = entries[id] else { return }
            entry.count -= 1
            entries[id] = entry.count > 0 ? entry : nil
        }
    }

    func contains(_ id: String, now: Date) -> Bool {
        lock.withLock { entries[id].map { $0.count > 0 && now.timeIntervalSince($0.since) < grace } ?? false }
    }
}
