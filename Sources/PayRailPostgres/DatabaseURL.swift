import Foundation
import PayRailStore

// A connection URL carries a password, and a URL is exactly the kind of thing that ends up in a log
// line, a crash report or an error message. So the parsed URL keeps the password out of every
// printed form (`description`, `debugDescription`, `dump`), and `redact(_:)` scrubs it from any text
// libpq hands back before that text can reach an error.

/// A PostgreSQL connection URL (`postgres://` or `postgresql://`), parsed; prints without its password.
///
/// Forms: `postgres://user:password@host:5432/database?sslmode=require`,
/// `postgresql://user@/database?host=/var/run/postgresql` (a unix socket directory),
/// `postgres://user@[::1]:5433/db`. Query parameters are passed to libpq as connection keywords.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The user name, if any.
    public let user: String?
    /// The host name or address (empty: libpq's default, a unix socket).
    public let host: String
    /// The port, if given.
    public let port: Int?
    /// The database name (empty: libpq's default, the user name).
    public let database: String
    /// Further libpq connection keywords from the query string, in order.
    public let parameters: [(key: String, value: String)]
    /// Kept private: the only way to it is the connection itself.
    let password: String?

    /// The environment variable the command-line tool reads when no URL is given.
    public static let environmentVariable = "PAYRAIL_DB"

    /// Parses a URL; `postgres://` and `postgresql://` are accepted.
    ///
    /// - Throws: `StoreError` `.invalidArgument` with a reason that never contains the password.
    public init(_ text: String) throws(StoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let rest: Substring
        if trimmed.hasPrefix("postgres://") {
            rest = trimmed.dropFirst("postgres://".count)
        } else if trimmed.hasPrefix("postgresql://") {
            rest = trimmed.dropFirst("postgresql://".count)
        } else {
            throw StoreError.invalid("a database URL must start with postgres:// or postgresql://")
        }
        let (beforeQuery, query) = Self.split(rest, at: "?")
        let (authority, path) = Self.split(beforeQuery, at: "/")
        var hostPort = authority
        var user: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            let (name, secret) = Self.split(userInfo, at: ":")
            user = try Self.decode(name, what: "user name")
            if secret != nil || userInfo.contains(":") { password = try Self.decode(secret ?? "", what: "password") }
        }
        let (host, port) = try Self.hostAndPort(hostPort)
        self.user = (user?.isEmpty ?? true) ? nil : user
        self.password = password
        self.host = host
        self.port = port
        self.database = try Self.decode(path ?? "", what: "database name")
        var parameters: [(key: String, value: String)] = []
        for pair in (query ?? "").split(separator: "&") where !pair.isEmpty {
            let (key, value) = Self.split(pair, at: "=")
            let name = try Self.decode(key, what: "parameter name")
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0 == "_" }) else {
                throw StoreError.invalid("a database URL parameter name is not a libpq keyword")
            }
            parameters.append((name, try Self.decode(value ?? "", what: "parameter \(name)")))
        }
        self.parameters = parameters
    }

    /// The URL in `$PAYRAIL_DB`, or `nil` when it is unset or empty.
    ///
    /// - Throws: `StoreError` `.invalidArgument` when it is set but not a PostgreSQL URL.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) -> DatabaseURL? {
        guard let text = environment[environmentVariable], !text.isEmpty else { return nil }
        return try DatabaseURL(text)
    }

    /// Whether the URL carries a password (it is never printed).
    public var hasPassword: Bool { password != nil }

    /// The URL with `***` in place of the password (and of any `password` parameter).
    public var description: String {
        var text = "postgres://"
        if let user { text += Self.encode(user) + (password == nil ? "" : ":***") + "@" }
        text += host.contains(":") ? "[\(host)]" : Self.encode(host)
        if let port { text += ":\(port)" }
        text += "/" + Self.encode(database)
        if !parameters.isEmpty {
            text += "?" + parameters.map { "\($0.key)=\($0.key == "password" ? "***" : Self.encode($0.value))" }.joined(separator: "&")
        }
        return text
    }

    /// The same as `description`: debug output is logged too.
    public var debugDescription: String { description }

    /// What `dump` shows: no password.
    public var customMirror: Mirror {
        Mirror(self, children: ["url": description], displayStyle: .struct)
    }

    /// Two URLs are equal when every part is, the password included.
    public static func == (lhs: DatabaseURL, rhs: DatabaseURL) -> Bool {
        lhs.user == rhs.user && lhs.password == rhs.password && lhs.host == rhs.host && lhs.port == rhs.port
            && lhs.database == rhs.database && lhs.parameters.map(\.key) == rhs.parameters.map(\.key)
            && lhs.parameters.map(\.value) == rhs.parameters.map(\.value)
    }

    /// Hashes every part but the password.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(user)
        hasher.combine(host)
        hasher.combine(port)
        hasher.combine(database)
        for parameter in parameters { hasher.combine(parameter.key) }
    }

    /// `text` with every occurrence of the password (plain and percent-encoded) replaced by `***`.
    public func redact(_ text: String) -> String {
        var secrets = [password, parameters.first { $0.key == "password" }?.value].compactMap { $0 }.filter { !$0.isEmpty }
        secrets += secrets.map(Self.encode)
        var redacted = text
        for secret in secrets.sorted(by: { $0.count > $1.count }) {
            redacted = redacted.replacingOccurrences(of: secret, with: "***")
        }
        return redacted
    }

    /// libpq's connection keywords, the password included (for `PQconnectdbParams` only).
    func keywords() -> [(String, String)] {
        var result: [(String, String)] = []
        if !host.isEmpty { result.append(("host", host)) }
        if let port { result.append(("port", String(port))) }
        if !database.isEmpty { result.append(("dbname", database)) }
        if let user { result.append(("user", user)) }
        if let password { result.append(("password", password)) }
        result += parameters.map { ($0.key, $0.value) }
        return result
    }

    // MARK: - Parsing

    private static func split(_ text: Substring, at separator: Character) -> (Substring, Substring?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (text[..<index], text[text.index(after: index)...])
    }

    private static func hostAndPort(_ text: Substring) throws(StoreError) -> (String, Int?) {
        var host = text
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw StoreError.invalid("a database URL has an unclosed [ in its host") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw StoreError.invalid("a database URL has text after its [host]")
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        var port: Int?
        if let portText, !portText.isEmpty {
            guard let value = Int(portText), (1...65_535).contains(value) else {
                throw StoreError.invalid("a database URL's port must be a number from 1 to 65535")
            }
            port = value
        }
        return (try decode(host, what: "host"), port)
    }

    private static func decode(_ text: Substring, what: String) throws(StoreError) -> String {
        guard let decoded = String(text).removingPercentEncoding else {
            throw StoreError.invalid("the database URL's \(what) has a malformed %-escape")
        }
        return decoded
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    private static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}
