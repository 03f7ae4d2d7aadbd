import PayRailCrypto

/// Reading and writing the base64url-of-JCS JSON the Payment scheme puts in `request`, `opaque`, the
/// credential and the receipt. Every reader refuses wrong member types instead of guessing.
enum PaymentJSON {
    /// Decodes base64url (padding accepted, as the lightning method document requires) and parses one
    /// JSON object with the strict JCS parser (depth limit, duplicate names refused).
    static func decodeObject(_ text: String, what: String) throws(WireError) -> [String: JSONValue] {
        let bytes: [UInt8]
        do { bytes = try Base64URL.decode(text) } catch {
            throw WireError(.malformed, "\(what) is not base64url: \(error.code)")
        }
        return try parseObject(bytes, what: what)
    }

    /// Parses JSON bytes that must hold one object.
    static func parseObject(_ bytes: [UInt8], what: String) throws(WireError) -> [String: JSONValue] {
        let value: JSONValue
        do { value = try CanonicalJSON.parse(bytes) } catch {
            throw WireError(.malformed, "\(what) is not valid JSON (\(error.code) at byte \(error.offset))")
        }
        guard case .object(let object) = value else {
            throw WireError(.malformed, "\(what) must be a JSON object")
        }
        return object
    }

    /// base64url (no padding) of the JCS serialization.
    static func encode(_ object: [String: JSONValue], what: String) throws(WireError) -> String {
        do { return Base64URL.encode(try CanonicalJSON.serialize(.object(object))) } catch {
            throw WireError(.malformed, "\(what) cannot be serialized as JSON (\(error.code))")
        }
    }

    /// A member that must be a string when present.
    static func optionalString(_ object: [String: JSONValue], _ key: String, in what: String) throws(WireError) -> String? {
        switch object[key] {
        case nil: return nil
        case .string(let text)?: return text
        default: throw WireError(.malformed, "\(what).\(key) must be a string")
        }
    }

    /// A member that must be present and a string.
    static func requiredString(_ object: [String: JSONValue], _ key: String, in what: String) throws(WireError) -> String {
        guard let text = try optionalString(object, key, in: what) else {
            throw WireError(.missingField, "\(what).\(key) is missing")
        }
        return text
    }

    /// A member that must be an object when present.
    static func optionalObject(_ object: [String: JSONValue], _ key: String, in what: String) throws(WireError) -> [String: JSONValue]? {
        switch object[key] {
        case nil: return nil
        case .object(let inner)?: return inner
        default: throw WireError(.malformed, "\(what).\(key) must be a JSON object")
        }
    }

    /// An object whose members must all be strings (opaque, metadata, payloads mapped to the domain).
    static func stringMap(_ object: [String: JSONValue], in what: String) throws(WireError) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in object {
            guard case .string(let text) = value else {
                throw WireError(.malformed, "\(what).\(key) must be a string")
            }
            out[key] = text
        }
        return out
    }
}
