import FakeRail
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PayRail
import PayRailAgent
import PayRailPostgres
import PayRailStore

// paid-bench: one PayingClient, N calls in flight, against a running `payrail serve` on the fake rail.
// Every call is a full cycle with a fresh payment (402, pay at the processor, present, 200 with a
// receipt), because each asks for its own URL (`/premium?n=<i>`) and a receipt is bound to its URL.
// It prints paid calls per second and the latency percentiles of a paid call, as one JSON line with
// `--json`. The spend ledger is a SQLite file (default, in a temporary directory) or, with
// `--wallet postgres://…`, PostgreSQL. Not a test: see Benchmarks/README.md.

struct Options {
    var origin = "http://127.0.0.1:8402"
    var path = "/premium"
    var payerFile = ".payrail/fake-payer.json"
    var concurrency = 64
    var seconds = 5.0
    var warmup = 1.0
    var wallet: String?
    var json = false
    var steps = false

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        func value(_ flag: String) throws -> String {
            guard let next = rest.popFirst() else { throw BenchFailure("\(flag) needs a value") }
            return next
        }
        while let flag = rest.popFirst() {
            switch flag {
            case "--origin": origin = try value(flag)
            case "--path": path = try value(flag)
            case "--payer": payerFile = try value(flag)
            case "--concurrency": concurrency = Int(try value(flag)) ?? 0
            case "--seconds": seconds = Double(try value(flag)) ?? 0
            case "--warmup": warmup = Double(try value(flag)) ?? -1
            case "--wallet": wallet = try value(flag)
            case "--json": json = true
            case "--steps": steps = true
            default: throw BenchFailure("unknown option \(flag); options: --origin URL --path P --payer FILE --concurrency N --seconds S --warmup S --wallet FILE --json --steps")
            }
        }
        guard concurrency > 0, concurrency <= 4096, seconds > 0, warmup >= 0 else { throw BenchFailure("bad --concurrency, --seconds or --warmup") }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Collects latencies of the measured window (nanoseconds) and failures, from many tasks.
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var latencies: [UInt64] = []
    private var failures: [String: Int] = [:]
    func add(_ nanoseconds: UInt64) { lock.withLock { latencies.append(nanoseconds) } }
    func fail(_ reason: String) { lock.withLock { failures[reason, default: 0] += 1 } }
    var snapshot: ([UInt64], [String: Int]) { lock.withLock { (latencies, failures) } }
}

/// With `--steps`: the time from one step of a paid call to the next (PayingClient events), each
/// step's median over the calls. Meaningful with one call in flight (the events carry no call id).
final class StepClock: @unchecked Sendable {
    private let lock = NSLock()
    private var last: (name: String, at: UInt64)?
    private var gaps: [String: [UInt64]] = [:]
    private var order: [String] = []

    func mark(_ name: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        lock.withLock {
            if let last {
                let step = last.name + " -> " + name
                if gaps[step] == nil { order.append(step) }
                gaps[step, default: []].append(now - last.at)
            }
            last = (name, now)
        }
    }

    func report() -> String {
        lock.withLock {
            order.map { step in
                let sorted = (gaps[step] ?? []).sorted()
                return String(format: "  %-34@ p50 %7.2f ms (%d)", step as NSString, percentile(sorted, 0.5), sorted.count)
            }.joined(separator: "\n")
        }
    }

    static func name(_ event: PayingClientEvent) -> String {
        switch event {
        case .challenged: return "402 read"
        case .negotiated: return "negotiated"
        case .reserved: return "reserved (ledger)"
        case .released: return "released"
        case .paid: return "paid (processor, ledger)"
        case .presenting: return "presenting"
        case .resuming: return "resuming"
        case .receipt: return "200 + receipt"
        case .committed: return "committed (ledger)"
        @unknown default: return "other"
        }
    }
}

func makeClient(_ options: Options, walletPath: String, steps: StepClock?) async throws -> PayingClient {
    let payer = try FakePayerFile(contentsOf: URL(fileURLWithPath: options.payerFile))
    let unlimited = try Money(amount: 1_000_000_000, unit: .sat)
    let limits = SpendLimits([.sat: .init(perRequest: unlimited, perHour: unlimited, perDay: unlimited)])
    let store: any SpendStore
    if walletPath.hasPrefix("postgres://") || walletPath.hasPrefix("postgresql://") {
        store = try await PostgresSpendStore.open(url: walletPath, options: PostgresStoreOptions(poolSize: 16))
    } else {
        store = try SQLiteSpendStore(path: walletPath)
    }
    let governor = SpendGovernor(store: store, limits: limits)
    let policy = Policy(unit: .sat, rules: [AllowedRails([.fake]), MaximumPerRequest([unlimited])])
    let session = URLSession(configuration: .ephemeral)
    let negotiator = Negotiator(policy: policy, wallets: WalletRegistry([payer.wallet(session: session)]))
    var configuration = PayingClientConfiguration(negotiator: negotiator, governor: governor, requestTimeout: 30)
    if let steps { configuration.onEvent = { steps.mark(StepClock.name($0)) } }
    return PayingClient(configuration: configuration)
}

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
    return Double(sorted[max(0, index)]) / 1e6
}

func run() async throws {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paid-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let walletPath = options.wallet ?? directory.appendingPathComponent("wallet.sqlite").path
    let steps = options.steps ? StepClock() : nil
    let client = try await makeClient(options, walletPath: walletPath, steps: steps)
    let tally = Tally()
    let start = DispatchTime.now().uptimeNanoseconds
    let measureFrom = start + UInt64(options.warmup * 1e9)
    let end = measureFrom + UInt64(options.seconds * 1e9)
    let counter = Counter()
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<options.concurrency {
            group.addTask {
                while true {
                    let began = DispatchTime.now().uptimeNanoseconds
                    guard began < end, let url = URL(string: options.origin + options.path + "?n=\(counter.next())") else { return }
                    do {
                        steps?.mark("start")
                        let response = try await client.send(PaidRequest(url: url))
                        steps?.mark("end")
                        let finished = DispatchTime.now().uptimeNanoseconds
                        guard response.status == 200 else { if began >= measureFrom { tally.fail("status \(response.status)") }; continue }
                        if began >= measureFrom && finished <= end { tally.add(finished - began) }
                    } catch {
                        if began >= measureFrom { tally.fail(String(describing: error).prefix(120).description) }
                    }
                }
            }
        }
    }
    let (latencies, failures) = tally.snapshot
    let sorted = latencies.sorted()
    let rate = Double(sorted.count) / options.seconds
    let failed = failures.values.reduce(0, +)
    if options.json {
        let line = String(format: "{\"paidPerSecond\":%.1f,\"p50Ms\":%.2f,\"p99Ms\":%.2f,\"calls\":%d,\"failures\":%d,\"concurrency\":%d,\"seconds\":%.1f}",
                          rate, percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.count, failed, options.concurrency, options.seconds)
        print(line)
    } else {
        print(String(format: "paid calls: %d in %.1f s (%.1f/s), p50 %.2f ms, p99 %.2f ms, %d in flight, %d failed",
                     sorted.count, options.seconds, rate, percentile(sorted, 0.5), percentile(sorted, 0.99), options.concurrency, failed))
    }
    if let steps { print("steps of a paid call:\n" + steps.report()) }
    for (reason, count) in failures.sorted(by: { $0.value > $1.value }).prefix(5) {
        FileHandle.standardError.write(Data("paid-bench: \(count) x \(reason)\n".utf8))
    }
}

/// Numbers the calls so each asks for its own URL.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}

do { try await run() } catch {
    FileHandle.standardError.write(Data("paid-bench: \(error)\n".utf8))
    exit(1)
}
