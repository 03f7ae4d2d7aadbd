import Foundation

/// PyPI `openapi-spec-validator` (pinned in `scripts/peers-requirements.txt`) run on a document:
/// the independent judge of whether what `payrail serve` publishes is OpenAPI 3.1.
public enum OpenAPIValidatorPeer {
    /// What the validator said.
    public enum Verdict: Equatable, Sendable {
        /// The document validates as OpenAPI 3.1.
        case valid
        /// It does not; the validator's first line of explanation.
        case invalid(String)
    }

    /// Validates `document` (JSON bytes) as OpenAPI 3.1.
    ///
    /// - Throws: `PythonPeer.Failure` when the peer is not installed or fails for another reason.
    public static func validate(_ document: [UInt8]) throws -> Verdict {
        let output = try PythonPeer.run(source: script, name: "openapi_validator_peer.py", [], input: Data(document))
        let line = output.trimmingCharacters(in: .whitespacesAndNewlines)
        if line == "valid" { return .valid }
        guard line.hasPrefix("invalid: ") else { throw PythonPeer.Failure(description: "the OpenAPI validator peer printed \(line.prefix(300))") }
        return .invalid(String(line.dropFirst("invalid: ".count)))
    }

    // Exit 0 either way: a verdict is an answer, a crash (missing package) is a failure of the peer.
    static let script = #"""
import json
import sys

from openapi_spec_validator import OpenAPIV31SpecValidator, validate

document = json.load(sys.stdin)
try:
    validate(document, cls=OpenAPIV31SpecValidator)
except Exception as error:  # the validator's own error types vary between releases
    print("invalid: %s: %s" % (type(error).__name__, str(error).splitlines()[0] if str(error) else ""))
else:
    print("valid")
"""#
}
