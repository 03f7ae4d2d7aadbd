import Foundation
import PayRailCrypto

/// Times PyJWT over the same token set in its own Python process; the figure is the one PyJWT's
/// loop reports of itself, so process start-up is not counted against it.
struct PyJWTRunner {
    let python: URL?
    let script: URL?

    func measure(_ set: ReceiptTokenSet, seconds: Double, repetitions: Int) throws -> Measurement {
        guard let python, let script else { throw BenchmarkError("no Python with PyJWT configured") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("receipt-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let jwksURL = directory.appendingPathComponent("jwks.json")
        let tokensURL = directory.appendingPathComponent("tokens.json")
        try JSONEncoder().encode(set.jwks).write(to: jwksURL)
        let tokens = set.tokens.map { ["token": $0.compact, "resource": $0.resource] }
        try JSONSerialization.data(withJSONObject: tokens).write(to: tokensURL)

        let process = Process()
        process.executableURL = python
        process.arguments = [script.path, jwksURL.path, tokensURL.path, String(seconds), String(repetitions)]
        let outputURL = directory.appendingPathComponent("out")
        let errorURL = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let error = String(decoding: (try? Data(contentsOf: errorURL)) ?? Data(), as: UTF8.self)
            throw BenchmarkError("the PyJWT loop failed (exit \(process.terminationStatus)): \(error.suffix(500))")
        }
        struct Output: Decodable { var rates: [Double]; var accepted: Int; var refused: Int }
        let output = try JSONDecoder().decode(Output.self, from: Data(contentsOf: outputURL))
        return Measurement(rates: output.rates, accepted: output.accepted, refused: output.refused)
    }
}
