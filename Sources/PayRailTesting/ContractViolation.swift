// The contract suite must run inside any test framework (Swift Testing, XCTest in someone else's
// project, a CLI self-check), so it reports by throwing instead of calling `#expect`.

/// A rule of the rail contract that a rail broke, with enough detail to find the bug.
public struct ContractViolation: Error, Hashable, Sendable, CustomStringConvertible {
    /// The check that failed.
    public let check: RailContractSuite.Check
    /// The rule, in one sentence.
    public let rule: String
    /// What actually happened.
    public let detail: String

    /// Creates a violation.
    public init(check: RailContractSuite.Check, rule: String, detail: String) {
        self.check = check
        self.rule = rule
        self.detail = detail
    }

    /// `[check] rule: detail`.
    public var description: String { "[\(check.rawValue)] \(rule): \(detail)" }
}
