/// HTTP header fields in order, with case-insensitive look-up; repeated fields are kept apart.
///
/// Codecs read and write these instead of any server's or client's own header type, so the same
/// codec serves the gate, the agent and the command-line tools.
public struct HTTPFields: Hashable, Sendable, Sequence {
    /// One field as it appeared.
    public struct Field: Hashable, Sendable {
        /// The name as written (compared case-insensitively).
        public var name: String
        /// The value, without surrounding whitespace.
        public var value: String
        /// Makes a field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in order.
    public private(set) var fields: [Field]

    /// Makes a field list.
    public init(_ fields: [Field] = []) { self.fields = fields }

    /// Makes a field list from name/value pairs.
    public init(_ pairs: [(String, String)]) { self.fields = pairs.map { Field(name: $0.0, value: $0.1) } }

    /// Every value of the field `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    /// The first value of the field `name`.
    public subscript(_ name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// Adds a field after the others.
    public mutating func append(_ name: String, _ value: String) { fields.append(Field(name: name, value: value)) }

    /// Replaces every field `name` by one with `value`.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        append(name, value)
    }

    /// Removes every field `name`.
    public mutating func remove(_ name: String) { fields.removeAll { $0.name.caseInsensitiveEquals(name) } }

    /// Iterates over the fields in order.
    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }
}

extension String {
    /// ASCII case-insensitive equality, as HTTP field names, schemes and auth-param names compare.
    func caseInsensitiveEquals(_ other: String) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
        }
    }
}
