// The lnbtc request binding (scheme_exact_lnbtc.md, "Request Binding"): the invoice's description
// hash commits to the request being bought, so a preimage paid for /article/A cannot buy /article/B.
// requestHash = SHA-256(UTF8(JCS(binding))). The binding object is built locally, never sent.

import PayRailCrypto

/// The inputs of an lnbtc request binding, per profile, and the `requestHash` they produce.
public enum X402RequestBinding: Hashable, Sendable {
    /// One bound header or metadata member: its name and its value, `nil` when absent.
    public struct BoundValue: Hashable, Sendable {
        /// The lowercase header name (http:1) or `_meta` member name (mcp:1).
        public var name: String
        /// The value, or `nil` when the request does not carry it (hashed differently from `""`).
        public var value: JSONValue?

        /// A bound HTTP header (its value as RFC 9421 would render it) or absent.
        public init(header name: String, value: String?) {
            self.name = name
            self.value = value.map { .string($0) }
        }

        /// A bound MCP `_meta` member: any JSON value, or absent.
        public init(metadata name: String, value: JSONValue?) {
            self.name = name
            self.value = value
        }
    }

    /// `http:1`: the method, the absolute target URL, the body bytes and the configured headers.
    case http(method: String, url: String, body: [UInt8], headers: [BoundValue])
    /// `mcp:1`: a `tools/call` on a server, with its arguments and configured metadata.
    case mcp(server: String, toolName: String, arguments: [String: JSONValue], metadata: [BoundValue])

    /// The `extra.requestBindingProfile` value.
    public var profile: String {
        switch self {
        case .http: return "http:1"
        case .mcp: return "mcp:1"
        }
    }

    /// The `extra.requestBindingParams` value: the configured names, not the values.
    public var parameters: JSONValue {
        switch self {
        case .http(_, _, _, let headers):
            return .object(["headers": .array(headers.map { .string($0.name) })])
        case .mcp(let server, _, _, let metadata):
            return .object(["server": .string(server), "metadata": .array(metadata.map { .string($0.name) })])
        }
    }

    /// The binding object whose JCS bytes are hashed.
    ///
    /// - Throws: `WireError.malformed` when the inputs break the profile's rules (non-lowercase or
    ///   unsorted or duplicate header names, `payment-signature` bound, a URL that is not absolute
    ///   http(s) without fragment or user information, an empty tool name, excluded metadata names).
    public func bindingObject() throws(WireError) -> JSONValue {
        switch self {
        case .http(let method, let url, let body, let headers):
            guard !method.isEmpty, method.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw WireError(.malformed, "the http:1 binding needs a method token")
            }
            try Self.checkTargetURL(url)
            let names = headers.map(\.name)
            for name in names {
                guard !name.isEmpty, name.utf8.allSatisfy({ Self.isLowercaseTokenByte($0) }) else {
                    throw WireError(.malformed, "bound header names must be lowercase field-name tokens")
                }
                guard name != "payment-signature" else {
                    throw WireError(.malformed, "payment-signature must not be a bound header")
                }
            }
            guard Self.isStrictlyAscending(names) else {
                throw WireError(.malformed, "bound header names must be in ascending byte order without duplicates")
            }
            var entries: [JSONValue] = []
            for header in headers {
                var input: [UInt8]
                switch header.value {
                case nil: input = [0x00]
                case .string(let text)?:
                    guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F || $0 == 0x09 }) else {
                        throw WireError(.malformed, "bound header \(header.name) has a value that is not visible ASCII")
                    }
                    input = [0x01] + Array(text.utf8)
                case .some:
                    throw WireError(.malformed, "bound header \(header.name) must have a string value")
                }
                entries.append(.object(["name": .string(header.name), "valueHash": .string(X402Syntax.hex(SHA256.hash(input)))]))
            }
            return .object([
                "domain": .string("x402:exact:lnbtc:bolt11:http:1"), "method": .string(method), "url": .string(url),
                "bodyHash": .string(X402Syntax.hex(SHA256.hash(body))), "headers": .array(entries),
            ])
        case .mcp(let server, let toolName, let arguments, let metadata):
            guard !server.isEmpty, server.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), server.contains(":"),
                  !server.contains("#"), !server.contains("@")
            else {
                throw WireError(.malformed, "the mcp:1 server must be an absolute ASCII URI without user information or fragment")
            }
            guard !toolName.isEmpty else { throw WireError(.malformed, "the mcp:1 tool name must not be empty") }
            let names = metadata.map(\.name)
            for name in names where name.isEmpty || name == "x402/payment" || name == "progressToken" {
                throw WireError(.malformed, "mcp:1 metadata names must be non-empty and exclude x402/payment and progressToken")
            }
            guard Self.isStrictlyAscendingUTF16(names) else {
                throw WireError(.malformed, "mcp:1 metadata names must be sorted as JCS sorts members, without duplicates")
            }
            var entries: [JSONValue] = []
            for member in metadata {
                var input: [UInt8] = [0x00]
                if let value = member.value {
                    do {
                        input = [0x01] + (try CanonicalJSON.serialize(value))
                    } catch {
                        throw WireError(.malformed, "metadata \(member.name) cannot be canonicalized (\(error.code))")
                    }
                }
                entries.append(.object(["name": .string(member.name), "valueHash": .string(X402Syntax.hex(SHA256.hash(input)))]))
            }
            return .object([
                "domain": .string("x402:exact:lnbtc:bolt11:mcp:1"), "server": .string(server), "method": .string("tools/call"),
                "name": .string(toolName), "arguments": .object(arguments), "metadata": .array(entries),
            ])
        }
    }

    /// The UTF-8 JCS bytes of the binding object (the invoice's "description", never sent).
    public func descriptionBytes() throws(WireError) -> [UInt8] {
        let binding = try bindingObject()
        do {
            return try CanonicalJSON.serialize(binding)
        } catch {
            throw WireError(.malformed, "the request binding cannot be canonicalized (\(error.code))")
        }
    }

    /// The raw 32-byte request hash (what the BOLT11 `h` field must hold).
    public func requestHashBytes() throws(WireError) -> [UInt8] { SHA256.hash(try descriptionBytes()) }

    /// `extra.requestHash`: the request hash as 64 lowercase hex characters.
    public func requestHash() throws(WireError) -> String { X402Syntax.hex(try requestHashBytes()) }

    private static func isLowercaseTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x61...0x7A, 0x30...0x39: return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    private static func isStrictlyAscending(_ names: [String]) -> Bool {
        zip(names, names.dropFirst()).allSatisfy { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    private static func isStrictlyAscendingUTF16(_ names: [String]) -> Bool {
        zip(names, names.dropFirst()).allSatisfy { Array($0.utf16).lexicographicallyPrecedes(Array($1.utf16)) }
    }

    private static func checkTargetURL(_ url: String) throws(WireError) {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = lower.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            rest = lower.dropFirst(7)
        } else {
            throw WireError(.malformed, "the http:1 url must be an absolute http or https URL")
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        guard !authority.isEmpty, !authority.contains("@"), !url.contains("#"),
              url.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw WireError(.malformed, "the http:1 url must be ASCII, with a host, without user information or fragment")
        }
    }
}
