import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts

/// How one benchmark run is set up.
public struct BenchmarkConfiguration: Sendable {
    /// Seconds each repetition of each mode runs for.
    public var seconds: Double = 1.0
    /// Repetitions per mode; the median is reported (at least 5 for published figures).
    public var repetitions: Int = 5
    /// Genuine tokens per algorithm (one tampered token is added).
    public var tokensPerAlgorithm: Int = 64
    /// Keys per key set.
    public var keysPerSet: Int = 3
    /// The Python interpreter with PyJWT, or nil to leave the `pyjwt` column out.
    public var pythonForPyJWT: URL?
    /// The PyJWT loop script.
    public var pyjwtScript: URL?
    /// Full verifications between the two RSS readings (0 skips the memory check).
    public var memoryVerifications: Int = 1_000_000
    /// The algorithms to measure.
    public var algorithms: [BenchmarkAlgorithm] = BenchmarkAlgorithm.allCases

    /// The defaults: 1 s repetitions, 5 of them, 64 tokens, 3 keys, one million for the memory check.
    public init() {}
}

/// Median, minimum and maximum of a figure over the repetitions.
public struct Measurement: Sendable {
    /// Operations per second, median of the repetitions.
    public let median: Double
    /// The slowest repetition.
    public let minimum: Double
    /// The fastest repetition.
    public let maximum: Double
    /// Verifications that succeeded and failed in all repetitions (the proof the work was done).
    public let accepted: Int
    /// Verifications refused.
    public let refused: Int
    /// Each repetition's rate, in the order they ran (the modes take turns, so the i-th
    /// repetitions of two modes ran within seconds of each other).
    public let rates: [Double]

    init(rates: [Double], accepted: Int, refused: Int) {
        self.rates = rates
        let sorted = rates.sorted()
        median = PayRailBenchmarkMedian.of(rates)
        minimum = sorted.first ?? 0
        maximum = sorted.last ?? 0
        self.accepted = accepted
        self.refused = refused
    }
}

/// The modes measured for each algorithm, in report order.
public enum BenchmarkMode: String, CaseIterable, Sendable {
    /// OpenSSL's own verification, key loaded, context ready: the limit.
    case raw
    /// `ReceiptVerifier` end to end.
    case full
    /// `CachingReceiptVerifier` on tokens it has seen.
    case cached
    /// `full` on two threads at once, the total.
    case full2Threads = "full_2threads"
    /// PyJWT with `cryptography`, in its own process (taking its turns with the others).
    case pyjwt
}

/// The median of a list (0 when empty).
enum PayRailBenchmarkMedian {
    static func of(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

/// Everything one run measured.
public struct BenchmarkReport: Sendable {
    /// CPU model, core count, OpenSSL version.
    public var cpu: String
    /// Cores available to the process.
    public var cores: Int
    /// OpenSSL's version text.
    public var openssl: String
    /// Figures per algorithm and mode.
    public var results: [BenchmarkAlgorithm: [BenchmarkMode: Measurement]] = [:]
    /// Resident memory after the first thousand full verifications, bytes.
    public var rssAfterThousand: Int?
    /// Resident memory after all of `memoryVerifications`, bytes.
    public var rssAfterAll: Int?
    /// How many verifications the memory check ran.
    public var memoryVerifications: Int = 0
}

/// Runs the receipt verification benchmark.
public struct ReceiptBenchmark {
    /// The set-up.
    public let configuration: BenchmarkConfiguration

    /// Makes a benchmark.
    public init(configuration: BenchmarkConfiguration) { self.configuration = configuration }

    /// Runs every mode for every algorithm; `progress` gets one line per finished figure.
    public func run(progress: (String) -> Void = { _ in }) throws -> BenchmarkReport {
        var report = BenchmarkReport(cpu: Self.cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount,
                                     openssl: OpenSSLBaseline.openSSLVersion)
        var sets: [BenchmarkAlgorithm: ReceiptTokenSet] = [:]
        for algorithm in configuration.algorithms {
            let set = try ReceiptTokenSet(algorithm: algorithm, count: configuration.tokensPerAlgorithm,
                                          keyCount: configuration.keysPerSet)
            sets[algorithm] = set
            var figures: [BenchmarkMode: Measurement] = [:]
            // The modes take turns, one repetition each (A B C D E, B C D E A, ...), so a change in
            // the machine's load during the run touches every mode alike. PyJWT's process takes its
            // turns too.
            var modes: [BenchmarkMode] = [.raw, .full, .cached, .full2Threads]
            var repetitions = try modes.map { mode -> () throws -> (accepted: Int, refused: Int, seconds: Double) in
                let repetition = try makeRepetition(mode, set)
                return { repetition() }
            }
            if let python = configuration.pythonForPyJWT {
                guard let script = configuration.pyjwtScript else { throw BenchmarkError("--python needs --pyjwt-script") }
                let worker = try PyJWTWorker(python: python, script: script, set: set, seconds: configuration.seconds)
                modes.append(.pyjwt)
                repetitions.append { try worker.repetition() }
            }
            // Each round starts one mode later than the one before, so that no mode always follows
            // the same neighbour (PyJWT's process right after the two busy threads, say).
            var outcomes: [[(accepted: Int, refused: Int, seconds: Double)]] = Array(repeating: [], count: modes.count)
            for round in 0..<max(1, configuration.repetitions) {
                for step in modes.indices {
                    let index = (round + step) % modes.count
                    outcomes[index].append(try repetitions[index]())
                }
            }
            for (index, mode) in modes.enumerated() {
                let runs = outcomes[index]
                let measurement = Measurement(
                    rates: runs.map { Double($0.accepted + $0.refused) / $0.seconds },
                    accepted: runs.reduce(0) { $0 + $1.accepted }, refused: runs.reduce(0) { $0 + $1.refused })
                try check(measurement, set: set, mode: mode)
                figures[mode] = measurement
                progress("\(algorithm.rawValue) \(mode.rawValue): \(Int(measurement.median)) per second")
            }
            report.results[algorithm] = figures
        }
        if configuration.memoryVerifications > 0 {
            let memory = try memoryCheck(sets: sets)
            report.rssAfterThousand = memory.afterThousand
            report.rssAfterAll = memory.afterAll
            report.memoryVerifications = configuration.memoryVerifications
        }
        return report
    }

    /// Every pass must accept exactly the genuine tokens and refuse the tampered one.
    private func check(_ measurement: Measurement, set: ReceiptTokenSet, mode: BenchmarkMode) throws {
        let passes = (measurement.accepted + measurement.refused) / set.tokens.count
        guard passes > 0, measurement.accepted == passes * set.genuineCount,
              measurement.refused == passes * (set.tokens.count - set.genuineCount) else {
            throw BenchmarkError("\(set.algorithm.rawValue) \(mode.rawValue): \(measurement.accepted) accepted and \(measurement.refused) refused is not whole passes of \(set.genuineCount) genuine and 1 tampered token")
        }
    }

    /// One timed repetition of an in-process mode, ready to run again and again.
    private func makeRepetition(_ mode: BenchmarkMode, _ set: ReceiptTokenSet) throws -> () -> (accepted: Int, refused: Int, seconds: Double) {
        switch mode {
        case .raw:
            let handles = try set.makeBaseline()
            return { passes(set) { token in handles[token.keyIndex].verify(token.signingInput, token.opensslSignature) } }
        case .full:
            let verifier = try makeVerifier(set)
            return { passes(set) { token in Self.accepts(verifier, token) } }
        case .cached:
            let cache = CachingReceiptVerifier(verifier: try makeVerifier(set), capacity: 4096)
            for token in set.tokens { _ = try? cache.verify(token.compact, resource: token.resource) }
            return { passes(set) { token in Self.accepts(cache, token) } }
        case .full2Threads:
            let verifier = try makeVerifier(set)
            return { twoThreads(set) { token in Self.accepts(verifier, token) } }
        case .pyjwt:
            throw BenchmarkError("pyjwt runs in its own process (PyJWTWorker), not as an in-process repetition")
        }
    }

    // Accepted or refused, without wrapping the claims in an Optional first (`try?`): destroying
    // that Optional goes through generic value witnesses, a cost of the harness, not of verifying.
    @inline(__always)
    static func accepts(_ verifier: ReceiptVerifier, _ token: ReceiptTokenSet.Token) -> Bool {
        accepts { () throws(ReceiptVerificationError) in try verifier.verify(token.compact, resource: token.resource) }
    }

    @inline(__always)
    static func accepts(_ verifier: CachingReceiptVerifier, _ token: ReceiptTokenSet.Token) -> Bool {
        accepts { () throws(ReceiptVerificationError) in try verifier.verify(token.compact, resource: token.resource) }
    }

    @inline(__always)
    private static func accepts(_ verify: () throws(ReceiptVerificationError) -> ReceiptClaims) -> Bool {
        do {
            _ = try verify()
            return true
        } catch {
            return false
        }
    }

    private func makeVerifier(_ set: ReceiptTokenSet) throws -> ReceiptVerifier {
        ReceiptVerifier(keys: try ReceiptKeySet(jwks: set.jwks))
    }

    /// Whole passes over the token set until the interval is over.
    private func passes(_ set: ReceiptTokenSet, _ verify: (ReceiptTokenSet.Token) -> Bool) -> (accepted: Int, refused: Int, seconds: Double) {
        var accepted = 0, refused = 0
        let start = DispatchTime.now().uptimeNanoseconds
        let limit = UInt64(configuration.seconds * 1e9)
        var elapsed: UInt64 = 0
        // Tokens are borrowed from the array's buffer: a `for token in` loop would copy each one
        // (five reference counts up and down per token), a cost of the harness in every mode.
        set.tokens.withUnsafeBufferPointer { tokens in
            repeat {
                for index in tokens.indices {
                    if verify(tokens[index]) { accepted += 1 } else { refused += 1 }
                }
                elapsed = DispatchTime.now().uptimeNanoseconds - start
            } while elapsed < limit
        }
        return (accepted, refused, Double(elapsed) / 1e9)
    }

    /// The same on two threads started together; the total over the longer of the two intervals.
    private func twoThreads(_ set: ReceiptTokenSet, _ verify: @escaping @Sendable (ReceiptTokenSet.Token) -> Bool) -> (accepted: Int, refused: Int, seconds: Double) {
        final class Box: @unchecked Sendable {
            var outcomes: [(accepted: Int, refused: Int, seconds: Double)] = []
            let lock = NSLock()
        }
        let box = Box()
        let group = DispatchGroup()
        let seconds = configuration.seconds
        for _ in 0..<2 {
            // Each thread verifies its own copy of the tokens, as two requests would (see withOwnStorage).
            let tokens = set.tokens.map { $0.withOwnStorage() }
            group.enter()
            let thread = Thread {
                var accepted = 0, refused = 0
                let start = DispatchTime.now().uptimeNanoseconds
                let limit = UInt64(seconds * 1e9)
                var elapsed: UInt64 = 0
                tokens.withUnsafeBufferPointer { tokens in
                    repeat {
                        for index in tokens.indices {
                            if verify(tokens[index]) { accepted += 1 } else { refused += 1 }
                        }
                        elapsed = DispatchTime.now().uptimeNanoseconds - start
                    } while elapsed < limit
                }
                box.lock.lock()
                box.outcomes.append((accepted, refused, Double(elapsed) / 1e9))
                box.lock.unlock()
                group.leave()
            }
            thread.start()
        }
        group.wait()
        let accepted = box.outcomes.reduce(0) { $0 + $1.accepted }
        let refused = box.outcomes.reduce(0) { $0 + $1.refused }
        let longest = box.outcomes.map(\.seconds).max() ?? seconds
        return (accepted, refused, longest)
    }

    /// RSS after 1,000 full verifications and after `memoryVerifications`, over every algorithm in
    /// turn (HS256 gets the bulk: it is the fastest, so a leak per call would show soonest).
    private func memoryCheck(sets: [BenchmarkAlgorithm: ReceiptTokenSet]) throws -> (afterThousand: Int, afterAll: Int) {
        let verifiers = try sets.mapValues { try makeVerifier($0) }
        let order: [BenchmarkAlgorithm] = BenchmarkAlgorithm.allCases.filter { sets[$0] != nil }
        var done = 0
        var afterThousand = 0
        let total = configuration.memoryVerifications
        var round = 0
        while done < total {
            // One round: a few asymmetric verifications, then a burst of HMAC ones.
            for algorithm in order {
                guard let set = sets[algorithm], let verifier = verifiers[algorithm] else { continue }
                let burst = algorithm == .HS256 || order.count == 1 ? 1000 : 10
                for index in 0..<burst where done < total {
                    let token = set.tokens[(round &* 7 &+ index) % set.tokens.count]
                    _ = try? verifier.verify(token.compact, resource: token.resource)
                    done += 1
                    if done == 1000 { afterThousand = Self.residentBytes() }
                }
            }
            round += 1
        }
        if afterThousand == 0 { afterThousand = Self.residentBytes() }
        return (afterThousand, Self.residentBytes())
    }

    /// Resident set size from /proc/self/statm (0 where it is not available).
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The CPU model from /proc/cpuinfo.
    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }
}

extension ReceiptBenchmark {
    /// Runs `count` verifications of one mode over one algorithm's tokens and nothing else, for
    /// instruction counting under `valgrind --tool=callgrind` (repeatable where timings are not).
    /// Returns how many were accepted.
    public static func profile(_ mode: BenchmarkMode, algorithm: BenchmarkAlgorithm, count: Int) throws -> Int {
        let set = try ReceiptTokenSet(algorithm: algorithm, count: 64)
        let genuine = set.tokens.filter(\.isGenuine)
        var accepted = 0
        switch mode {
        case .raw:
            let handles = try set.makeBaseline()
            for index in 0..<count {
                let token = genuine[index % genuine.count]
                if handles[token.keyIndex].verify(token.signingInput, token.opensslSignature) { accepted += 1 }
            }
        case .full, .full2Threads, .pyjwt:
            let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: set.jwks))
            for index in 0..<count {
                let token = genuine[index % genuine.count]
                if Self.accepts(verifier, token) { accepted += 1 }
            }
        case .cached:
            let cache = CachingReceiptVerifier(verifier: ReceiptVerifier(keys: try ReceiptKeySet(jwks: set.jwks)))
            for index in 0..<count {
                let token = genuine[index % genuine.count]
                if Self.accepts(cache, token) { accepted += 1 }
            }
        }
        return accepted
    }
}
