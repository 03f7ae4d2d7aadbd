import Foundation
import PayRailStore

// A gate answers many requests at once, and PostgreSQL pays for every connection with a process. So
// each store holds a bounded pool: at most `poolSize` connections, opened on demand, reused, and a
// caller beyond the bound waits its turn (first come, first served) until its call's deadline. A
// connection the server dropped (a restart, a failover) is noticed when it is next taken from the
// pool, without a round trip, and replaced by a new one: the store reconnects by itself.

/// How a PostgreSQL store connects and how long its calls may take; every value is settable.
public struct PostgresStoreOptions: Sendable, Hashable {
    /// The most connections the store opens at once (each gate process has its own pool).
    public var poolSize: Int
    /// How long opening one connection may take (libpq's `connect_timeout`, whole seconds, at least 2).
    public var connectTimeout: Duration
    /// How long one statement may run on the server (`statement_timeout`) before it is cancelled and
    /// the call fails with a retry-safe `.timedOut`; a statement waiting for another's row lock waits
    /// up to this long.
    public var statementTimeout: Duration
    /// The whole call's deadline: waiting for a pooled connection and retrying after a deadlock or a
    /// serialization failure happen within it; past it the call fails with a retry-safe `.busy`.
    public var callTimeout: Duration
    /// Shown in `pg_stat_activity`, so an operator sees which connections are PayRail's.
    public var applicationName: String

    /// Creates options; the defaults suit one gate process on a small machine.
    public init(poolSize: Int = 10, connectTimeout: Duration = .seconds(5), statementTimeout: Duration = .seconds(5),
                callTimeout: Duration = .seconds(10), applicationName: String = "payrail") {
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.callTimeout = callTimeout
        self.applicationName = applicationName
    }

    func validate() throws(StoreError) {
        guard (1...1000).contains(poolSize) else { throw StoreError.invalid("the pool size must be 1...1000") }
        guard statementTimeout >= .milliseconds(1), callTimeout >= .milliseconds(1), connectTimeout >= .milliseconds(1) else {
            throw StoreError.invalid("store timeouts must be positive")
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// The connection keywords this store adds to the URL's.
    func keywords(for url: DatabaseURL) -> [(String, String)] {
        var keywords = url.keywords()
        let given = Set(keywords.map(\.0))
        if !given.contains("connect_timeout") {
            keywords.append(("connect_timeout", String(max(2, (Self.milliseconds(connectTimeout) + 999) / 1000))))
        }
        if !given.contains("application_name") { keywords.append(("application_name", applicationName)) }
        keywords.append(("client_encoding", "UTF8"))
        let options = "-c statement_timeout=\(Self.milliseconds(statementTimeout)) -c TimeZone=UTC"
        if let index = keywords.firstIndex(where: { $0.0 == "options" }) {
            keywords[index].1 += " " + options
        } else {
            keywords.append(("options", options))
        }
        return keywords
    }
}

/// How many connections a store's pool holds now and at most so far.
public struct PostgresPoolStatistics: Sendable, Hashable {
    /// Connections open now (idle or in use), including ones being opened.
    public let open: Int
    /// Connections lent out now.
    public let inUse: Int
    /// Callers waiting for a connection now.
    public let waiting: Int
    /// The most connections open at any one time since the store was opened.
    public let peakOpen: Int
    /// The bound.
    public let poolSize: Int
}

/// The bounded pool. Connections are opened by the caller (outside the actor) on a granted slot.
actor PostgresPool {
    enum Grant: Sendable {
        case connection(PostgresConnection)
        case slot
    }

    private let size: Int
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var inUse = 0
    private var peak = 0
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Grant?, Never>)] = []
    private var nextWaiter: UInt64 = 0
    private var closed = false

    init(size: Int) {
        self.size = size
    }

    /// A connection or the right to open one, or `nil` when `deadline` passed first.
    func acquire(until deadline: ContinuousClock.Instant) async throws(StoreError) -> Grant? {
        guard !closed else { throw StoreError(code: .closed, reason: "the PostgreSQL store was closed", isRetrySafe: false) }
        if let connection = idle.popLast() {
            inUse += 1
            return .connection(connection)
        }
        if open < size {
            open += 1
            inUse += 1
            peak = max(peak, open)
            return .slot
        }
        let id = nextWaiter
        nextWaiter += 1
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            await self?.expire(id)
        }
        let grant = await withCheckedContinuation { continuation in waiters.append((id, continuation)) }
        timer.cancel()
        return grant
    }

    private func expire(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(returning: nil)
    }

    /// Takes back a connection; a broken one is closed and its place offered to the next waiter.
    func release(_ connection: PostgresConnection?, broken: Bool) {
        if let connection, !broken, !closed {
            if waiters.isEmpty {
                inUse -= 1
                idle.append(connection)
            } else {
                waiters.removeFirst().continuation.resume(returning: .connection(connection))
            }
            return
        }
        connection?.close()
        if !waiters.isEmpty, !closed {
            waiters.removeFirst().continuation.resume(returning: .slot)
        } else {
            open -= 1
            inUse -= 1
        }
    }

    /// Closes idle connections and refuses later calls; lent ones close when given back.
    func close() {
        closed = true
        for connection in idle { connection.close() }
        open -= idle.count
        idle.removeAll()
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
        waiters.removeAll()
    }

    var isClosed: Bool { closed }

    func statistics() -> PostgresPoolStatistics {
        PostgresPoolStatistics(open: open, inUse: inUse, waiting: waiters.count, peakOpen: peak, poolSize: size)
    }
}
