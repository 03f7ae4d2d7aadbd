// `Accept-Payment` (draft-httpauth-payment-02): the client's preference among payment methods and
// intents, with RFC 9110 weights.
//
//   Accept-Payment = #payment-range
//   payment-range  = payment-token [ weight ]        ; weight = OWS ";" OWS "q=" qvalue
//   payment-token  = ( payment-method-id / "*" ) "/" ( intent-token / "*" )

/// A parsed `Accept-Payment` header.
public struct AcceptPayment: Hashable, Sendable {
    /// One `method/intent;q=` range; `nil` stands for `*`.
    public struct Range: Hashable, Sendable {
        /// The method, or `nil` for any.
        public var method: String?
        /// The intent, or `nil` for any.
        public var intent: String?
        /// The weight in thousandths (`q=0.5` is 500); 0 means "do not use".
        public var weight: Int

        /// Makes a range.
        public init(method: String?, intent: String?, weight: Int = 1000) {
            self.method = method
            self.intent = intent
            self.weight = weight
        }

        /// How specific the range is: exact method and intent 3, method only 2, intent only 1, `*/*` 0.
        /// Between `lightning/*` and `*/charge` the method wins: the method is what the payer must hold.
        public var specificity: Int { (method == nil ? 0 : 2) + (intent == nil ? 0 : 1) }

        func matches(method other: String, intent otherIntent: String) -> Bool {
            (method == nil || method == other) && (intent == nil || intent == otherIntent)
        }
    }

    /// The ranges in the order given (a repeated range keeps its first weight).
    public var ranges: [Range]

    /// Makes a header value from ranges.
    public init(_ ranges: [Range]) { self.ranges = ranges }

    /// Parses the values of the `Accept-Payment` fields.
    ///
    /// - Throws: `.malformed` for a value outside the grammar. The draft lets a server ignore a
    ///   malformed header, so callers usually fall back to their own order on error.
    public static func parse(_ values: [String]) throws(WireError) -> AcceptPayment {
        var ranges: [Range] = []
        for value in values {
            guard value.utf8.count <= 8 * 1024 else { throw WireError(.tooLarge, "an Accept-Payment value over 8 KB is not read") }
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let trimmed = element.acceptPaymentTrimmed()
                if trimmed.isEmpty { continue }
                let range = try parseRange(trimmed)
                if !ranges.contains(where: { $0.method == range.method && $0.intent == range.intent }) {
                    ranges.append(range)
                }
            }
        }
        return AcceptPayment(ranges)
    }

    /// Parses one `Accept-Payment` value.
    public static func parse(_ value: String) throws(WireError) -> AcceptPayment { try parse([value]) }

    private static func parseRange(_ text: Substring) throws(WireError) -> Range {
        let parts = text.split(separator: ";", omittingEmptySubsequences: false).map { $0.acceptPaymentTrimmed() }
        guard let token = parts.first, parts.count <= 2 else {
            throw WireError(.malformed, "\"\(text.prefix(40))\" has parameters other than one q weight")
        }
        let halves = token.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2 else { throw WireError(.malformed, "\"\(token.prefix(40))\" is not method/intent") }
        let method = String(halves[0]), intent = String(halves[1])
        guard method == "*" || (!method.isEmpty && method.utf8.allSatisfy { $0 >= 0x61 && $0 <= 0x7A }) else {
            throw WireError(.malformed, "\"\(method.prefix(40))\" is not a payment method (lowercase letters) or *")
        }
        guard intent == "*" || (!intent.isEmpty && intent.utf8.allSatisfy { AuthParameters.isAlphaNumeric($0) || $0 == 0x2D }) else {
            throw WireError(.malformed, "\"\(intent.prefix(40))\" is not an intent or *")
        }
        var weight = 1000
        if parts.count == 2 {
            let parameter = parts[1]
            guard parameter.count >= 3, parameter.prefix(2).lowercased() == "q=" else {
                throw WireError(.malformed, "\"\(parameter.prefix(40))\" is not a q= weight")
            }
            weight = try parseQValue(parameter.dropFirst(2))
        }
        return Range(method: method == "*" ? nil : method, intent: intent == "*" ? nil : intent, weight: weight)
    }

    /// RFC 9110 qvalue: `0[.ddd]` or `1[.000]`, in thousandths.
    private static func parseQValue(_ text: Substring) throws(WireError) -> Int {
        let bytes = Array(text.utf8)
        func fail() -> WireError { WireError(.malformed, "\"\(text.prefix(10))\" is not a qvalue (0 to 1, at most three decimals)") }
        guard let first = bytes.first, first == 0x30 || first == 0x31 else { throw fail() }
        var value = Int(first - 0x30) * 1000
        if bytes.count == 1 { return value }
        guard bytes.count >= 2, bytes.count <= 5, bytes[1] == 0x2E else { throw fail() }
        var scale = 100
        for byte in bytes.dropFirst(2) {
            guard byte >= 0x30, byte <= 0x39 else { throw fail() }
            value += Int(byte - 0x30) * scale
            scale /= 10
        }
        guard value <= 1000 else { throw fail() }
        return value
    }

    /// The weight the client gives `method/intent`: that of the most specific matching range, or
    /// `nil` when no range matches.
    public func weight(method: String, intent: String) -> Int? {
        ranges.filter { $0.matches(method: method, intent: intent) }
            .max { $0.specificity < $1.specificity }?.weight
    }

    /// Orders offers by the client's weights, highest first, keeping the server's order among equals.
    /// Offers no range matches, or matched with q=0, are dropped. When NO offer matches any range at
    /// all, the header is ignored and `items` come back unchanged (the draft lets a server ignore a
    /// header it cannot satisfy rather than offer nothing).
    public func order<Item>(_ items: [Item], by key: (Item) -> (method: String, intent: String)) -> [Item] {
        let weighted = items.enumerated().map { index, item -> (index: Int, weight: Int?, item: Item) in
            let k = key(item)
            return (index, weight(method: k.method, intent: k.intent), item)
        }
        guard weighted.contains(where: { $0.weight != nil }) else { return items }
        return weighted.compactMap { entry -> (index: Int, weight: Int, item: Item)? in
            guard let weight = entry.weight, weight > 0 else { return nil }
            return (entry.index, weight, entry.item)
        }
        .sorted { $0.weight != $1.weight ? $0.weight > $1.weight : $0.index < $1.index }
        .map(\.item)
    }
}

fileprivate extension Substring {
    func acceptPaymentTrimmed() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }
}
