import Foundation
import PayRailCrypto
import PayRailWire

/// `payrail wire ...`: the tools to reach for when a 402 goes wrong. Each reads stdin and prints JSON.
enum WireCommands {
    static let all: [CommandSpec] = [jcs, challenges, challengeID, credential, decode]

    static let jcs = CommandSpec(
        path: ["wire", "jcs"],
        summary: "Print the RFC 8785 canonical form of the JSON on stdin.",
        details: """
        The form the Payment scheme base64url-encodes into `request` and `opaque`, and hashes or signs.
        Refused: invalid JSON, duplicate member names, numbers beyond a double, nesting deeper than 64.
        Example:  echo '{"b":1,"a":"x"}' | payrail wire jcs
        """,
        run: { _ in try runJCS() }
    )

    static let challenges = CommandSpec(
        path: ["wire", "challenges"],
        summary: "Print the parameters of each Payment challenge in a WWW-Authenticate value on stdin.",
        options: [
            OptionSpec(name: "valid-only", help: "keep only challenges a client may pay (all required parameters, right grammar)"),
        ],
        details: """
        stdin holds one WWW-Authenticate value (several challenges may be joined by commas; a leading
        "WWW-Authenticate:" is allowed; several lines are read as repeated fields). Prints a JSON array
        with one object of parameters (names lowercased, the first of a repeated one kept) per complete
        Payment challenge; other schemes are ignored. A Payment challenge missing one of the parameters
        every client needs (id, realm, method, intent, request; draft-httpauth-payment, "Required Parameters")
        is skipped, as other implementations' parsers skip it, and listed on stderr with what it lacks,
        one line each. Exit 1 when no complete Payment challenge is left.
        """,
        run: { arguments in try runChallenges(validOnly: arguments.flag("valid-only")) }
    )

    static let challengeID = CommandSpec(
        path: ["wire", "challenge-id"],
        summary: "Compute the HMAC challenge id of the challenge parameters on stdin.",
        options: [
            OptionSpec(name: "secret-hex", valueName: "HEX", help: "the server's challenge secret, in hex", isRequired: true),
        ],
        details: """
        stdin holds a JSON object with string members realm, method, intent, request and optionally
        expires, digest, opaque, header; other members (description, id) are ignored, as the binding
        ignores them. Prints the id as a JSON string: base64url(HMAC-SHA256(secret,
        realm|method|intent|request|expires|digest|opaque[|header])), as draft-httpauth-payment-02 recommends.
        """,
        run: { arguments in try runChallengeID(secretHex: try arguments.required("secret-hex")) }
    )

    static let credential = CommandSpec(
        path: ["wire", "credential"],
        summary: "Decode the Payment credential of an Authorization value on stdin.",
        details: """
        stdin holds an Authorization or Payment-Authorization value ("Payment <base64url>"; a leading
        field name is allowed). Prints the decoded credential {challenge, source?, payload} as JSON.
        The payload holds the proof (preimage, token): do not paste production credentials where they
        are logged. Exit 1 for anything a server would refuse as malformed (strict base64url, 16 KB bound).
        """,
        run: { _ in try runCredential() }
    )

    static let decode = CommandSpec(
        path: ["wire", "decode"],
        summary: "Print every offer in a raw HTTP 402 response on stdin, each with its dialect.",
        options: [
            OptionSpec(name: "at", valueName: "RFC3339", help: "read the response as of this moment (default: now); invoices and expiries are checked against it"),
        ],
        details: """
        stdin holds a raw HTTP response: the status line, the header lines, an empty line, the body
        (CRLF or LF line ends). Every dialect is read: Payment (WWW-Authenticate), x402 v2
        (PAYMENT-REQUIRED) and v1 (JSON body), L402/LSAT, and the plain JSON body. Prints a JSON array
        with one object per offer: dialect, rail, amount (decimal string of minor units), unit, payee,
        expires (RFC 3339) and id. What was present but unusable is listed on stderr, one line each with
        its reason, also when nothing is usable. Exit 1 for input that is not an HTTP response, a status
        other than 402, or no usable offer.
        """,
        run: { arguments in try runDecode(at: arguments.value("at")) }
    )

    // MARK: Runs

    private static func runDecode(at: String?) throws -> ExitCode {
        var moment = Date()
        if let at {
            do { moment = try PaymentTimestamp.parse(at) } catch {
                throw CommandFailure.usage("--at must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z")
            }
        }
        let input = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        let response: (status: Int, headers: HTTPFields, body: [UInt8])
        do { response = try PaymentResponseReader.parseHTTPResponse(input) } catch {
            throw CommandFailure.refused("not an HTTP response: \(error.reason)")
        }
        guard response.status == 402 else { throw CommandFailure.refused("the status is \(response.status), not 402: nothing to pay") }
        let reading = PaymentResponseReader.read(
            status: response.status, headers: response.headers, body: response.body, receivedAt: moment)
        guard !reading.offers.isEmpty else {
            // Every unusable item, one line each; a single one stays on the refusal's own line.
            guard reading.skipped.count > 1 else {
                throw CommandFailure.refused("no usable offer in the response\(reading.skipped.first.map { ": \($0)" } ?? "")")
            }
            for skipped in reading.skipped { FileHandle.standardError.write(Data("skipped \(skipped)\n".utf8)) }
            throw CommandFailure.refused("no usable offer in the response (\(reading.skipped.count) unusable, listed above)")
        }
        for skipped in reading.skipped {
            FileHandle.standardError.write(Data("skipped \(skipped)\n".utf8))
        }
        let objects: [JSONValue] = reading.offers.map { read in
            .object([
                "dialect": .string(read.dialect.rawValue), "rail": .string(read.offer.rail.rawValue),
                "amount": .string(String(read.offer.amount.amount)), "unit": .string(read.offer.amount.unit.code),
                "payee": .string(read.offer.payee), "expires": .string(PaymentTimestamp.format(read.offer.expiresAt)),
                "id": .string(read.offer.id),
            ])
        }
        try printJSON(.array(objects))
        return .success
    }

    private static func runJCS() throws -> ExitCode {
        let input = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        do {
            print(String(decoding: try CanonicalJSON.canonicalize(input), as: UTF8.self))
        } catch {
            throw CommandFailure.refused("not canonicalizable JSON: \(error.code) at byte \(error.offset)\(error.detail.isEmpty ? "" : " (\(error.detail))")")
        }
        return .success
    }

    private static func runChallenges(validOnly: Bool) throws -> ExitCode {
        let values = readLines().map { stripFieldName($0, ["WWW-Authenticate"]) }
        let parsed: [AuthChallenge]
        do { parsed = try AuthParameters.parseChallenges(values) } catch {
            throw CommandFailure.refused("cannot read the WWW-Authenticate value: \(error)")
        }
        var objects: [JSONValue] = []
        var skipped: [String] = []
        for (index, challenge) in parsed.filter({ $0.hasScheme(PaymentChallenge.scheme) }).enumerated() {
            let missing = requiredPaymentParameters.filter { (challenge[$0] ?? "").isEmpty }
            guard missing.isEmpty else {
                skipped.append("skipped Payment challenge \(index + 1): no \(missing.joined(separator: ", "))")
                continue
            }
            if validOnly, (try? PaymentChallenge(challenge)) == nil { continue }
            objects.append(.object(challenge.parameters.mapValues { .string($0) }))
        }
        for line in skipped { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        guard !objects.isEmpty else {
            throw CommandFailure.refused(validOnly ? "no payable Payment challenge in the value"
                : skipped.isEmpty ? "no Payment challenge in the value" : "no complete Payment challenge in the value")
        }
        try printJSON(.array(objects))
        return .success
    }

    /// The auth-params every Payment challenge carries (draft-httpauth-payment, "Required Parameters":
    /// "clients and parsers MUST reject challenges whose `id` is missing or empty", and the other four
    /// are REQUIRED alike): a challenge without one cannot be answered, so readers skip it.
    private static let requiredPaymentParameters = ["id", "realm", "method", "intent", "request"]

    private static func runChallengeID(secretHex: String) throws -> ExitCode {
        guard let secret = decodeHex(secretHex), !secret.isEmpty else {
            throw CommandFailure.usage("--secret-hex must be a non-empty even number of hex digits")
        }
        let input = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        let object: [String: JSONValue]
        do {
            guard case .object(let parsed) = try CanonicalJSON.parse(input) else {
                throw CommandFailure.refused("stdin must hold a JSON object of challenge parameters")
            }
            object = parsed
        } catch let error as CanonicalJSONError {
            throw CommandFailure.refused("stdin is not valid JSON: \(error.code) at byte \(error.offset)")
        }
        func string(_ name: String, required: Bool) throws -> String? {
            switch object[name] {
            case .string(let value)?: return value
            case nil where !required: return nil
            case nil: throw CommandFailure.refused("the parameters lack \(name)")
            default: throw CommandFailure.refused("parameter \(name) must be a JSON string")
            }
        }
        let challenge = PaymentChallenge(
            realm: try string("realm", required: true) ?? "", method: try string("method", required: true) ?? "",
            intent: try string("intent", required: true) ?? "", request: try string("request", required: true) ?? "",
            expires: try string("expires", required: false), digest: try string("digest", required: false),
            opaque: try string("opaque", required: false), header: try string("header", required: false))
        let key: HMACKey
        do { key = try HMACKey(secret) } catch { throw CommandFailure.usage("--secret-hex must not be empty") }
        try printJSON(.string(ChallengeID.compute(for: challenge, key: key)))
        return .success
    }

    private static func runCredential() throws -> ExitCode {
        let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        let value = stripFieldName(text.trimmingCharacters(in: .whitespacesAndNewlines), ["Authorization", "Payment-Authorization"])
        let credential: PaymentCredential
        do { credential = try PaymentCredential.parse(value) } catch {
            throw CommandFailure.refused("not a valid Payment credential: \(error)")
        }
        try printJSON(.object(credential.jsonObject))
        return .success
    }

    // MARK: Helpers

    /// Non-empty lines of stdin, without their line endings.
    private static func readLines() -> [String] {
        String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// Drops a leading `Name:` so a line copied from a trace can be pasted as is.
    private static func stripFieldName(_ line: String, _ names: [String]) -> String {
        for name in names {
            let prefix = name + ":"
            if line.count > prefix.count, line.prefix(prefix.count).lowercased() == prefix.lowercased() {
                return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
            }
        }
        return line
    }

    private static func decodeHex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index + 1 < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    private static func printJSON(_ value: JSONValue) throws {
        do { print(String(decoding: try CanonicalJSON.serialize(value), as: UTF8.self)) } catch {
            throw CommandFailure.refused("cannot print the result as JSON: \(error.code)")
        }
    }
}
