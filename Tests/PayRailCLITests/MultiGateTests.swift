import Foundation
import PayRail
import PayRailHTTP
import PayRailWire
import PayRailTestPeers
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Several real `payrail serve` processes on one PostgreSQL database (started by the tests), taking
/// fake payments through one of them (`--fake-processor`): one payment is settled and granted once
/// whichever gate gets it, a crash between settlement and answer loses nothing, and a database
/// outage is answered with 503 and Retry-After and survived without a restart.
@Suite("payrail serve --db postgres:// with several gates (live, loopback)", .serialized)
struct MultiGateTests {
    @Test("four gates, one credential presented 200 times at once across them: one settlement, one grant, one charge")
    func oneCredentialManyGates() async throws {
        let server = try await PostgresPeer.server()
        let database = try server.createDatabase(prefix: "multigate")
        let cluster = try GateCluster(databaseURL: server.url(database: database), count: 4, extra: ["--db-pool", "8"])
        defer { cluster.kill() }
        let merchantBefore = try GateCluster.sat(try await cluster.balance(of: "merchant"))
        let payerBefore = try GateCluster.sat(try await cluster.balance(of: "demo-payer"))

        // The 402 comes from one gate; the payment is presented to all four.
        let fields = try await paidCredential(at: cluster.gates[1], payer: cluster.host)
        let gates = cluster.all
        let results = await withTaskGroup(of: Presentation.self) { group in
            for index in 0..<200 {
                let gate = gates[index % gates.count]
                group.addTask { await present(fields, at: gate.url("/premium")) }
            }
            return await group.reduce(into: [Presentation]()) { $0.append($1) }
        }
        let granted = results.filter { $0.status == 200 }
        let others = results.filter { $0.status != 200 }
        #expect(!granted.isEmpty, "nobody got the resource: \(Set(results.map(\.status)))")
        #expect(Set(granted.map(\.body)).count == 1, "every grant is the same answer (a replay of the one grant)")
        // Refusals are the dialect's: a conflict while another gate is settling (409) or an
        // overloaded gate's 503 with Retry-After; never a 5xx without advice, never a dropped connection.
        for other in others {
            #expect(other.failure == nil, "transport failure: \(other.failure ?? "")")
            #expect(other.status == 409 || (other.status == 503 && other.retryAfter != nil),
                    "unexpected answer \(other.status) \(other.body)")
        }
        #expect(try countRows(server, database: database, "SELECT count(*) FROM consumed_challenges") == 1, "one grant")
        #expect(try await cluster.settlements() == 1, "one settlement across the gates")
        #expect(try GateCluster.sat(try await cluster.balance(of: "merchant")) == merchantBefore + 100, "the merchant is credited once")
        #expect(try GateCluster.sat(try await cluster.balance(of: "demo-payer")) == payerBefore - 100, "the payer is charged once")
        for gate in cluster.all { #expect(gate.stop() == 0) }
    }

    @Test("a gate killed with SIGKILL between settlement and answer, restarted: the payment replays, nothing twice")
    func crashBetweenSettlementAndAnswer() async throws {
        let server = try await PostgresPeer.server()
        let database = try server.createDatabase(prefix: "crashgate")
        let cluster = try GateCluster(databaseURL: server.url(database: database), count: 2,
                                      environment: [1: ["PAYRAIL_SERVE_CRASH_AT": "settled"]])
        defer { cluster.kill() }
        let crashing = cluster.gates[0]
        let merchantBefore = try GateCluster.sat(try await cluster.balance(of: "merchant"))
        let payerBefore = try GateCluster.sat(try await cluster.balance(of: "demo-payer"))
        let fields = try await paidCredential(at: crashing, payer: cluster.host)

        let lost = await present(fields, at: crashing.url("/premium"))
        #expect(lost.status == 0, "the crashing gate never answers: \(lost.status) \(lost.body)")
        crashing.process.waitUntilExit()
        #expect(crashing.process.terminationReason == .uncaughtSignal && crashing.process.terminationStatus == SIGKILL)
        #expect(try countRows(server, database: database, "SELECT count(*) FROM consumed_challenges") == 1,
                "the consumption was written before the answer")

        let restarted = try ServeProcess(["--db", cluster.databaseURL, "--fake-processor", cluster.host.origin], data: crashing.data)
        defer { restarted.kill() }
        let again = await present(fields, at: restarted.url("/premium"))
        #expect(again.status == 200, "the same payment after the restart: \(again.status) \(again.body)")
        let elsewhere = await present(fields, at: cluster.host.url("/premium"))
        #expect(elsewhere.status == 200 && elsewhere.body == again.body, "and at another gate, the same grant")
        #expect(try countRows(server, database: database, "SELECT count(*) FROM consumed_challenges") == 1, "one grant")
        #expect(try GateCluster.sat(try await cluster.balance(of: "merchant")) == merchantBefore + 100, "credited once")
        #expect(try GateCluster.sat(try await cluster.balance(of: "demo-payer")) == payerBefore - 100, "charged once")
        #expect(restarted.stop() == 0)
        #expect(cluster.host.stop() == 0)
    }

    @Test("PostgreSQL stopped under load: paid requests get 503 with Retry-After, then are granted once it is back")
    func databaseOutage() async throws {
        // A server of its own: stopping the shared one would fail other suites' stores.
        let server = try PostgresServer.start()
        defer { try? server.destroy() }
        let database = try server.createDatabase(prefix: "outage")
        let cluster = try GateCluster(databaseURL: server.url(database: database), count: 2, extra: ["--rate-limit", "0"])
        defer { cluster.kill() }
        let merchantBefore = try GateCluster.sat(try await cluster.balance(of: "merchant"))
        var credentials: [HTTPFields] = []
        for index in 0..<6 { credentials.append(try await paidCredential(at: cluster.all[index % 2], payer: cluster.host)) }
        let beforeOutage = await present(credentials[0], at: cluster.gates[0].url("/premium"))
        #expect(beforeOutage.status == 200, "\(beforeOutage.status) \(beforeOutage.body)")

        // Under load: unpaid requests keep coming at both gates while the database stops.
        let gates = cluster.all
        let load = Task {
            await withTaskGroup(of: Presentation.self) { group in
                for index in 0..<200 { group.addTask { await present(HTTPFields(), at: gates[index % 2].url("/premium")) } }
                return await group.reduce(into: [Presentation]()) { $0.append($1) }
            }
        }
        try server.stop()
        let during = await withTaskGroup(of: Presentation.self) { group in
            for (index, fields) in credentials.enumerated().dropFirst() {
                group.addTask { await present(fields, at: gates[index % 2].url("/premium")) }
            }
            return await group.reduce(into: [Presentation]()) { $0.append($1) }
        }
        for answer in during {
            #expect(answer.status == 503, "while the database is down: \(answer.status) \(answer.body)")
            #expect(answer.retryAfter != nil, "a 503 says when to retry")
        }
        // Bound offers need no store: a 402 is still answered; nothing else but a 503 with advice.
        for answer in await load.value {
            #expect(answer.status == 402 || (answer.status == 503 && answer.retryAfter != nil),
                    "an unpaid request during the outage: \(answer.status) \(answer.failure ?? answer.body)")
        }
        let health = try await exchange(cluster.gates[0].url("/healthz"))
        #expect(health.status == 503 && health.headers["Retry-After"] != nil, "the balancer is told: \(health.status) \(health.text)")

        try server.startAgain()
        // No restart of the gates: every paid request is granted once the database answers.
        for (index, fields) in credentials.enumerated() {
            var answer = await present(fields, at: cluster.all[(index + 1) % 2].url("/premium"))
            for _ in 0..<20 where answer.status == 503 {
                try await Task.sleep(for: .milliseconds(250))
                answer = await present(fields, at: cluster.all[(index + 1) % 2].url("/premium"))
            }
            #expect(answer.status == 200, "paid request \(index) after the outage: \(answer.status) \(answer.body)")
        }
        // Back in rotation without waiting for the next purge interval (300 s).
        var healed = try await exchange(cluster.gates[0].url("/healthz"))
        for _ in 0..<10 where healed.status != 200 {
            try await Task.sleep(for: .milliseconds(300))
            healed = try await exchange(cluster.gates[0].url("/healthz"))
        }
        #expect(healed.status == 200, "healthz after the outage: \(healed.status) \(healed.text)")
        #expect(try countRows(server, database: database, "SELECT count(*) FROM consumed_challenges") == 6, "one grant each")
        #expect(try GateCluster.sat(try await cluster.balance(of: "merchant")) == merchantBefore + 600, "each credited once")
        for gate in cluster.all { #expect(gate.stop() == 0) }
    }

    @Test("the startup line and errors print the database URL without its password")
    func passwordNeverPrinted() async throws {
        let server = try await PostgresPeer.server()
        let database = try server.createDatabase(prefix: "redact")
        // Trust authentication ignores the password, so the gate starts and logs its store.
        let url = server.url(database: database).replacingOccurrences(of: "payrail@", with: "payrail:s3cr3t-pw@")
        let gate = try ServeProcess(["--db", url])
        defer { gate.kill() }
        #expect(gate.log.contains("store postgres://payrail:***@127.0.0.1"), "\(gate.log)")
        #expect(!gate.log.contains("s3cr3t-pw"))
        #expect(gate.stop() == 0)
        #expect(!gate.log.contains("s3cr3t-pw"))

        // A database that does not exist: refused at start, one line, no password.
        let missing = url.replacingOccurrences(of: "/\(database)", with: "/nosuchdb")
        do {
            let refused = try ServeProcess(["--db", missing], captureErrors: true)
            refused.kill()
            Issue.record("started on a database that does not exist")
        } catch let failure as ServeTestFailure {
            // What the server printed (the helper's message starts with the command line the test gave).
            let printed = failure.description.components(separatedBy: "did not start:").last ?? ""
            #expect(printed.contains("cannot open the gate store postgres://payrail:***@") && printed.contains("nosuchdb"), "\(printed)")
            #expect(!printed.contains("s3cr3t-pw"), "\(printed)")
        }
        // $PAYRAIL_DB is read when --db is absent.
        let fromEnvironment = try ServeProcess([], environment: ["PAYRAIL_DB": url])
        defer { fromEnvironment.kill() }
        #expect(fromEnvironment.log.contains("store postgres://payrail:***@127.0.0.1:\(server.port)/\(database)"))
        #expect(fromEnvironment.stop() == 0)
    }

    @Test("stored offers through --fake-processor, then payrail refund --db postgres:// from the other gate's directory")
    func storedOffersAndRefund() async throws {
        let server = try await PostgresPeer.server()
        let database = try server.createDatabase(prefix: "refundgate")
        let cluster = try GateCluster(databaseURL: server.url(database: database), count: 2, extra: ["--stateless-offers", "off"])
        defer { cluster.kill() }
        let merchantBefore = try GateCluster.sat(try await cluster.balance(of: "merchant"))
        // The request is registered at the host's processor by the other gate (POST …/fake/request).
        let fields = try await paidCredential(at: cluster.gates[0], payer: cluster.host)
        let paid = try await exchange(cluster.gates[0].url("/premium"), headers: fields)
        #expect(paid.status == 200, "\(paid.text)")
        let token = try #require(paid.headers["X-Receipt"])
        #expect(try GateCluster.sat(try await cluster.balance(of: "merchant")) == merchantBefore + 100)

        let refund = try AgentRun.run(["refund", token, "--data", cluster.gates[0].data.path, "--db", cluster.databaseURL, "--json"])
        #expect(refund.status == 0, "\(refund.stderr)")
        #expect(refund.json["amount"] as? String == "100sat", "\(refund.stdout)")
        #expect(try GateCluster.sat(try await cluster.balance(of: "merchant")) == merchantBefore, "refunded at the shared processor")
        let replay = try await exchange(cluster.host.url("/premium"), headers: HTTPFields([("X-Receipt", token)]))
        #expect(replay.status != 200, "the grant ended on every gate: \(replay.status)")
        for gate in cluster.all { #expect(gate.stop() == 0) }
    }

    @Test("the processor's host killed: a paid credential at another gate gets 503 with Retry-After and grants nothing")
    func processorDownFailsClosed() async throws {
        let server = try await PostgresPeer.server()
        let database = try server.createDatabase(prefix: "procdown")
        let cluster = try GateCluster(databaseURL: server.url(database: database), count: 2)
        defer { cluster.kill() }
        let fields = try await paidCredential(at: cluster.gates[0], payer: cluster.host)
        cluster.host.kill()
        let answer = await present(fields, at: cluster.gates[0].url("/premium"))
        #expect(answer.status == 503 && answer.retryAfter != nil, "\(answer.status) \(answer.body)")
        #expect(try countRows(server, database: database, "SELECT count(*) FROM consumed_challenges") == 0, "nothing granted")
        #expect(cluster.gates[0].stop() == 0)
    }

    @Test("a gate whose copy of the processor's files does not match is refused at start")
    func mismatchedProcessorRefused() async throws {
        let host = try ServeProcess([])
        defer { host.kill() }
        let other = try ServeProcess([])
        defer { other.kill() }
        #expect(other.stop() == 0)
        // The other server's secrets, not the host's: the processor does not know them.
        let data = try GateCluster.copySecrets(of: other.data)
        do {
            let gate = try ServeProcess(["--fake-processor", host.origin], data: data, captureErrors: true)
            gate.kill()
            Issue.record("a gate started with another processor's secrets")
        } catch let failure as ServeTestFailure {
            #expect(failure.description.contains("refused this gate"), "\(failure.description)")
        }
        #expect(host.stop() == 0)
    }
}
