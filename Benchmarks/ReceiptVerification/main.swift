import Foundation
import ReceiptBenchmarkKit

// receipt-bench [--seconds S] [--repetitions N] [--tokens N] [--json FILE] [--svg FILE]
//               [--python PATH --pyjwt-script PATH] [--memory N] [--only EdDSA|ES256|HS256]
// Run it through scripts/bench, which builds in release mode and finds PyJWT.

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("receipt-bench: \(message)\n".utf8))
    exit(2)
}

var configuration = BenchmarkConfiguration()
var jsonPath: String?
var svgPath: String?
var arguments = Array(CommandLine.arguments.dropFirst())
// --profile MODE ALG N: only N verifications of one mode, for callgrind (see Benchmarks/README.md).
if arguments.first == "--profile" {
    guard arguments.count == 4, let mode = BenchmarkMode(rawValue: arguments[1]),
          let algorithm = BenchmarkAlgorithm(rawValue: arguments[2]), let count = Int(arguments[3]) else {
        fail("usage: receipt-bench --profile raw|full|cached EdDSA|ES256|HS256 COUNT")
    }
    do {
        let accepted = try ReceiptBenchmark.profile(mode, algorithm: algorithm, count: count)
        print("\(accepted) of \(count) accepted")
        exit(accepted == count ? 0 : 1)
    } catch {
        fail("\(error)")
    }
}
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    if flag == "--help" || flag == "-h" {
        print("usage: receipt-bench [--seconds S] [--repetitions N] [--tokens N] [--memory N] [--only ALG] [--json FILE] [--svg FILE] [--python PATH --pyjwt-script PATH]")
        exit(0)
    }
    guard !arguments.isEmpty else { fail("\(flag) needs a value") }
    let value = arguments.removeFirst()
    switch flag {
    case "--seconds":
        guard let seconds = Double(value), seconds > 0 else { fail("--seconds must be a positive number") }
        configuration.seconds = seconds
    case "--repetitions":
        guard let count = Int(value), count > 0 else { fail("--repetitions must be a positive whole number") }
        configuration.repetitions = count
    case "--tokens":
        guard let count = Int(value), count > 0 else { fail("--tokens must be a positive whole number") }
        configuration.tokensPerAlgorithm = count
    case "--memory":
        guard let count = Int(value), count >= 0 else { fail("--memory must be a whole number") }
        configuration.memoryVerifications = count
    case "--only":
        guard let algorithm = BenchmarkAlgorithm(rawValue: value) else { fail("--only takes EdDSA, ES256 or HS256") }
        configuration.algorithms = [algorithm]
    case "--json": jsonPath = value
    case "--svg": svgPath = value
    case "--python": configuration.pythonForPyJWT = URL(fileURLWithPath: value)
    case "--pyjwt-script": configuration.pyjwtScript = URL(fileURLWithPath: value)
    default: fail("unknown option \(flag) (see --help)")
    }
}
if configuration.pythonForPyJWT == nil {
    FileHandle.standardError.write(Data("receipt-bench: no --python given: the pyjwt column is left out\n".utf8))
}

do {
    let report = try ReceiptBenchmark(configuration: configuration).run { line in
        FileHandle.standardError.write(Data("  \(line)\n".utf8))
    }
    print(report.table)
    if let jsonPath { try report.jsonData().write(to: URL(fileURLWithPath: jsonPath)) }
    if let svgPath { try report.svg.write(toFile: svgPath, atomically: true, encoding: .utf8) }
} catch {
    FileHandle.standardError.write(Data("receipt-bench: \(error)\n".utf8))
    exit(1)
}
