// The `payment-identifier` extension (specs/extensions/payment_identifier.md): an idempotency key the
// client puts in `PaymentPayload.extensions["payment-identifier"].info.id`, after the server declared
// the extension in `PaymentRequired.extensions`. Same id + same payload replays the cached response;
// same id + different payload is 409; `required: true` without an id is 400.

import PayRailCrypto

/// A client-chosen payment identifier: 16 to 128 characters of `A-Z a-z 0-9 _ -`.
public struct X402PaymentIdentifier: Hashable, Sendable, CustomStringConvertible {
    /// The extension's key in `extensions`.
    public static let extensionKey = "payment-identifier"
    /// The shortest id allowed.
    public static let minimumLength = 16
    /// The longest id allowed.
    public static let maximumLength = 128

    /// The id itself.
    public let id: String

    /// Validates an id.
    ///
    /// - Throws: `WireError.malformed` for a wrong length or a character outside `[A-Za-z0-9_-]`.
    public init(_ id: String) throws(WireError) {
        let bytes = id.utf8
        guard (Self.minimumLength...Self.maximumLength).contains(bytes.count) else {
            throw WireError(.malformed, "a payment identifier is 16 to 128 characters, got \(bytes.count)")
        }
        guard bytes.allSatisfy({
            ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D
        }) else {
            throw WireError(.malformed, "a payment identifier contains only letters, digits, '_' and '-'")
        }
        self.id = id
    }

    /// A fresh id in the recommended form: `pay_` followed by 32 random hex digits.
    ///
    /// - Throws: `WireError.unsupported` only if the system's random generator is unavailable; retry later.
    public static func generate() throws(WireError) -> X402PaymentIdentifier {
        let random: [UInt8]
        do {
            random = try SecureRandom.bytes(count: 16)
        } catch {
            throw WireError(.unsupported, "no secure randomness for a payment identifier; retry later")
        }
        return try X402PaymentIdentifier("pay_" + X402Syntax.hex(random))
    }

    /// The id.
    public var description: String { id }

    /// The JSON Schema the spec publishes with the declaration, verbatim.
    public static let schema: JSONValue = .object([
        "$schema": .string("https://json-schema.org/draft/2020-12/schema"),
        "type": .string("object"),
        "properties": .object([
            "required": .object(["type": .string("boolean")]),
            "id": .object(["type": .string("string"), "minLength": .number(16), "maxLength": .number(128)]),
        ]),
        "required": .array([.string("required")]),
    ])

    /// The server's declaration, `{info: {required}, schema}`, for `PaymentRequired.extensions`.
    public static func declaration(required: Bool) -> JSONValue {
        .object(["info": .object(["required": .bool(required)]), "schema": schema])
    }

    /// Adds the declaration to a `PaymentRequired`'s extensions.
    public static func declare(in extensions: inout [String: JSONValue], required: Bool) {
        extensions[extensionKey] = declaration(required: required)
    }

    /// Whether the server's extensions declare the extension with `required: true`.
    public static func isRequired(by extensions: [String: JSONValue]) -> Bool {
        guard case .object(let declaration)? = extensions[extensionKey], case .object(let info)? = declaration["info"] else {
            return false
        }
        return info["required"] == .bool(true)
    }

    /// The client side: the server's extensions echoed with this id added under `info`.
    ///
    /// The spec lets the client add to `info` but never delete or overwrite what it received, so
    /// everything else is kept. When the server did not declare the extension, nothing is added.
    public func appended(to serverExtensions: [String: JSONValue]) -> [String: JSONValue] {
        guard case .object(var declaration)? = serverExtensions[Self.extensionKey],
              case .object(var info)? = declaration["info"]
        else { return serverExtensions }
        info["id"] = .string(id)
        declaration["info"] = .object(info)
        var result = serverExtensions
        result[Self.extensionKey] = .object(declaration)
        return result
    }

    /// The server side: the id a `PaymentPayload` carries, if any.
    ///
    /// - Throws: `WireError.malformed` when the extension is present but its `info.id` is not a
    ///   string of the allowed syntax (answer 400).
    public static func extract(from payloadExtensions: [String: JSONValue]) throws(WireError) -> X402PaymentIdentifier? {
        guard let declaration = payloadExtensions[extensionKey] else { return nil }
        guard case .object(let members) = declaration else {
            throw WireError(.malformed, "the payment-identifier extension must be a JSON object")
        }
        guard let infoValue = members["info"] else { return nil }
        guard case .object(let info) = infoValue else {
            throw WireError(.malformed, "payment-identifier info must be a JSON object")
        }
        guard let idValue = info["id"] else { return nil }
        guard case .string(let id) = idValue else { throw WireError(.malformed, "payment-identifier info.id must be a string") }
        return try X402PaymentIdentifier(id)
    }

    /// The server side, with its own declaration applied: the id, or `nil` when optional and absent.
    ///
    /// - Throws: `WireError.missingField` when the server requires an id and none came (answer 400),
    ///   `malformed` for an id of the wrong syntax.
    public static func check(
        payloadExtensions: [String: JSONValue], serverExtensions: [String: JSONValue]
    ) throws(WireError) -> X402PaymentIdentifier? {
        let found = try extract(from: payloadExtensions)
        if found == nil, isRequired(by: serverExtensions) {
            throw WireError(.missingField, "this server requires a payment identifier (payment-identifier info.id)")
        }
        return found
    }
}
