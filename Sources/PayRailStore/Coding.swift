import Foundation
import PayRail

// Conversions between stored columns and PayRail values. A stored value that no longer parses means
// the file was edited or damaged, so every failure here is `.corrupt`, never a crash.

package enum Coding {
    package static func money(_ amount: Int64, code: String, exponent: Int64) throws(StoreError) -> Money {
        do {
            let unit: MoneyUnit
            if code == MoneyUnit.sat.code || code == MoneyUnit.msat.code {
                unit = try MoneyUnit(code: code)
            } else {
                unit = try MoneyUnit(isoCode: code, exponent: Int(clamping: exponent))
            }
            guard Int64(unit.exponent) == exponent else { throw MoneyError.invalidUnit("exponent mismatch") }
            return try Money(amount: amount, unit: unit)
        } catch {
            throw StoreError.corrupt("a stored amount does not decode: \(error)")
        }
    }

    package static func rail(_ text: String) throws(StoreError) -> RailID {
        do {
            return try RailID(text)
        } catch {
            throw StoreError.corrupt("a stored rail name does not decode: \(error)")
        }
    }

    package static func resource(_ text: String) throws(StoreError) -> Resource {
        do {
            return try Resource(parsing: text)
        } catch {
            throw StoreError.corrupt("a stored resource does not decode: \(error)")
        }
    }

    package static func encodeDetails(_ details: [String: String]) throws(StoreError) -> String {
        try encode(details)
    }

    package static func decodeDetails(_ text: String) throws(StoreError) -> [String: String] {
        try decode([String: String].self, text, what: "offer details")
    }

    package static func encodeHeaders(_ headers: [StoredHeader]) throws(StoreError) -> String {
        try encode(headers)
    }

    package static func decodeHeaders(_ text: String) throws(StoreError) -> [StoredHeader] {
        try decode([StoredHeader].self, text, what: "response headers")
    }

    private static func encode<T: Encodable>(_ value: T) throws(StoreError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw StoreError(code: .internal, reason: "cannot encode a value as JSON", isRetrySafe: false)
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String, what: String) throws(StoreError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw StoreError.corrupt("stored \(what) are not valid JSON")
        }
    }
}
