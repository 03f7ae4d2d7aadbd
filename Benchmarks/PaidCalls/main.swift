import FakeRail
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PayRail
import PayRailAgent
import PayRailPostgres
import PayRailReceipts
import PayRailStore
import PayRailWire

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
    var cpuLoops = 0

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
            case "--cpu": cpuLoops = Int(try value(flag)) ?? 0
            default: throw BenchFailure("unknown option \(flag); options: --origin URL --path P --payer FILE --concurrency N --seconds S --warmup S --wallet FILE --json --steps --cpu N")
            }
        }
        guard concurrency > 0, concurrency <= 4096, seconds > 0, warmup >= 0, cpuLoops >= 0 else { throw BenchFailure("bad --concurrency, --seconds or --warmup") }
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
    if options.cpuLoops > 0 { return try await AgentCPU.run(options) }
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

// MARK: - --cpu N: the agent's own work for one paid call, in process, without the network

/// With `--cpu N`: takes one real 402, one real 200 with its receipt and the server's key set from
/// the running server, then repeats N times, in process, the agent's own work on them: reading the
/// offers, negotiating (with a stand-in wallet that quotes without a round trip to the processor),
/// writing the credential fields, and reading and verifying the receipt. Prints each part's median.
/// The step times of `--steps` also hold the wallet's quote and payment, HTTP and the ledger's disk.
enum AgentCPU {
    /// A fake-rail wallet that quotes every offer as free of fees and pays nothing.
    struct QuotingWallet: PayerRail {
        let id = RailID.fake
        func quote(_ offer: Offer) async -> QuoteDecision { .payable(.free(offer.amount)) }
        func pay(_ offer: Offer) async throws(RailError) -> Credential { throw RailError(.unsupported, "stand-in", rail: id) }
    }

    static func run(_ options: Options) async throws {
        let session = URLSession(configuration: .ephemeral)
        let url = try benchURL(options.origin + options.path + "?n=cpu-\(UUID().uuidString)")
        let (body402, response402) = try await session.data(for: URLRequest(url: url))
        guard let http402 = response402 as? HTTPURLResponse, http402.statusCode == 402 else { throw BenchFailure("no 402 at \(url)") }
        let headers402 = fields(http402)
        let binding = X402RequestBinding.http(method: "GET", url: url.absoluteString, body: [], headers: [])

        // One real paid call for a real receipt, and the key set that verifies it.
        let client = try await makeClient(options, walletPath: FileManager.default.temporaryDirectory
            .appendingPathComponent("paid-bench-cpu-\(UUID().uuidString).sqlite").path, steps: nil)
        let paid = try await client.send(PaidRequest(url: try benchURL(options.origin + options.path + "?n=cpu-paid-\(UUID().uuidString)")))
        guard paid.status == 200, let receiptValue = paid.headers[PaymentReceipt.fieldName] else { throw BenchFailure("no paid 200 with a receipt") }
        let (jwks, _) = try await session.data(for: URLRequest(url: try benchURL(options.origin + "/.well-known/payrail/jwks.json")))
        let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwksJSON: jwks))

        let unlimited = try Money(amount: 1_000_000_000, unit: .sat)
        let policy = Policy(unit: .sat, rules: [AllowedRails([.fake]), MaximumPerRequest([unlimited])])
        let negotiator = Negotiator(policy: policy, wallets: WalletRegistry([QuotingWallet()]))
        let voucher = String(repeating: "v", count: 420)
        var times: [String: [UInt64]] = [:]
        // The synchronous parts are timed in the thread's own CPU time, so that other processes
        // on a busy host do not count; negotiating may hop threads, so it is timed on the wall clock.
        func time<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let start = threadCPUNanoseconds()
            let value = try body()
            times[name, default: []].append(threadCPUNanoseconds() - start)
            return value
        }
        for _ in 0..<options.cpuLoops {
            let now = Date()
            let reading = time("read offers") {
                PaymentResponseReader.read(status: 402, headers: headers402, body: [UInt8](body402), receivedAt: now, expectedRequest: binding)
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let negotiation = await negotiator.negotiate(reading.offers, for: NegotiationRequest(url: url, now: now))
            times["negotiate", default: []].append(DispatchTime.now().uptimeNanoseconds - start)
            guard let chosen = negotiation.chosen else { throw BenchFailure("the negotiation chose nothing") }
            let credential = Credential(rail: .fake, offerID: chosen.offer.offer.id, payload: ["voucher": voucher], payerID: "demo-payer")
            _ = try time("credential fields") { try chosen.offer.credentialFields(for: credential, paymentIdentifier: nil) }
            _ = try time("receipt read + verified") { () throws -> ReceiptClaims in
                let receipt = try PaymentReceipt.parse(receiptValue)
                guard let token = receipt.receipt else { throw BenchFailure("the receipt carries no token") }
                return try verifier.verify(token, resource: nil)
            }
        }
        print("agent CPU per paid call, in process, \(options.cpuLoops) loops, 402 of \(body402.count) bytes, "
              + "\(http402.allHeaderFields.count) header fields:")
        for name in ["read offers", "negotiate", "credential fields", "receipt read + verified"] {
            let sorted = (times[name] ?? []).sorted()
            print("  " + name.padding(toLength: 26, withPad: " ", startingAt: 0) + String(format: "p50 %8.1f us", percentile(sorted, 0.5) * 1000))
        }
    }

    static func threadCPUNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func benchURL(_ text: String) throws -> URL {
        guard let url = URL(string: text) else { throw BenchFailure("bad URL \(text)") }
        return url
    }

    static func fields(_ response: HTTPURLResponse) -> HTTPFields {
        var pairs: [(String, String)] = []
        for (name, value) in response.allHeaderFields {
            guard let name = name as? String, let value = value as? String else { continue }
            pairs.append((name, value))
        }
        return HTTPFields(pairs)
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
