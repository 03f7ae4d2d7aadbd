import Foundation
import PayRail
import PayRailPostgres
import PayRailStore

// ledger-reserve-bench: what one budget reservation costs as the day's spends grow. For each ledger
// size N (ascending) the ledger is topped up to N spends inside the day window (one bulk write, rows
// exactly as `reserve` then `commit` or `release` leave them: nine committed, one released in every
// ten, evenly spread over the last 24 hours in insertion order as a live ledger is, so about 1/24 of
// them in the hour), then M reservations that all
// succeed are timed one after another (hourly and daily caps set, so every window is checked) and
// the median and p99 printed. SQLite always (a fresh wallet file in a temporary directory);
// PostgreSQL too with `--postgres URL` (the database must hold no spends yet). With
// `--with-refusals`, each size is measured a second time while another store on the same ledger (as
// another agent process would hold) asks, every 10 ms, for a reservation its daily cap refuses, each
// of which reads the day's spends to say when it would fit. Not a test: see Benchmarks/README.md
// ("Ledger reservations as the day's spends grow").

struct Options {
    var postgres: String?
    var sizes = [0, 1_000, 10_000, 100_000]
    var reservations = 200
    var warmup = 10
    var withRefusals = false

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        func value(_ flag: String) throws -> String {
            guard let next = rest.popFirst() else { throw BenchFailure("\(flag) needs a value") }
            return next
        }
        while let flag = rest.popFirst() {
            switch flag {
            case "--postgres": postgres = try value(flag)
            case "--sizes": sizes = try value(flag).split(separator: ",").map { Int($0) ?? -1 }
            case "--reservations": reservations = Int(try value(flag)) ?? 0
            case "--warmup": warmup = Int(try value(flag)) ?? -1
            case "--with-refusals": withRefusals = true
            default:
                throw BenchFailure("unknown option \(flag); options: --postgres URL --sizes N,N,… --reservations M --warmup W --with-refusals")
            }
        }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 0 }), sizes == sizes.sorted(), reservations > 0, warmup >= 0 else {
            throw BenchFailure("--sizes must be ascending counts, --reservations positive, --warmup not negative")
        }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The store under test and its bulk path.
struct Target {
    let name: String
    let store: any SpendStore
    let bulk: ([SpendRecord]) async throws -> Void
    /// A second store on the same ledger, for `--with-refusals`.
    let contender: (any SpendStore)?
}

/// Fills and measures one store, size after size, printing one line per size.
struct Bench {
    let options: Options
    let now = Date(timeIntervalSince1970: floor(Date().timeIntervalSince1970))
    let limits: SpendLimits

    init(options: Options) throws {
        self.options = options
        let big = try Money(amount: 1_000_000_000_000_000, unit: .sat)
        limits = SpendLimits([.sat: SpendLimits.Limit(perRequest: try Money(amount: 1_000, unit: .sat), perHour: big, perDay: big)])
    }

    func run(_ target: Target) async throws {
        guard try await target.store.records(since: nil).isEmpty else {
            throw BenchFailure("the \(target.name) ledger already holds spends: give the bench an empty database")
        }
        var filled = 0
        var reserved = 0
        for size in options.sizes {
            // Reservations of earlier sizes are in the window too; top up what is missing to `size`.
            let missing = max(0, size - filled - reserved)
            let started = ContinuousClock.now
            try await target.bulk(try (0..<missing).map { try spend(filled + $0, at: $0, of: missing) })
            filled += missing
            let fill = ContinuousClock.now - started
            let latencies = try await measure(target.store, from: &reserved)
            print("\(target.name)\tN=\(size)\tM=\(options.reservations)\t\(Self.summary(latencies))\t(fill \(Self.ms(fill)) ms)")
            guard options.withRefusals, let contender = target.contender else { continue }
            let refusals = Task { try await refuse(contender) }
            let contended = try await measure(target.store, from: &reserved)
            refusals.cancel()
            let refused = try await refusals.value
            print("\(target.name)+refusals\tN=\(size)\tM=\(options.reservations)\t\(Self.summary(contended))"
                  + "\t(\(refused.count) refusals meanwhile, median \(Self.ms(refused.median)) ms each)")
        }
    }

    /// Times `warmup + reservations` reservations that all succeed, one after another; returns the
    /// measured ones' latencies, sorted.
    func measure(_ store: any SpendStore, from reserved: inout Int) async throws -> [Duration] {
        var latencies: [Duration] = []
        for index in 0..<(options.warmup + options.reservations) {
            let at = now.addingTimeInterval(Double(reserved) / 1000)
            let record = SpendRecord(paymentID: "bench-\(reserved)", amount: try Money(amount: 100, unit: .sat), rail: .fake,
                                     host: "api.example", method: "GET", url: "https://api.example/premium?n=\(reserved)",
                                     offerID: "offer-\(reserved)", context: "{\"attempt\":1}", reservedAt: at)
            let begun = ContinuousClock.now
            let outcome = try await store.reserve(record, limits: limits, now: at)
            let took = ContinuousClock.now - begun
            guard case .reserved = outcome else { throw BenchFailure("reservation \(reserved) did not succeed: \(outcome)") }
            reserved += 1
            if index >= options.warmup { latencies.append(took) }
        }
        return latencies.sorted()
    }

    /// Asks `store` for reservations a one-sat daily cap refuses, one every 10 ms at most (the same
    /// load whichever way a store computes refusals), until cancelled; returns how many and the
    /// median time one took.
    func refuse(_ store: any SpendStore) async throws -> (count: Int, median: Duration) {
        let tight = SpendLimits([.sat: SpendLimits.Limit(perDay: try Money(amount: 1, unit: .sat))])
        var took: [Duration] = []
        while !Task.isCancelled {
            let count = took.count
            let record = SpendRecord(paymentID: "refused-\(count)", amount: try Money(amount: 100, unit: .sat), rail: .fake,
                                     host: "api.example", method: "GET", url: "https://api.example/premium?refused=\(count)",
                                     offerID: "offer-refused-\(count)", context: "{\"attempt\":1}", reservedAt: now)
            let begun = ContinuousClock.now
            guard case .refused = try await store.reserve(record, limits: tight, now: now) else {
                throw BenchFailure("a reservation over a one-sat daily cap was not refused")
            }
            took.append(ContinuousClock.now - begun)
            try? await Task.sleep(for: .milliseconds(10))
        }
        return (took.count, took.sorted()[took.count / 2])
    }

    static func summary(_ sorted: [Duration]) -> String {
        let median = sorted[sorted.count / 2]
        let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
        return "median \(ms(median)) ms\tp99 \(ms(p99)) ms"
    }

    /// The k-th prefilled spend, the `index`-th of a batch of `count`: batches spread evenly over the
    /// day window (from 86,000 s ago to 1 s ago), oldest first, so time order is insertion order.
    func spend(_ k: Int, at index: Int, of count: Int) throws -> SpendRecord {
        let at = now.addingTimeInterval(-86_000 + 85_999 * Double(index) / Double(max(1, count)))
        let released = k % 10 == 9
        return SpendRecord(paymentID: "fill-\(k)", state: released ? .released : .committed, amount: try Money(amount: 100, unit: .sat),
                           rail: .fake, host: "api.example", method: "GET", url: "https://api.example/premium?fill=\(k)",
                           offerID: "offer-fill-\(k)", context: "{\"attempt\":1}", proof: nil, receipt: released ? nil : "receipt-\(k)",
                           reference: released ? nil : "pay_\(k)", note: released ? "the server answered 500 before payment" : nil,
                           reservedAt: at, updatedAt: at.addingTimeInterval(1))
    }

    static func ms(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.3f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    let bench = try Bench(options: options)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-reserve-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("wallet.sqlite").path
    let sqlite = try SQLiteSpendStore(path: path)
    let otherSQLite = options.withRefusals ? try SQLiteSpendStore(path: path) : nil
    try await bench.run(Target(name: "sqlite", store: sqlite, bulk: { try await sqlite.insertUncheckedForBenchmark($0) },
                               contender: otherSQLite))
    await sqlite.close()
    await otherSQLite?.close()
    if let url = options.postgres {
        let postgres = try await PostgresSpendStore.open(url: url)
        let otherPostgres = options.withRefusals ? try await PostgresSpendStore.open(url: url) : nil
        try await bench.run(Target(name: "postgres", store: postgres, bulk: { try await postgres.insertUncheckedForBenchmark($0) },
                                   contender: otherPostgres))
        await postgres.close()
        await otherPostgres?.close()
    }
} catch {
    FileHandle.standardError.write(Data("ledger-reserve-bench: \(error)\n".utf8))
    exit(1)
}
