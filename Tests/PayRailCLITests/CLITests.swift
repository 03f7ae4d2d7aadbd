import Foundation
import Testing

/// Runs the built `payrail` binary as a user would.
struct PayRail {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The binary sits beside the test bundle in the build products directory.
    static let binary: URL = {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [products, products.deletingLastPathComponent()].map { $0.appendingPathComponent("payrail") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    static func run(_ arguments: [String], stdin: String = "") throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let paths = ["in", "out", "err"].map { scratch.appendingPathComponent($0) }
        try Data(stdin.utf8).write(to: paths[0])
        _ = FileManager.default.createFile(atPath: paths[1].path, contents: nil)
        _ = FileManager.default.createFile(atPath: paths[2].path, contents: nil)
        process.standardInput = try FileHandle(forReadingFrom: paths[0])
        process.standardOutput = try FileHandle(forWritingTo: paths[1])
        process.standardError = try FileHandle(forWritingTo: paths[2])
        try process.run()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: try Data(contentsOf: paths[1]), as: UTF8.self),
                      stderr: String(decoding: try Data(contentsOf: paths[2]), as: UTF8.self))
    }
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-cli-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func permissions(_ url: URL) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

let sampleClaims = #"{"iss":"api.example","sub":"GET /x","jti":"c1","method":"fake","amount":"100","currency":"sat","ref":"r1"}"#

@Suite("payrail command line")
struct CLITests {
    @Test("--version and --help on every command")
    func versionAndHelp() throws {
        let version = try PayRail.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("payrail "))
        for command in [["keys", "generate"], ["receipt", "sign"], ["receipt", "verify"], ["demo"]] {
            let help = try PayRail.run(command + ["--help"])
            #expect(help.status == 0, "\(command) --help")
            #expect(help.stdout.contains("usage: payrail \(command.joined(separator: " "))"))
        }
        let overview = try PayRail.run(["--help"])
        #expect(overview.status == 0)
        #expect(overview.stdout.contains("receipt verify"))
        #expect(try PayRail.run(["keys", "generate", "--help"]).stdout.contains("0600"))
    }

    @Test("usage errors exit 2 with one line on stderr")
    func usageErrors() throws {
        let cases: [[String]] = [
            [], ["frobnicate"], ["keys", "generate"], ["keys", "generate", "--alg", "rsa", "--out", "/tmp/x"],
            ["receipt", "verify", "--jwks", "j.json", "--resource", "GET /x"],
            ["receipt", "verify", "--jwks", "j", "--resource", "GET /x", "t", "extra"],
            ["receipt", "sign", "--key", "k", "--kid", "k", "--claims", "{}", "--bogus"],
        ]
        for arguments in cases {
            let result = try PayRail.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            if !arguments.isEmpty {
                #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
                #expect(result.stderr.hasPrefix("payrail: "))
            }
        }
    }

    @Test("keys generate writes a private key file and the key set with the right modes", arguments: ["ed25519", "es256", "hs256"])
    func keysGenerate(alg: String) throws {
        let directory = try temporaryDirectory().appendingPathComponent("keys")
        let result = try PayRail.run(["keys", "generate", "--alg", alg, "--out", directory.path, "--kid", "k-\(alg)"])
        #expect(result.status == 0, "\(result.stderr)")
        let keyFile = directory.appendingPathComponent(alg == "hs256" ? "k-\(alg).secret" : "k-\(alg).pem")
        #expect(try permissions(keyFile) == 0o600)
        let jwksURL = directory.appendingPathComponent("jwks.json")
        #expect(try permissions(jwksURL) == (alg == "hs256" ? 0o600 : 0o644))
        let jwks = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: jwksURL)) as? [String: Any])
        let keys = try #require(jwks["keys"] as? [[String: Any]])
        #expect(keys.count == 1)
        #expect(keys[0]["kid"] as? String == "k-\(alg)")
        #expect(keys[0]["d"] == nil)
        #expect(keys[0]["kty"] as? String == ["ed25519": "OKP", "es256": "EC", "hs256": "oct"][alg])
        let text = try String(contentsOf: keyFile, encoding: .utf8)
        #expect(alg == "hs256" ? !text.contains("BEGIN") : text.hasPrefix("-----BEGIN PRIVATE KEY-----"))

        // A second key is added to the same set; the same kid again is refused and nothing is overwritten.
        #expect(try PayRail.run(["keys", "generate", "--alg", "ed25519", "--out", directory.path]).status == 0)
        let again = try PayRail.run(["keys", "generate", "--alg", alg, "--out", directory.path, "--kid", "k-\(alg)"])
        #expect(again.status == 1)
        #expect(try String(contentsOf: keyFile, encoding: .utf8) == text)
        let grown = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: jwksURL)) as? [String: Any])
        #expect((grown["keys"] as? [Any])?.count == 2)
    }

    @Test("sign then verify, for every algorithm; --json prints the claims", arguments: ["ed25519", "es256", "hs256"])
    func signAndVerify(alg: String) throws {
        let directory = try temporaryDirectory()
        #expect(try PayRail.run(["keys", "generate", "--alg", alg, "--out", directory.path, "--kid", "k1"]).status == 0)
        let keyFile = directory.appendingPathComponent(alg == "hs256" ? "k1.secret" : "k1.pem").path
        let signed = try PayRail.run(["receipt", "sign", "--key", keyFile, "--kid", "k1", "--claims", sampleClaims])
        #expect(signed.status == 0, "\(signed.stderr)")
        let token = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.split(separator: ".").count == 3)
        let jwks = directory.appendingPathComponent("jwks.json").path

        let verified = try PayRail.run(["receipt", "verify", "--jwks", jwks, "--resource", "GET /x", token])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains("amount: 100"))

        let json = try PayRail.run(["receipt", "verify", "--jwks", jwks, "--resource", "GET /x", "--json", token])
        #expect(json.status == 0)
        let claims = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(claims["sub"] as? String == "GET /x")
        #expect(claims["amount"] as? String == "100")
        #expect(claims["exp"] != nil && claims["iat"] != nil)

        let fromStdin = try PayRail.run(["receipt", "verify", "--jwks", jwks, "--resource", "GET /x", "-"], stdin: token + "\n")
        #expect(fromStdin.status == 0)
    }

    @Test("refused receipts exit 1 with the reason")
    func refusals() throws {
        let directory = try temporaryDirectory()
        #expect(try PayRail.run(["keys", "generate", "--alg", "ed25519", "--out", directory.path, "--kid", "k1"]).status == 0)
        let jwks = directory.appendingPathComponent("jwks.json").path
        let token = try PayRail.run(["receipt", "sign", "--key", directory.appendingPathComponent("k1.pem").path,
                                     "--kid", "k1", "--claims", sampleClaims]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let wrongResource = try PayRail.run(["receipt", "verify", "--jwks", jwks, "--resource", "GET /y", token])
        #expect(wrongResource.status == 1)
        #expect(wrongResource.stderr.contains("wrong-resource"))
        #expect(wrongResource.stderr.split(separator: "\n").count == 1)

        let json = try PayRail.run(["receipt", "verify", "--jwks", jwks, "--resource", "GET /y", "--json", token])
        #expect(json.status == 1)
        let verdict = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(verdict["error"] as? String == "wrong-resource")

        let expired = try PayRail.run(["receipt", "sign", "--key", directory.appendingPathComponent("k1.pem").path, "--kid", "k1",
                                       "--claims", #"{"iss":"a","sub":"GET /x","jti":"c","method":"fake","amount":"1","currency":"sat","ref":"r","iat":1000,"exp":2000}"#])
        let expiredResult = try PayRail.run(["receipt", "verify", "--jwks", jwks, "--resource", "GET /x", expired.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(expiredResult.status == 1)
        #expect(expiredResult.stderr.contains("expired"))

        let garbage = try PayRail.run(["receipt", "verify", "--jwks", jwks, "--resource", "GET /x", "not-a-token"])
        #expect(garbage.status == 1)
        #expect(garbage.stderr.contains("malformed"))

        let missingSet = try PayRail.run(["receipt", "verify", "--jwks", "/nonexistent/jwks.json", "--resource", "GET /x", token])
        #expect(missingSet.status == 1)

        let numberAmount = try PayRail.run(["receipt", "sign", "--key", directory.appendingPathComponent("k1.pem").path, "--kid", "k1",
                                            "--claims", sampleClaims.replacingOccurrences(of: #""100""#, with: "100")])
        #expect(numberAmount.status == 1)
        #expect(numberAmount.stderr.contains("amount"))
        #expect(numberAmount.stderr.split(separator: "\n").count == 1)
    }

    @Test("demo takes only --mcp: the old in-process receipt options are usage errors, its help lists the steps")
    func demoOptions() throws {
        // The full demo (server, agent, every step) is run in DemoTests; this pins its command line.
        let old = try PayRail.run(["demo", "--key", "/nonexistent/d1.pem", "--kid", "d1"])
        #expect(old.status == 2, "\(old.stderr)")
        #expect(old.stderr.hasPrefix("payrail: ") && old.stderr.split(separator: "\n").count == 1, "\(old.stderr)")
        #expect(old.stdout.isEmpty)
        let help = try PayRail.run(["demo", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("usage: payrail demo [--mcp]\n"), "\(help.stdout.prefix(200))")
        for step in ["402", "negotiates", "budget", "summary"] { #expect(help.stdout.contains(step), "\(step)") }
    }
}
