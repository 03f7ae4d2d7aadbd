import Foundation
import PayRail

// Pricing is configuration, often typed on a command line (`--price "GET /premium=100sat"`), so it
// has a text form. Rules are tried in order and the first match wins, which lets an operator put a
// specific route before a catch-all (`GET /api/free` before `GET /api/*`). A route matching no rule
// is free: the gate never charges for something nobody priced.
//
// Fail closed on spellings: the gate prices the canonical target (`RequestTarget`), but the server
// behind it may read a path more loosely than the gate does: most frameworks match routes without
// regard to ASCII case, with or without a trailing slash, after decoding every escape, and some drop
// `;parameters` from a segment. A request no rule matches exactly is therefore matched again in that
// lenient form (rule and path alike), so `/PREMIUM`, `/premium/` or `/premium;x` pay what `/premium`
// pays instead of reaching an upstream free. A route that differs from a priced one only in those
// ways is priced too, which is the safe mistake.

/// One pricing rule: requests whose method and path match cost `price`.
public struct PricingRule: Hashable, Sendable, CustomStringConvertible {
    /// An uppercase HTTP method, or `*` for any method.
    public let method: String
    /// A path starting with `/`; each `*` matches any run of characters, `/` included.
    public let pathPattern: String
    /// What a matching request costs on each rail.
    public let price: Price
    /// `pathPattern` in the lenient form `PricingTable.lenientForm` gives.
    private let lenientPattern: [UInt8]
    /// Whether the pattern is already in lenient form (then a lenient match of a path that is too
    /// is an exact match).
    var isLenientNormal: Bool { lenientPattern == Array(pathPattern.utf8) }

    /// Creates a rule.
    ///
    /// - Throws: `PricingError` when the method is not an uppercase token or `*`, or the pattern does
    ///   not start with `/` or contains whitespace.
    public init(method: String, pathPattern: String, price: Price) throws(PricingError) {
        guard method == "*" || (!method.isEmpty && method.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x2D }) else {
            throw PricingError(rule: "\(method) \(pathPattern)", reason: "the method must be uppercase (GET) or *")
        }
        guard pathPattern.utf8.first == 0x2F, pathPattern.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw PricingError(rule: "\(method) \(pathPattern)", reason: "the path must start with / and contain no spaces")
        }
        self.method = method
        self.pathPattern = pathPattern
        self.price = price
        self.lenientPattern = PricingTable.lenientForm(pathPattern)
    }

    /// Whether this rule prices `method` on `path` (the query string, if any, is ignored).
    public func matches(method requestMethod: String, path: String) -> Bool {
        guard method == "*" || method == requestMethod else { return false }
        // Every request is priced, so the match reads both strings' own storage: no copies.
        var pattern = pathPattern
        var text = path
        return pattern.withUTF8 { patternBytes in
            text.withUTF8 { pathBytes in
                let end = pathBytes.firstIndex(of: UInt8(ascii: "?")) ?? pathBytes.endIndex
                return Self.glob(patternBytes, UnsafeBufferPointer(rebasing: pathBytes[..<end]))
            }
        }
    }

    /// Whether this rule prices `method` on a path already in `PricingTable.lenientForm`.
    func matchesLeniently(method requestMethod: String, lenientPath: [UInt8]) -> Bool {
        guard method == "*" || method == requestMethod else { return false }
        return lenientPattern.withUnsafeBufferPointer { pattern in
            lenientPath.withUnsafeBufferPointer { Self.glob(pattern, $0) }
        }
    }

    /// `METHOD /pattern=amounts`, the form `PricingTable(parsing:rails:)` reads.
    public var description: String {
        let amounts = price.rails.compactMap { rail in price.amount(on: rail).map { "\(rail.rawValue):\($0.amount)\($0.unit.code)" } }
        return "\(method) \(pathPattern)=\(amounts.joined(separator: ","))"
    }

    // Iterative glob with one backtrack point: linear in practice, no recursion a hostile path could deepen.
    private static func glob(_ pattern: UnsafeBufferPointer<UInt8>, _ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var p = 0, t = 0
        var star: Int?, mark = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == 0x2A {
                star = p
                mark = t
                p += 1
            } else if p < pattern.count, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let starIndex = star {
                p = starIndex + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == 0x2A { p += 1 }
        return p == pattern.count
    }
}

/// A pricing rule that cannot be used as written; fix the configuration.
public struct PricingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule as given.
    public let rule: String
    /// What is wrong with it.
    public let reason: String

    /// Creates an error.
    public init(rule: String, reason: String) {
        self.rule = rule
        self.reason = reason
    }

    /// The rule and the reason.
    public var description: String { "invalid price rule \"\(rule)\": \(reason)" }
}

/// The gate's price list: ordered rules, first match wins, unlisted routes are free.
public struct PricingTable: Hashable, Sendable {
    /// The rules in the order they are tried.
    public let rules: [PricingRule]
    /// Whether every rule's pattern is already in lenient form (see `price(method:path:)`).
    private let patternsAreLenientNormal: Bool

    /// A table of rules, tried in order.
    public init(rules: [PricingRule]) {
        self.rules = rules
        self.patternsAreLenientNormal = rules.allSatisfy(\.isLenientNormal)
    }

    /// Parses rules such as `GET /premium=100sat`, `GET /api/*=0.50usd` or
    /// `POST /jobs=lightning:100sat,fake:0.05usd`.
    ///
    /// An amount without a `rail:` prefix applies to every rail in `rails` (the rails the server
    /// runs), so a one-rail command line needs no rail names.
    ///
    /// - Throws: `PricingError` naming the rule and what is wrong (missing `=`, bad method or path,
    ///   unreadable amount, unknown rail, no rail at all).
    public init(parsing lines: [String], rails: [RailID]) throws(PricingError) {
        var rules: [PricingRule] = []
        for line in lines {
            rules.append(try Self.parseRule(line, rails: rails))
        }
        self.init(rules: rules)
    }

    /// The price of a request, or `nil` when it is free. Two rules are looked for: the first matching
    /// the path as written, and the first matching it in the lenient form (ASCII case, escapes, empty
    /// and dot segments, `;parameters`, an escaped `?` or `#` and a trailing slash ignored), since an
    /// upstream may serve that spelling as the route. When both exist and differ, the dearer price
    /// is charged: `/api/premium;x` must not pay a catch-all's price for what the upstream serves as
    /// `/api/premium`, nor `/a` the price of an earlier `/A` that an upstream keeps apart.
    public func price(method: String, path: String) -> Price? {
        let exact = rules.first { $0.matches(method: method, path: path) }
        // A path and patterns already in lenient form match leniently exactly when they match: the
        // common case (a canonical lowercase path) costs no second pass.
        guard !patternsAreLenientNormal || Self.mayChangeLeniently(path) else { return exact?.price }
        let lenient = Self.lenientForm(path)
        let loose = rules.first { $0.matchesLeniently(method: method, lenientPath: lenient) }
        switch (exact, loose) {
        case (nil, nil): return nil
        case (let rule?, nil), (nil, let rule?): return rule.price
        case (let exact?, let loose?): return exact == loose ? exact.price : Self.dearer(exact.price, loose.price)
        }
    }

    /// Per rail the larger amount; a rail only one price names keeps its amount; amounts in different
    /// units on one rail cannot be compared and keep the first price's.
    static func dearer(_ first: Price, _ second: Price) -> Price {
        var amounts = first.amounts
        for (rail, amount) in second.amounts {
            guard let mine = amounts[rail] else { amounts[rail] = amount; continue }
            if let order = try? mine.compare(amount), order < 0 { amounts[rail] = amount }
        }
        return (try? Price(amounts)) ?? first
    }

    /// Whether the lenient form of `path` may differ from the path itself (before its query).
    static func mayChangeLeniently(_ path: String) -> Bool {
        var previous: UInt8 = 0
        var last: UInt8 = 0
        for byte in path.utf8 {
            if byte == 0x3F { break }
            if (byte >= 0x41 && byte <= 0x5A) || byte == 0x25 || byte == 0x3B || byte == 0x2E { return true }
            if byte == 0x2F, previous == 0x2F { return true }
            previous = byte
            last = byte
        }
        return last == 0x2F && path.utf8.count > 1
    }

    /// A path (query dropped) as a lenient server may route it: every `%XX` decoded, ASCII letters
    /// lowercased, each segment cut at `;`, empty and `.` segments dropped, `..` removing the segment
    /// before it, no trailing slash. Rule patterns go through the same function (`*` is kept).
    static func lenientForm(_ path: String) -> [UInt8] {
        var decoded: [UInt8] = []
        var bytes = Array(path.utf8)
        if let mark = bytes.firstIndex(of: UInt8(ascii: "?")) { bytes.removeSubrange(mark...) }
        var index = 0
        while index < bytes.count {
            var byte = bytes[index]
            if byte == 0x25, index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                byte = high << 4 | low
                index += 2
            }
            decoded.append(byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte)
            index += 1
        }
        // The raw query was cut above, so a `?` or `#` here was escaped: a server that decodes once
        // and parses again ends the path there.
        if let cut = decoded.firstIndex(where: { $0 == 0x3F || $0 == 0x23 }) { decoded.removeSubrange(cut...) }
        var segments: [ArraySlice<UInt8>] = []
        for var segment in decoded.split(separator: 0x2F, omittingEmptySubsequences: true) {
            if let semicolon = segment.firstIndex(of: 0x3B) { segment = segment[..<semicolon] }
            switch segment.count {
            case 0: continue
            case 1 where segment.first == 0x2E: continue
            case 2 where segment.allSatisfy({ $0 == 0x2E }): _ = segments.popLast()
            default: segments.append(segment)
            }
        }
        var out: [UInt8] = [0x2F]
        for (position, segment) in segments.enumerated() {
            if position > 0 { out.append(0x2F) }
            out.append(contentsOf: segment)
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    private static func parseRule(_ line: String, rails: [RailID]) throws(PricingError) -> PricingRule {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard let equals = text.lastIndex(of: "=") else {
            throw PricingError(rule: line, reason: "expected METHOD /path=AMOUNT, e.g. GET /premium=100sat")
        }
        let route = text[..<equals].split(separator: " ", omittingEmptySubsequences: true)
        guard route.count == 2 else {
            throw PricingError(rule: line, reason: "expected one method and one path before '='")
        }
        var amounts: [RailID: Money] = [:]
        for item in text[text.index(after: equals)...].split(separator: ",") {
            let part = item.trimmingCharacters(in: .whitespaces)
            var targets = rails
            var amountText = part
            if let colon = part.firstIndex(of: ":") {
                do { targets = [try RailID(String(part[..<colon]))] } catch {
                    throw PricingError(rule: line, reason: "\"\(part[..<colon])\" is not a rail name")
                }
                amountText = String(part[part.index(after: colon)...])
            }
            let money: Money
            do { money = try Money(parsing: amountText) } catch {
                throw PricingError(rule: line, reason: "\"\(amountText)\" is not an amount such as 100sat or 0.50usd (\(error))")
            }
            guard !targets.isEmpty else {
                throw PricingError(rule: line, reason: "no rail is configured to take \(amountText)")
            }
            for rail in targets { amounts[rail] = money }
        }
        let price: Price
        do { price = try Price(amounts) } catch {
            throw PricingError(rule: line, reason: "no amount given after '='")
        }
        return try PricingRule(method: String(route[0]), pathPattern: String(route[1]), price: price)
    }
}
