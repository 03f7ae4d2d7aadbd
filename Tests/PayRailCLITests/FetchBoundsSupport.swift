import Foundation
import PayRailTestServers
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `payrail` child started with posix_spawn and reaped with wait4, so its peak resident memory
/// (VmHWM, polled while it runs) is its own, and killed if it outlives `hangGuard` (the test then fails, never hangs).
struct MeasuredRun {
    var status: Int32
    var killed: Bool
    var peakRSSKiB: Int
    var stdoutBytes: Int
    var stdout: String
    var stderr: String

    /// The process's peak resident set (VmHWM), while it runs.
    static func highWaterMarkKiB(_ pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    static func run(_ arguments: [String], hangGuard: TimeInterval = 60) throws -> MeasuredRun {
        let scratch = try temporaryDirectory()
        let out = scratch.appendingPathComponent("out").path
        let err = scratch.appendingPathComponent("err").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([PayRail.binary.path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, PayRail.binary.path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw POSIXError(.ECHILD) }
        var status: Int32 = 0
        var usage = rusage()
        var killed = false
        let started = Date()
        var peak = 0
        while wait4(pid, &status, WNOHANG, &usage) == 0 {
            // VmHWM, not ru_maxrss: a child spawned with CLONE_VM inherits the parent's high-water mark.
            peak = max(peak, Self.highWaterMarkKiB(pid) ?? 0)
            if Date().timeIntervalSince(started) > hangGuard {
                kill(pid, SIGKILL)
                killed = true
                _ = wait4(pid, &status, 0, &usage)
                break
            }
            Thread.sleep(forTimeInterval: 0.005)
        }
        let output = (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data()
        let errors = (try? Data(contentsOf: URL(fileURLWithPath: err))) ?? Data()
        let exited = (status & 0x7f) == 0
        return MeasuredRun(status: exited ? (status >> 8) & 0xff : -1, killed: killed, peakRSSKiB: peak,
                           stdoutBytes: output.count, stdout: String(decoding: output.prefix(4096), as: UTF8.self),
                           stderr: String(decoding: errors, as: UTF8.self))
    }
}
