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
// PostgreSQL too with `--postgres URL` (the database must hold no spends yet). Not a test: see
// Benchmarks/README.md ("Ledger reservations as the day's spends grow").

struct Options {
    var postgres: String?
    var sizes = [0, 1_000, 10_000, 100_000]
    var reservations = 200
    var warmup = 10

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
            default: throw BenchFailure("unknown option \(flag); options: --postgres URL --sizes N,N,… --reservations M --warmup W")
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
            var latencies: [Duration] = []
            for index in 0..<(options.warmup + options.reservations) {
                let at = now.addingTimeInterval(Double(reserved) / 1000)
                let record = SpendRecord(paymentID: "bench-\(reserved)", amount: try Money(amount: 100, unit: .sat), rail: .fake,
                                         host: "api.example", method: "GET", url: "https://api.example/premium?n=\(reserved)",
                                         offerID: "offer-\(reserved)", context: "{\"attempt\":1}", reservedAt: at)
                let begun = ContinuousClock.now
                let outcome = try await target.store.reserve(record, limits: limits, now: at)
                let took = ContinuousClock.now - begun
                guard case .reserved = outcome else { throw BenchFailure("reservation \(reserved) did not succeed: \(outcome)") }
                reserved += 1
                if index >= options.warmup { latencies.append(took) }
            }
            latencies.sort()
            let median = latencies[latencies.count / 2]
            let p99 = latencies[min(latencies.count - 1, Int((Double(latencies.count) * 0.99).rounded(.up)) - 1)]
            print("\(target.name)\tN=\(size)\tM=\(options.reservations)\tmedian \(Self.ms(median)) ms\tp99 \(Self.ms(p99)) ms"
                  + "\t(fill \(Self.ms(fill)) ms)")
        }
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
    let sqlite = try SQLiteSpendStore(path: directory.appendingPathComponent("wallet.sqlite").path)
    try await bench.run(Target(name: "sqlite", store: sqlite, bulk: { try await sqlite.insertUncheckedForBenchmark($0) }))
    await sqlite.close()
    if let url = options.postgres {
        let postgres = try await PostgresSpendStore.open(url: url)
        try await bench.run(Target(name: "postgres", store: postgres, bulk: { try await postgres.insertUncheckedForBenchmark($0) }))
        await postgres.close()
    }
} catch {
    FileHandle.standardError.write(Data("ledger-reserve-bench: \(error)\n".utf8))
    exit(1)
}
