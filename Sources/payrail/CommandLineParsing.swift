import Foundation

/// One option a command accepts, e.g. `--out DIR` or the flag `--json`.
struct OptionSpec: Sendable {
    /// Long name without the dashes ("out" for `--out`).
    var name: String
    /// Placeholder shown in help for the value; `nil` makes the option a flag that takes no value.
    var valueName: String?
    /// One line for `--help`.
    var help: String
    /// Whether the command refuses to run without it.
    var isRequired: Bool = false
    /// Whether it may be given several times (values are kept in order).
    var isRepeatable: Bool = false
    /// Closed set of accepted values, checked before the command runs.
    var allowedValues: [String]? = nil
    /// A one-letter alias (`-X` for `--request`), curl style: `-X POST` or `-XPOST`.
    var short: Character? = nil
}

/// A positional argument, e.g. the `TOKEN` of `receipt verify`.
struct PositionalSpec: Sendable {
    var name: String
    var help: String
    var isRequired: Bool = true
}

/// Exit codes are a contract with scripts calling the CLI.
enum ExitCode: Int32, Sendable {
    /// The command did what was asked.
    case success = 0
    /// The input was refused or invalid (a bad token, a refused payment, an unreadable key).
    case refused = 1
    /// The command line itself was wrong.
    case usage = 2
    /// `payrail fetch`: no payment was made because every wallet failed or no offer was payable.
    case paymentFailed = 3
    /// `payrail fetch`: money moved but the call is not finished (run the same command again to finish
    /// it without paying twice), or the server refused the payment (it is in the ledger).
    case paidNotDelivered = 4
    /// `payrail fetch`: the request could not be sent or answered before any payment.
    case network = 5
    /// `payrail fetch`: the response body is larger than `--max-filesize` (a payment made is committed
    /// in the ledger with its receipt).
    case responseTooLarge = 6
}

/// A failure that ends the command with one line on stderr and the given exit code.
struct CommandFailure: Error, Sendable {
    var exitCode: ExitCode
    var message: String

    static func usage(_ message: String) -> CommandFailure { CommandFailure(exitCode: .usage, message: message) }
    static func refused(_ message: String) -> CommandFailure { CommandFailure(exitCode: .refused, message: message) }
}

/// The options and positionals given on the command line, already checked against the spec.
struct ParsedArguments: Sendable {
    private(set) var values: [String: [String]] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positionals: [String] = []

    func value(_ name: String) -> String? { values[name]?.first }
    func values(_ name: String) -> [String] { values[name] ?? [] }
    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The value of a required option; the parser has already checked it is present.
    func required(_ name: String) throws(CommandFailure) -> String {
        guard let value = values[name]?.first else { throw .usage("missing --\(name)") }
        return value
    }

    fileprivate mutating func add(_ name: String, value: String) { values[name, default: []].append(value) }
    fileprivate mutating func set(flag name: String) { flags.insert(name) }
    fileprivate mutating func add(positional: String) { positionals.append(positional) }
}

/// A leaf command: its path (e.g. ["receipt", "verify"]), its arguments and what it runs.
struct CommandSpec: Sendable {
    var path: [String]
    var summary: String
    var options: [OptionSpec] = []
    var positionals: [PositionalSpec] = []
    /// Extra paragraphs for `--help` (file modes, examples).
    var details: String? = nil
    var run: @Sendable (ParsedArguments) async throws -> ExitCode

    var usageLine: String {
        var parts = ["payrail"] + path
        for option in options {
            let flag = option.short.map { "-\($0)" } ?? "--\(option.name)"
            let text = option.valueName.map { "\(flag) \($0)" } ?? flag
            parts.append(option.isRequired ? text : "[\(text)]")
        }
        for positional in positionals { parts.append(positional.isRequired ? positional.name : "[\(positional.name)]") }
        return parts.joined(separator: " ")
    }

    var helpText: String {
        var lines = ["usage: \(usageLine)", "", summary]
        if !positionals.isEmpty || !options.isEmpty { lines.append("") }
        for positional in positionals { lines.append("  \(positional.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(positional.help)") }
        for option in options {
            var name = option.valueName.map { "--\(option.name) \($0)" } ?? "--\(option.name)"
            if let short = option.short { name = "-\(short), " + name }
            var help = option.help
            if let allowed = option.allowedValues { help += " (one of: \(allowed.joined(separator: ", ")))" }
            lines.append("  \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(help)")
        }
        lines.append("  \("--help".padding(toLength: 24, withPad: " ", startingAt: 0)) show this help")
        if let details { lines += ["", details] }
        return lines.joined(separator: "\n")
    }

    /// Checks `arguments` (what follows the command path) against the spec.
    func parse(_ arguments: [String]) throws(CommandFailure) -> ParsedArguments {
        var parsed = ParsedArguments()
        var index = 0
        var onlyPositionals = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if !onlyPositionals, argument.count >= 2, argument.hasPrefix("-"), !argument.hasPrefix("--"),
               let letter = argument.dropFirst().first, let option = options.first(where: { $0.short == letter }) {
                if option.valueName == nil {
                    guard argument.count == 2 else { throw .usage("-\(letter) takes no value") }
                    parsed.set(flag: option.name)
                    continue
                }
                let value: String
                if argument.count > 2 {
                    value = String(argument.dropFirst(2))
                } else {
                    guard index < arguments.count else { throw .usage("-\(letter) needs a value (\(option.valueName ?? "VALUE"))") }
                    value = arguments[index]
                    index += 1
                }
                if !option.isRepeatable, parsed.value(option.name) != nil { throw .usage("-\(letter) given twice") }
                parsed.add(option.name, value: value)
                continue
            }
            if onlyPositionals || !argument.hasPrefix("--") || argument == "-" {
                parsed.add(positional: argument)
                continue
            }
            if argument == "--" { onlyPositionals = true; continue }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let option = options.first(where: { $0.name == name }) else {
                throw .usage("unknown option --\(name) for 'payrail \(path.joined(separator: " "))' (see --help)")
            }
            if option.valueName == nil {
                if inlineValue != nil { throw .usage("--\(name) takes no value") }
                parsed.set(flag: name)
                continue
            }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else {
                guard index < arguments.count else { throw .usage("--\(name) needs a value (\(option.valueName ?? "VALUE"))") }
                value = arguments[index]
                index += 1
            }
            if let allowed = option.allowedValues, !allowed.contains(value) {
                throw .usage("--\(name) must be one of \(allowed.joined(separator: ", ")), not '\(value)'")
            }
            if !option.isRepeatable, parsed.value(name) != nil { throw .usage("--\(name) given twice") }
            parsed.add(name, value: value)
        }
        for option in options where option.isRequired && parsed.value(option.name) == nil {
            throw .usage("missing --\(option.name) \(option.valueName ?? "") for 'payrail \(path.joined(separator: " "))' (see --help)")
        }
        let requiredCount = positionals.filter(\.isRequired).count
        if parsed.positionals.count < requiredCount, let missing = positionals.dropFirst(parsed.positionals.count).first {
            throw .usage("missing \(missing.name) for 'payrail \(path.joined(separator: " "))' (see --help)")
        }
        if parsed.positionals.count > positionals.count {
            throw .usage("unexpected argument '\(parsed.positionals[positionals.count])' (see --help)")
        }
        return parsed
    }
}

/// The whole command table and the dispatch from argv to a command.
struct CommandLineTool: Sendable {
    var version: String
    var commands: [CommandSpec]

    var overview: String {
        var lines = ["payrail \(version): HTTP 402 payments between machines", "", "usage: payrail <command> [options]", "", "commands:"]
        for command in commands {
            let name = command.path.joined(separator: " ")
            lines.append("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(command.summary)")
        }
        lines += ["", "payrail <command> --help shows a command's options; payrail --version prints the version.",
                  "exit codes: 0 success, 1 refused or invalid input, 2 usage error."]
        return lines.joined(separator: "\n")
    }

    /// Runs the command named by `arguments` (argv without the program name) and returns its exit code.
    func run(_ arguments: [String]) async -> ExitCode {
        if arguments.isEmpty || arguments == ["--help"] || arguments == ["-h"] || arguments == ["help"] {
            print(overview)
            return arguments.isEmpty ? .usage : .success
        }
        if arguments == ["--version"] || arguments == ["version"] {
            print("payrail \(version)")
            return .success
        }
        // The longest command path that prefixes the arguments wins ("receipt verify" before "receipt").
        let match = commands
            .filter { arguments.starts(with: $0.path) }
            .max { $0.path.count < $1.path.count }
        guard let command = match else {
            let group = commands.filter { $0.path.first == arguments[0] }
            if !group.isEmpty {
                let names = group.map { $0.path.joined(separator: " ") }.joined(separator: ", ")
                if arguments.count == 1 || arguments.dropFirst().first == "--help" {
                    print("payrail \(arguments[0]): subcommands: \(names)")
                    return arguments.count == 1 ? .usage : .success
                }
                return fail(.usage("unknown subcommand '\(arguments.dropFirst().first ?? "")' of '\(arguments[0])': use one of \(names)"))
            }
            return fail(.usage("unknown command '\(arguments[0])' (run payrail --help)"))
        }
        let rest = Array(arguments.dropFirst(command.path.count))
        if rest.contains("--help") || rest.contains("-h") {
            print(command.helpText)
            return .success
        }
        do {
            let parsed = try command.parse(rest)
            return try await command.run(parsed)
        } catch let failure as CommandFailure {
            return fail(failure)
        } catch {
            return fail(.refused(String(describing: error)))
        }
    }

    private func fail(_ failure: CommandFailure) -> ExitCode {
        // One line: collapse any newline a nested error description may carry.
        let line = failure.message.replacingOccurrences(of: "\n", with: " ")
        FileHandle.standardError.write(Data("payrail: \(line)\n".utf8))
        return failure.exitCode
    }
}
