import Foundation
import PayRailCrypto
import Testing

/// Reads every member through the reader and rebuilds the object, to compare with CanonicalJSON.parse.
private func readAll(_ text: String) throws -> [String: JSONValue] {
    var members: [String: JSONValue] = [:]
    try JSONObjectReader.read(Array(text.utf8)) { (reader: inout JSONObjectReader) throws(CanonicalJSONError) in
        while let name = try reader.nextMember() {
            members[reader.text(of: name)] = try reader.value()
        }
    }
    return members
}

@Suite("JSON object reader")
struct JSONObjectReaderTests {
    static let documents = [
        #"{}"#, #"{"a":1}"#, #" { "a" : "x" , "b" : [1, {"c": null}] } "#, #"{"exp":1700000000,"iat":1.7e9}"#,
        #"{"\u0061":1}"#, #"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, #"{"a":1,}"#, #"{,"a":1}"#, #"{"a":1} x"#,
        #"[1]"#, #""#, #"{"a":01}"#, #"{"a":"\ud800"}"#, #"{"a":-0.5e-3,"b":true,"c":false}"#, #"{"a" 1}"#,
        #"{"a":1"#, #"{"é":"ü"}"#, "{\"a\":\"tab\there\"}", #"{"a":1e400}"#,
    ]

    @Test("accepts and refuses exactly what CanonicalJSON.parse does, with the same members", arguments: documents)
    func agreesWithParse(document: String) throws {
        let reference = Result { try CanonicalJSON.parse(Array(document.utf8)) }
        let read = Result { try readAll(document) }
        switch (reference, read) {
        case (.success(.object(let expected)), .success(let members)):
            #expect(members == expected)
        case (.success(let value), .success):
            Issue.record("reader accepted a non-object \(value)")
        case (.success(.object), .failure(let error)):
            Issue.record("reader refused a valid object: \(error)")
        case (.success, .failure), (.failure, .failure):
            break
        case (.failure(let error), .success):
            Issue.record("reader accepted what parse refuses (\(error))")
        }
    }

    @Test("names compare without making strings; integers come out exact")
    func typedReads() throws {
        var seen: [String] = []
        try JSONObjectReader.read(Array(#"{"exp":1700000000,"sub":"GET /x","big":1e3,"neg":-5,"frac":1.5,"s":"1"}"#.utf8)) {
            (reader: inout JSONObjectReader) throws(CanonicalJSONError) in
            while let name = try reader.nextMember() {
                if reader.name(name, is: "exp") {
                    seen.append("exp=\(try reader.integerValue().map(String.init) ?? "nil")")
                } else if reader.name(name, is: "sub") {
                    seen.append("sub=\(try reader.stringValue() ?? "nil")")
                } else if reader.name(name, is: "s") {
                    seen.append("s=\(try reader.integerValue().map(String.init) ?? "nil")")
                } else {
                    seen.append("\(reader.text(of: name))=\(try reader.integerValue().map(String.init) ?? "nil")")
                }
            }
        }
        #expect(seen == ["exp=1700000000", "sub=GET /x", "big=1000", "neg=-5", "frac=nil", "s=nil"])
    }

    @Test("an integer too large for Int64 is not an integer")
    func overflow() throws {
        var value: Int64? = 0
        try JSONObjectReader.read(Array(#"{"n":9223372036854775808}"#.utf8)) { (reader: inout JSONObjectReader) throws(CanonicalJSONError) in
            while try reader.nextMember() != nil { value = try reader.integerValue() }
        }
        #expect(value == nil)
    }
}
