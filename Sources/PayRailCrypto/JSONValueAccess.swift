// Reading parsed JSON without a switch at every member.

extension JSONValue {
    /// The members, when the value is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The text, when the value is a string.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The elements, when the value is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The number, when the value is a number.
    public var numberValue: Double? {
        if case .number(let number) = self { return number }
        return nil
    }

    /// The number as an integer, when it is one and below 2^53 in magnitude: a count or a
    /// millisecond time sent as JSON, never a rounded fraction. 2^53 itself is refused, since the
    /// text 9007199254740993 parses to it too: only below it does a double name one integer.
    public var exactInt64Value: Int64? {
        guard case .number(let number) = self, number == number.rounded(.towardZero),
              abs(number) < 9_007_199_254_740_992 else { return nil }
        return Int64(number)
    }
}
