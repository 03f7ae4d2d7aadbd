// `wire-fuzz --make-seeds REPO_ROOT OUT_DIR TARGET...`: builds the seed corpus of each target from the
// test fixtures (only in the replay build; the libFuzzer build has no use for it).
//
// Fixtures hold real header values, tokens and JSON from the specifications and peers; the fuzzer
// starts from those rather than from nothing, so it spends its time past the first few bytes of the
// grammar. Every string in a JSON fixture (recursively, plus every object and array re-serialized),
// every line of a text fixture, and whatever those decode to (base64, base64url, hex) is a
// candidate; each target takes the candidates of its fixture groups. Hand-picked seeds in
// Fuzz/corpus/<target>/ and past crashes in Fuzz/crashes/<target>-* are added as they are.
//
// Seeds are named by the SHA-1 of their content, as libFuzzer names the inputs it adds, so
// re-seeding a corpus that libFuzzer has grown never stores the same input twice.

#if !PAYRAIL_LIBFUZZER
import Foundation
import PayRailCrypto

enum SeedMaker {
    /// libFuzzer's own `-max_len` default is far below this; larger fixtures only slow it down.
    static let maximumSeedBytes = 64 * 1024

    static let wireFixtures = "Tests/PayRailWireTests/Fixtures"

    /// Runs the seeds mode; returns the process exit status.
    static func run(_ arguments: [String]) -> Int32 {
        guard arguments.count >= 2 else {
            print("usage: wire-fuzz --make-seeds REPO_ROOT OUT_DIR TARGET...")
            return 2
        }
        let root = arguments[0], outDirectory = arguments[1], targets = Array(arguments.dropFirst(2))
        let known = Set(fuzzTargets.map(\.name))
        for target in targets where !known.contains(target) {
            print("wire-fuzz: unknown target '\(target)' (known: \(fuzzTargets.map(\.name).joined(separator: " ")))")
            return 2
        }

        func group(_ folder: String) -> [[UInt8]] { candidates(fixtureFiles(root: root, folder: folder)) }
        let payment = group("\(wireFixtures)/payment")
        let x402 = group("\(wireFixtures)/x402")
        let l402 = group("\(wireFixtures)/l402")
        let jcs = group("Tests/PayRailCryptoTests/Fixtures/jcs/input")
        let responses = group("\(wireFixtures)/responses")
        let everything = payment + x402 + l402 + jcs + responses
        let jsonLike = everything.filter { $0.first == UInt8(ascii: "{") || $0.first == UInt8(ascii: "[") }
        let base64Like = everything.filter(looksLikeBase64)
        let macaroons = l402.filter { $0.first == 0x02 }
        let bolt11 = group("Tests/Bolt11Tests/Fixtures/valid") + group("Tests/Bolt11Tests/Fixtures/invalid")

        // First matching prefix wins, so the specific names come before the families they resemble.
        let perTarget: [(prefix: String, seeds: [[UInt8]])] = [
            ("bolt11-", bolt11),
            ("plain-challenge", responses + jsonLike),
            ("plain-receipt", payment + l402),
            ("response-reader", responses),
            ("auth-", payment + l402),
            ("payment-", payment),
            ("charge-request", payment),
            ("accept-payment", payment),
            ("problem-details", jsonLike),
            ("x402-", x402),
            ("macaroon-binary", macaroons),
            ("l402-", l402),
            ("jcs", jcs + jsonLike),
            ("json-object-reader", jcs + jsonLike),
            ("base64", base64Like),
        ]

        let files = FileManager.default
        for target in targets {
            var seeds = perTarget.first { target.hasPrefix($0.prefix) }?.seeds ?? []
            let handPicked = "\(root)/Fuzz/corpus/\(target)"
            for name in sortedEntries(handPicked) {
                if let data = files.contents(atPath: "\(handPicked)/\(name)") { seeds.append(Array(data)) }
            }
            // Past crashes are replayed first, so a fixed bug that comes back is caught at once.
            let crashes = "\(root)/Fuzz/crashes"
            for name in sortedEntries(crashes) where name.hasPrefix(target + "-") {
                if let data = files.contents(atPath: "\(crashes)/\(name)") { seeds.append(Array(data)) }
            }
            let directory = "\(outDirectory)/\(target)"
            do {
                try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
                for seed in seeds {
                    try Data(seed).write(to: URL(fileURLWithPath: "\(directory)/\(SHA1.hex(seed))"))
                }
            } catch {
                print("wire-fuzz: cannot write the seeds of \(target) to \(directory): \(error)")
                return 1
            }
            print("\(target): \(sortedEntries(directory).count) seeds")
        }
        return 0
    }

    static func sortedEntries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// Every fixture file under a folder, recursively; scripts, notes and keys are not wire input.
    static func fixtureFiles(root: String, folder: String) -> [String] {
        let base = "\(root)/\(folder)"
        guard let walker = FileManager.default.enumerator(atPath: base) else { return [] }
        var paths: [String] = []
        while let relative = walker.nextObject() as? String {
            let path = "\(base)/\(relative)"
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let name = (relative as NSString).lastPathComponent
            if name.hasSuffix(".py") || name.hasSuffix(".md") || name.hasSuffix(".pem") || name == "LICENSE" { continue }
            paths.append(path)
        }
        return paths.sorted()
    }

    /// All seed candidates from fixture files: raw content, strings or lines, and their decodings.
    static func candidates(_ paths: [String]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for path in paths {
            guard let contents = FileManager.default.contents(atPath: path) else { continue }
            let data = Array(contents)
            if data.count <= maximumSeedBytes { out.append(data) }
            var strings: [[UInt8]] = []
            if let json = try? CanonicalJSON.parse(data) {
                walkStrings(json, into: &strings)
            } else {
                strings = lines(data).filter { $0.contains { !isASCIIWhitespace($0) } }
            }
            // A recorded HTTP response: its body is JSON worth walking too.
            if path.hasSuffix(".http"), let body = httpBody(data), let json = try? CanonicalJSON.parse(body) {
                walkStrings(json, into: &strings)
            }
            out += strings
            for item in strings { out += decodings(item) }
        }
        return out.filter { !$0.isEmpty && $0.count <= maximumSeedBytes }
    }

    /// Every string inside parsed JSON, and every object or array re-serialized.
    static func walkStrings(_ value: JSONValue, into out: inout [[UInt8]]) {
        switch value {
        case .string(let string):
            out.append(Array(string.utf8))
        case .object(let members):
            if let bytes = try? CanonicalJSON.serialize(value) { out.append(bytes) }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                out.append(Array(name.utf8))
                walkStrings(member, into: &out)
            }
        case .array(let items):
            if let bytes = try? CanonicalJSON.serialize(value) { out.append(bytes) }
            for item in items { walkStrings(item, into: &out) }
        case .null, .bool, .number:
            break
        }
    }

    /// What follows the first empty line (CRLF or LF) of an HTTP message.
    static func httpBody(_ data: [UInt8]) -> [UInt8]? {
        var index = 0
        while index < data.count {
            if data[index] == 0x0A {
                if index + 1 < data.count, data[index + 1] == 0x0A { return Array(data[(index + 2)...]) }
                if index + 2 < data.count, data[index + 1] == 0x0D, data[index + 2] == 0x0A { return Array(data[(index + 3)...]) }
            }
            index += 1
        }
        return nil
    }

    /// Lines split at LF, CR or CRLF, without their ends (a trailing line end adds no empty line).
    static func lines(_ data: [UInt8]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var start = 0, index = 0
        while index < data.count {
            let byte = data[index]
            if byte == 0x0A || byte == 0x0D {
                result.append(Array(data[start..<index]))
                if byte == 0x0D, index + 1 < data.count, data[index + 1] == 0x0A { index += 1 }
                start = index + 1
            }
            index += 1
        }
        if start < data.count { result.append(Array(data[start...])) }
        return result
    }

    static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// The characters of either base64 alphabet, with padding.
    static func isBase64Character(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "_"), UInt8(ascii: "="), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// At least four base64 characters and nothing else (a single final line feed aside, so a `.b64`
    /// file counts as written).
    static func looksLikeBase64(_ item: [UInt8]) -> Bool {
        let body = item.last == 0x0A ? item.dropLast() : item[...]
        return body.count >= 4 && body.allSatisfy(isBase64Character)
    }

    /// What a fixture string may encode: base64 (either alphabet, padded or not) and hex. A header
    /// value often carries the token after a scheme or inside quotes, so runs of 8 or more base64
    /// characters are tried as well as the whole (trimmed) string.
    static func decodings(_ raw: [UInt8]) -> [[UInt8]] {
        let text = Array(trimmed(String(decoding: raw, as: UTF8.self)).utf8)
        var pieces: Set<[UInt8]> = [text]
        var start: Int?
        for index in 0...text.count {
            if index < text.count, isBase64Character(text[index]) {
                if start == nil { start = index }
            } else if let runStart = start {
                if index - runStart >= 8 { pieces.insert(Array(text[runStart..<index])) }
                start = nil
            }
        }
        var found: [[UInt8]] = []
        for piece in pieces {
            if piece.count >= 4, piece.allSatisfy(isBase64Character), let decoded = lenientBase64(piece) { found.append(decoded) }
            if piece.count >= 4, piece.count % 2 == 0, let decoded = hexBytes(piece) { found.append(decoded) }
        }
        return found
    }

    /// Trims what the former seeds script trimmed (`str.strip()`): Unicode white space and the ASCII separators 1C-1F.
    static func trimmed(_ text: String) -> Substring {
        let isSpace = { (c: Character) in
            c.unicodeScalars.allSatisfy { $0.properties.isWhitespace || (0x1C...0x1F).contains($0.value) }
        }
        let view = Substring(text)
        guard let first = view.firstIndex(where: { !isSpace($0) }), let last = view.lastIndex(where: { !isSpace($0) }) else { return "" }
        return view[first...last]
    }

    /// Either alphabet, padding optional, leftover bits ignored: as lenient as a seed source should be
    /// (the project's own decoders insist on the canonical spelling, which is what they are fuzzed for).
    static func lenientBase64(_ piece: [UInt8]) -> [UInt8]? {
        var body = piece[...]
        while body.last == UInt8(ascii: "=") { body = body.dropLast() }
        guard body.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        var accumulator: UInt32 = 0, bits = 0
        for byte in body {
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): value = 63
            default: return nil  // "=" inside the data
            }
            accumulator = (accumulator << 6) | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        return output
    }

    static func hexBytes(_ piece: [UInt8]) -> [UInt8]? {
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var output: [UInt8] = []
        var index = 0
        while index + 1 < piece.count {
            guard let high = nibble(piece[index]), let low = nibble(piece[index + 1]) else { return nil }
            output.append(high << 4 | low)
            index += 2
        }
        return output
    }
}

/// SHA-1, only to name seed files as libFuzzer names corpus files (not for anything secret, which is
/// why it lives here and not in PayRailCrypto).
enum SHA1 {
    static func hex(_ message: [UInt8]) -> String {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var data = message
        let bitLength = UInt64(message.count) &* 8
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 80)
        for chunk in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                let j = chunk + i * 4
                w[i] = UInt32(data[j]) << 24 | UInt32(data[j + 1]) << 16 | UInt32(data[j + 2]) << 8 | UInt32(data[j + 3])
            }
            for i in 16..<80 {
                let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                w[i] = x << 1 | x >> 31
            }
            var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4]
            for i in 0..<80 {
                let f: UInt32, k: UInt32
                switch i {
                case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
                case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
                case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
                default: f = b ^ c ^ d; k = 0xCA62_C1D6
                }
                let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
                e = d; d = c; c = b << 30 | b >> 2; b = a; a = temp
            }
            h[0] = h[0] &+ a; h[1] = h[1] &+ b; h[2] = h[2] &+ c; h[3] = h[3] &+ d; h[4] = h[4] &+ e
        }
        return h.map { word in
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 8 - digits.count) + digits
        }.joined()
    }
}
#endif
