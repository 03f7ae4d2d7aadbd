// A receipt grants access to one resource, written "METHOD /path" (the receipt's `sub` claim and the
// charge's binding). A dedicated type keeps "GET /a" and "get /a " from being two different grants.

/// An HTTP method and path that a payment unlocks, e.g. `GET /reports/42`.
public struct Resource: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Uppercase HTTP method token (`GET`, `POST`, ...).
    public let method: String
    /// The path, starting with `/`, without spaces (query string included if the price depends on it).
    public let path: String

    /// Validates a method and a path.
    ///
    /// - Throws: `ResourceError` when the method is not an uppercase token or the path does not start
    ///   with `/` or contains whitespace or control characters.
    public init(method: String, path: String) throws(ResourceError) {
        guard !method.isEmpty, method.utf8.count <= 16,
              method.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x2D }) else {
            throw ResourceError(text: "\(method) \(path)", reason: "the method must be an uppercase token such as GET")
        }
        guard path.utf8.first == 0x2F, path.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw ResourceError(text: "\(method) \(path)", reason: "the path must start with / and contain no spaces")
        }
        self.method = method
        self.path = path
    }

    /// Parses `"METHOD /path"` (exactly one space).
    ///
    /// - Throws: `ResourceError` for any other shape.
    public init(parsing text: String) throws(ResourceError) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw ResourceError(text: text, reason: "expected \"METHOD /path\" with one space")
        }
        try self.init(method: String(parts[0]), path: String(parts[1]))
    }

    /// `METHOD /path`.
    public var description: String { "\(method) \(path)" }

    /// Decodes the `"METHOD /path"` string form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes the `"METHOD /path"` string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A resource that is not of the form `METHOD /path`; fix the pricing rule or the request.
public struct ResourceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rejected text.
    public let text: String
    /// The rule it broke.
    public let reason: String

    /// What was wrong.
    public var description: String { "invalid resource \"\(text)\": \(reason)" }
}
