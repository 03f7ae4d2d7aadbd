import Foundation
import PayRail
import PayRailCrypto
import PayRailReceipts

/// `payrail receipt ...`: sign and verify receipt tokens.
enum ReceiptCommands {
    static let all: [CommandSpec] = [sign, verify]

    static let sign = CommandSpec(
        path: ["receipt", "sign"],
        summary: "Sign receipt claims and print the compact JWS token.",
        options: [
            OptionSpec(name: "key", valueName: "FILE", help: "private key file from 'payrail keys generate' (.pem or .secret)", isRequired: true),
            OptionSpec(name: "kid", valueName: "KID", help: "key id written in the token header", isRequired: true),
            OptionSpec(name: "claims", valueName: "JSON", help: "claims object, or @FILE to read it from a file", isRequired: true),
        ],
        details: """
        Claims: iss, sub ("METHOD /path"), jti, method, amount (decimal string of minor units),
        currency, ref are required; iat defaults to now and exp to iat + 3600.
        Example:
          payrail receipt sign --key keys/k1.pem --kid k1 --claims '{"iss":"api.example","sub":"GET /x",
            "jti":"c1","method":"fake","amount":"100","currency":"sat","ref":"r1"}'
        """,
        run: { arguments in try runSign(arguments) }
    )

    static let verify = CommandSpec(
        path: ["receipt", "verify"],
        summary: "Verify a receipt token against a key set and a resource.",
        options: [
            OptionSpec(name: "jwks", valueName: "FILE", help: "the key set (jwks.json)", isRequired: true),
            OptionSpec(name: "resource", valueName: "\"METHOD /path\"", help: "the resource the receipt must be for", isRequired: true),
            OptionSpec(name: "leeway", valueName: "SECONDS", help: "clock skew tolerated (default 30)"),
            OptionSpec(name: "json", help: "print JSON: the claims when valid, {\"error\",\"reason\"} when not"),
        ],
        positionals: [PositionalSpec(name: "TOKEN", help: "the compact token, or - to read it from stdin")],
        details: "Exit 0 and the claims when valid; exit 1 and the reason when not.",
        run: { arguments in try runVerify(arguments) }
    )

    private static func runSign(_ arguments: ParsedArguments) throws -> ExitCode {
        let keyPath = try arguments.required("key")
        let keyText: String
        do { keyText = try String(contentsOfFile: keyPath, encoding: .utf8) } catch {
            throw CommandFailure.refused("cannot read key file \(keyPath): check the path and permissions")
        }
        let signer = try ReceiptSigner(key: ReceiptSigningKey(keyFile: keyText), keyID: try arguments.required("kid"))
        let claims = try parseClaims(try readArgument(try arguments.required("claims")))
        print(try signer.sign(claims))
        return .success
    }

    private static func runVerify(_ arguments: ParsedArguments) throws -> ExitCode {
        let jwksPath = try arguments.required("jwks")
        let jwksData: Data
        do { jwksData = try Data(contentsOf: URL(fileURLWithPath: jwksPath)) } catch {
            throw CommandFailure.refused("cannot read key set \(jwksPath): check the path")
        }
        let keySet = try ReceiptKeySet(jwksJSON: jwksData)
        var leeway: Int64 = 30
        if let text = arguments.value("leeway") {
            guard let value = Int64(text), value >= 0 else { throw CommandFailure.usage("--leeway must be a whole number of seconds") }
            leeway = value
        }
        var token = arguments.positionals.first ?? ""
        if token == "-" {
            token = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        token = token.trimmingCharacters(in: .whitespacesAndNewlines)
        let verifier = ReceiptVerifier(keys: keySet, leewaySeconds: leeway)
        let json = arguments.flag("json")
        let resource = try arguments.required("resource")
        let claims: ReceiptClaims
        do {
            claims = try verifier.verify(token, resource: resource)
        } catch {
            if json {
                let object: JSONValue = .object(["error": .string(error.code.description), "reason": .string(error.reason)])
                print(String(decoding: try CanonicalJSON.serialize(object), as: UTF8.self))
            }
            throw CommandFailure.refused("receipt refused (\(error.code)): \(error.reason)")
        }
        if json {
            print(String(decoding: try CanonicalJSON.serialize(claims.jsonValue), as: UTF8.self))
        } else {
            print("valid receipt")
            for (name, value) in claims.displayFields { print("  \(name): \(value)") }
        }
        return .success
    }

    /// `@FILE` reads the file; anything else is the value itself.
    private static func readArgument(_ value: String) throws -> String {
        guard value.hasPrefix("@") else { return value }
        let path = String(value.dropFirst())
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CommandFailure.refused("cannot read \(path)")
        }
    }

    private static func parseClaims(_ text: String) throws -> ReceiptClaims {
        guard case .object(var object)? = try? CanonicalJSON.parse(Array(text.utf8)) else {
            throw CommandFailure.refused("--claims is not a JSON object")
        }
        let now = Int64(Date().timeIntervalSince1970)
        if object["iat"] == nil { object["iat"] = .number(Double(now)) }
        if object["exp"] == nil, case .number(let iat)? = object["iat"] { object["exp"] = .number(iat + 3600) }
        do {
            return try JSONDecoder().decode(ReceiptClaims.self, from: Data(try CanonicalJSON.serialize(.object(object))))
        } catch {
            throw CommandFailure.refused("--claims: \(describe(decodingError: error))")
        }
    }

    private static func describe(decodingError error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "claim '\(key.stringValue)' is required"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "claim '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type (amount is a decimal string)"
        default: return "claims are not valid: \(error)"
        }
    }
}

extension ReceiptClaims {
    /// The claims in the order a person reads them.
    var displayFields: [(String, String)] {
        [("iss", iss), ("sub", sub), ("jti", jti), ("method", method), ("amount", amount),
         ("currency", currency), ("ref", ref), ("iat", String(iat)), ("exp", String(exp))]
    }

}
