import Foundation
import PayRailCrypto

// The challenge-id secrets of a data directory, shared by every gate of a deployment (copies of one
// file). The first line is the current secret, which makes new challenge ids and bound offers; each
// further line is another secret still accepted: `SECRET until UNIX-SECONDS` (a retired secret, until
// the challenges it made have expired and their presentation grace is over) or `SECRET next` (the
// secret a rotation will promote, accepted already so that gates restarted with it and gates not yet
// restarted verify each other's challenges). A file of one line is the format before rotation existed.
//
// A rotation across gates, without refusing anything in between:
//   1. `payrail keys rotate-challenge --data DIR --phase prepare` adds a `next` line; copy the file to
//      every gate and restart them one by one (each accepts the next secret, none makes ids with it);
//   2. `--phase promote` makes it current and retires the old one `until` now plus the challenge
//      lifetime and the presentation grace; copy and restart again.

/// The challenge-id secrets read from (and written to) `challenge-secret`.
public struct ChallengeKeySet: Sendable {
    /// A secret other than the current one, accepted until `acceptUntil` (`.distantFuture` for `next`).
    public struct Accepted: Sendable {
        /// The secret's bytes.
        public let secret: [UInt8]
        /// When it stops verifying.
        public let acceptUntil: Date
        /// Whether this is the upcoming secret (written `next`).
        public var isNext: Bool { acceptUntil == .distantFuture }
    }

    /// The secret new ids are made with.
    public var current: [UInt8]
    /// Secrets that verify too.
    public var accepted: [Accepted]

    /// Reads the file's text; `nil` reason-less failures become a `ServeSetupError` naming the file.
    static func parse(_ text: String, file: String) throws(ServeSetupError) -> ChallengeKeySet {
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw ServeSetupError("\(file) is empty: move it away to make a new one") }
        let first = lines.removeFirst()
        guard let current = Self.secret(first) else {
            throw ServeSetupError("\(file) does not start with a base64url secret of at least 32 bytes: move it away to make a new one")
        }
        var accepted: [Accepted] = []
        for line in lines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let secret = fields.first.flatMap({ Self.secret(String($0)) }) else {
                throw ServeSetupError("\(file) has a line that is not SECRET until UNIX-SECONDS or SECRET next")
            }
            if fields.count == 2, fields[1] == "next" {
                accepted.append(Accepted(secret: secret, acceptUntil: .distantFuture))
            } else if fields.count == 3, fields[1] == "until", let seconds = Int64(fields[2]), seconds >= 0 {
                accepted.append(Accepted(secret: secret, acceptUntil: Date(timeIntervalSince1970: TimeInterval(seconds))))
            } else {
                throw ServeSetupError("\(file) has a line that is not SECRET until UNIX-SECONDS or SECRET next")
            }
        }
        return ChallengeKeySet(current: current, accepted: accepted)
    }

    private static func secret(_ text: String) -> [UInt8]? {
        guard let bytes = try? Base64URL.decode(text), bytes.count >= 32 else { return nil }
        return bytes
    }

    /// The file's text.
    var text: String {
        var lines = [Base64URL.encode(current)]
        for entry in accepted {
            lines.append(Base64URL.encode(entry.secret) + (entry.isNext ? " next" : " until \(Int64(entry.acceptUntil.timeIntervalSince1970))"))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The set with a new upcoming secret (replacing an earlier `next`).
    public func prepared(_ secret: [UInt8]) -> ChallengeKeySet {
        ChallengeKeySet(current: current, accepted: accepted.filter { !$0.isNext } + [Accepted(secret: secret, acceptUntil: .distantFuture)])
    }

    /// The set with the upcoming secret (or `fresh`, when none was prepared) current, the old current
    /// accepted until `now + acceptFor`, and secrets past their time dropped.
    public func promoted(fresh: [UInt8], now: Date, acceptFor: TimeInterval) -> ChallengeKeySet {
        let next = accepted.first(where: \.isNext)?.secret ?? fresh
        let kept = accepted.filter { !$0.isNext && $0.acceptUntil > now }
        return ChallengeKeySet(current: next, accepted: [Accepted(secret: current, acceptUntil: now.addingTimeInterval(acceptFor))] + kept)
    }
}

extension ServeDataDirectory {
    /// The challenge-id secrets (`challenge-secret`; made with one fresh secret on first use).
    public func challengeKeySet() throws(ServeSetupError) -> ChallengeKeySet {
        let current = try challengeSecret()
        let file = url.appendingPathComponent("challenge-secret")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return ChallengeKeySet(current: current, accepted: []) }
        return try ChallengeKeySet.parse(text, file: file.path)
    }

    /// Replaces `challenge-secret` (mode 0600, atomically).
    public func saveChallengeKeySet(_ set: ChallengeKeySet) throws(ServeSetupError) {
        try Self.replaceFile(url.appendingPathComponent("challenge-secret"), with: Data(set.text.utf8), mode: 0o600)
    }
}
