import Foundation
import PayRail
import PayRailHTTP
import PayRailTestPeers
import PayRailWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `payrail serve` that hosts the fake processor, and further gates on the same PostgreSQL
/// database taking payments through it (`--fake-processor`), each with a data directory holding
/// copies of the host's secrets: the challenge-id secret, the receipt keys, the processor's voucher
/// key and the accounts' secrets (what docs/deploy.md tells an operator to copy).
struct GateCluster {
    let host: ServeProcess
    let gates: [ServeProcess]
    let databaseURL: String

    /// Every gate, the host first.
    var all: [ServeProcess] { [host] + gates }

    /// Starts the host on `databaseURL`, then `count - 1` gates on its processor.
    init(databaseURL: String, count: Int, extra: [String] = [], environment: [Int: [String: String]] = [:]) throws {
        self.databaseURL = databaseURL
        host = try ServeProcess(["--db", databaseURL] + extra, environment: environment[0] ?? [:])
        var started: [ServeProcess] = []
        for index in 1..<count {
            let data = try Self.copySecrets(of: host.data)
            started.append(try ServeProcess(["--db", databaseURL, "--fake-processor", host.origin] + extra, data: data,
                                            environment: environment[index] ?? [:]))
        }
        gates = started
    }

    /// Stops every gate by PID.
    func kill() {
        for gate in all { gate.kill() }
    }

    /// A new data directory (mode 0700) with copies of the host's shared secrets.
    static func copySecrets(of source: URL) throws -> URL {
        let data = try temporaryDirectory().appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for name in ["challenge-secret", "keys", "fake-processor.pem", "fake-accounts.json"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: data.appendingPathComponent(name))
        }
        return data
    }

    /// An account's balance at the host's processor, in its own words ("100000sat").
    func balance(of accountID: String) async throws -> String {
        let accounts = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: host.data.appendingPathComponent("fake-accounts.json"))) as? [String: String])
        let secret = try #require(accounts[accountID], "no \(accountID) in fake-accounts.json")
        let body = try JSONSerialization.data(withJSONObject: ["accountID": accountID, "secret": secret, "unit": "sat"])
        let answer = try await exchange(host.url("/.well-known/payrail/fake/balance"), method: "POST", body: Array(body))
        try #require(answer.status == 200, "balance of \(accountID): \(answer.status) \(answer.text)")
        return try #require(answer.json["balance"] as? String)
    }

    /// The whole number of sat in a balance such as "100000sat".
    static func sat(_ balance: String) throws -> Int64 {
        try #require(Int64(balance.prefix { $0.isNumber }), "not a sat balance: \(balance)")
    }

    /// Settlements counted by every gate's metrics.
    func settlements() async throws -> Int {
        var total = 0
        for gate in all {
            let text = try await exchange(gate.url("/metrics")).text
            total += metric(text, "payrail_settlements_total{rail=\"fake\"}") ?? 0
        }
        return total
    }
}

/// A 402 from `gate`, paid at the processor by the host's demo payer: the credential's header fields.
func paidCredential(at gate: ServeProcess, payer host: ServeProcess, path: String = "/premium") async throws -> HTTPFields {
    let unpaid = try await exchange(gate.url(path))
    try #require(unpaid.status == 402, "expected a 402 from \(gate.origin): \(unpaid.status) \(unpaid.text)")
    let reading = PaymentResponseReader.read(status: unpaid.status, headers: unpaid.headers, body: unpaid.body, receivedAt: Date())
    let read = try #require(reading.offers.first { $0.dialect == .payment })
    let credential = try await DemoPayer(dataDirectory: host.data).pay(read.offer)
    return try read.credentialFields(for: credential)
}

/// Rows of a one-column query, through psql on the test server.
func countRows(_ server: PostgresServer, database: String, _ sql: String) throws -> Int {
    let output = try server.psql(sql, database: database)
    return try #require(Int(output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").first ?? ""),
                        "not a count: \(output)")
}

/// A status and its Retry-After, or the transport error's description when no answer came.
struct Presentation: Sendable {
    var status: Int
    var retryAfter: String?
    var body: String
    var failure: String?
}

/// Presents `fields` at `url`, never throwing: a dropped connection is a result too.
func present(_ fields: HTTPFields, at url: URL) async -> Presentation {
    do {
        let answer = try await exchange(url, headers: fields)
        return Presentation(status: answer.status, retryAfter: answer.headers["Retry-After"], body: answer.text)
    } catch {
        return Presentation(status: 0, body: "", failure: "\(error)")
    }
}
