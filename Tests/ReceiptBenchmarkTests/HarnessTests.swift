import Foundation
import PayRailTestPeers
import ReceiptBenchmarkKit
import Testing

/// The benchmark harness on a tiny set: counts and refusals, never timings.
@Suite("Receipt verification benchmark harness")
struct HarnessTests {
    static let pyjwtScript = PythonPeer.packageRoot.appendingPathComponent("Benchmarks/ReceiptVerification/Peers/pyjwt_loop.py")

    @Test("every mode verifies whole passes: the genuine tokens accepted, the tampered one refused")
    func tinyRun() throws {
        var configuration = BenchmarkConfiguration()
        configuration.seconds = 0.02
        configuration.repetitions = 2
        configuration.tokensPerAlgorithm = 4
        configuration.keysPerSet = 2
        configuration.memoryVerifications = 3000
        configuration.pythonForPyJWT = try PythonPeer.interpreter()
        configuration.pyjwtScript = Self.pyjwtScript
        let report = try ReceiptBenchmark(configuration: configuration).run()

        for algorithm in BenchmarkAlgorithm.allCases {
            let figures = try #require(report.results[algorithm])
            #expect(Set(figures.keys) == Set(BenchmarkMode.allCases), "\(algorithm)")
            for (mode, measurement) in figures {
                let total = measurement.accepted + measurement.refused
                #expect(total > 0 && total % 5 == 0, "\(algorithm) \(mode): \(total) is not whole passes of 5 tokens")
                #expect(measurement.refused * 4 == measurement.accepted, "\(algorithm) \(mode): \(measurement.accepted) accepted, \(measurement.refused) refused")
                #expect(measurement.minimum <= measurement.median && measurement.median <= measurement.maximum)
                #expect(measurement.median > 0)
            }
        }
        #expect(report.memoryVerifications == 3000)
        #expect((report.rssAfterThousand ?? 0) > 0 && (report.rssAfterAll ?? 0) > 0)

        // The JSON other tools read has exactly the documented shape.
        let json = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        #expect(Set(json.keys) == ["machine", "results"])
        let machine = try #require(json["machine"] as? [String: Any])
        #expect(Set(machine.keys) == ["cpu", "cores", "openssl"])
        #expect((machine["openssl"] as? String)?.hasPrefix("OpenSSL 3") == true)
        #expect(machine["cores"] as? Int == ProcessInfo.processInfo.activeProcessorCount)
        let results = try #require(json["results"] as? [String: [String: Any]])
        #expect(Set(results.keys) == ["EdDSA", "ES256", "HS256"])
        for row in results.values {
            #expect(Set(row.keys) == ["raw", "full", "cached", "full_2threads", "pyjwt"])
            #expect(row.values.allSatisfy { $0 is NSNumber })
        }

        let svg = report.svg
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.components(separatedBy: "<rect ").count - 1 == 15 + 5)  // 15 bars and 5 legend keys
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(report.table.contains("full/raw"))
    }

    @Test("a token set holds realistic claims and exactly one tampered token")
    func tokenSet() throws {
        let set = try ReceiptTokenSet(algorithm: .ES256, count: 6, keyCount: 3)
        #expect(set.tokens.count == 7)
        #expect(set.genuineCount == 6)
        #expect(set.tokens.last?.isGenuine == false)
        #expect(Set(set.tokens.map(\.keyID)).count == 3)
        #expect(set.jwks.keys.count == 3)
    }

    @Test("profile mode runs exactly the asked number of verifications", arguments: [BenchmarkMode.raw, .full, .cached])
    func profileMode(mode: BenchmarkMode) throws {
        #expect(try ReceiptBenchmark.profile(mode, algorithm: .HS256, count: 100) == 100)
    }
}
