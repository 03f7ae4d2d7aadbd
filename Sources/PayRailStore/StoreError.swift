// A store failure must tell the gate one thing before anything else: may it try again? A busy
// database (another process holds the write lock) clears up by itself; a corrupt file or a schema
// from a newer PayRail never will, and retrying it only hides the problem. Reasons are written for
// operators and never contain secrets: no tokens, preimages or request bodies, only ids and SQLite's
// own message (which never includes bound values).

/// A failure of a PayRail store (memory or SQLite), with whether repeating the operation is safe.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure; a struct of static values so new stores can add codes without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// Stable identifier for logs, metrics and problem details.
        public let rawValue: String

        /// Creates a code (use the static values; other store implementations may add their own).
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Another connection or process holds the lock longer than the busy timeout; retry later.
        public static let busy = Code(rawValue: "busy")
        /// The file is damaged or is not a SQLite database; restore it from a backup or choose another path.
        public static let corrupt = Code(rawValue: "corrupt")
        /// The database was written by a newer PayRail; upgrade PayRail or open another file.
        public static let newerSchema = Code(rawValue: "newerSchema")
        /// The file cannot be opened, read or written (permissions, missing directory, disk full).
        public static let unavailable = Code(rawValue: "unavailable")
        /// A record with the same unique id already exists (a challenge id, receipt id or token hash).
        public static let duplicate = Code(rawValue: "duplicate")
        /// The record to update does not exist (or was purged).
        public static let notFound = Code(rawValue: "notFound")
        /// The caller passed a value the store refuses (an empty id, an impossible rate-limit policy).
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// The store was closed; open a new one.
        public static let closed = Code(rawValue: "closed")
        /// SQLite reported something this code did not expect; a bug report with the reason helps.
        public static let `internal` = Code(rawValue: "internal")

        /// The identifier.
        public var description: String { rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for operators; never contains a secret.
    public let reason: String
    /// Whether the same operation may simply be repeated later (true only for transient contention).
    public let isRetrySafe: Bool

    /// Creates an error.
    public init(code: Code, reason: String, isRetrySafe: Bool) {
        self.code = code
        self.reason = reason
        self.isRetrySafe = isRetrySafe
    }

    /// The code, the reason and what to do next.
    public var description: String {
        let advice = isRetrySafe ? "retrying later is safe" : "retrying will not help"
        return "store error \(code): \(reason) (\(advice))"
    }

    package static func invalid(_ reason: String) -> StoreError {
        StoreError(code: .invalidArgument, reason: reason, isRetrySafe: false)
    }

    package static func corrupt(_ reason: String) -> StoreError {
        StoreError(code: .corrupt, reason: reason, isRetrySafe: false)
    }
}
