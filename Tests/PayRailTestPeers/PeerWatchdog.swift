#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Stops a long-lived peer (PostgreSQL, LNbits, localstripe) when the test process that started it
/// goes away without stopping it: SIGTERM from `scripts/test`'s `timeout`, SIGPIPE from
/// `swift test | head`, SIGKILL, a crash. Those skip the `atexit` hook (`PeerShutdown`) and every
/// `stop()`, and the peer, in its own session, would otherwise run on for good, holding its port,
/// memory and temporary files.
///
/// The watchdog is a small `/bin/sh` loop, started right after the peer, that outlives the test
/// process: Foundation's `Process` starts every child in a process group of its own (seen with
/// `ps -o pgid`), so a signal sent to the test's group reaches neither the peer nor its watchdog.
/// Once a second it checks both PIDs: when the peer is gone it exits; when the test process is gone
/// it stops the peer by PID the way the peer's `stop()` does (`signal`, SIGKILL 5 s later), then
/// removes the peer's temporary directories. A normal `stop()` needs no change: the watchdog ends
/// within a second of the peer.
public enum PeerWatchdog {
    /// Starts watching `pid` on behalf of this test process: when this process is gone, `pid` gets
    /// `signal` (then SIGKILL after 5 s) and each of `removing` is deleted once `pid` has exited.
    /// Only paths whose last component starts with `payrail-` are removed: a wrong path does no harm.
    public static func watch(pid: pid_t, signal: Int32, removing directories: [URL] = []) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The PIDs and paths are arguments, never spliced into the script: no quoting to get wrong.
        process.arguments = ["-c", script, "payrail-peer-watchdog", String(getpid()), String(pid), String(signal)]
            + directories.map(\.path)
        // /dev/null, not the test's stdout: a watchdog holding `swift test | head`'s pipe would keep it open.
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        // No handle is kept: Foundation reaps the loop when it ends, which is within a second of the
        // peer's end when the test stops the peer itself (PIDs are not reused that fast on Linux).
        try process.run()
    }

    /// The watchdog loop. `$1` the test process, `$2` the peer, `$3` the signal number, then the
    /// directories to remove. A zombie counts as gone: an orphaned peer may never be reaped when
    /// PID 1 is not an init (containers), and a zombie holds no port or memory.
    static let script = #"""
    owner=$1 peer=$2 signal=$3
    shift 3
    alive() { kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
    waitgone() { n=0; while alive "$peer" && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done; }
    while alive "$owner"; do
        alive "$peer" || exit 0
        sleep 1
    done
    if alive "$peer"; then
        kill -"$signal" "$peer" 2>/dev/null
        kill -CONT "$peer" 2>/dev/null
        waitgone
        alive "$peer" && kill -KILL "$peer" 2>/dev/null
        waitgone
    fi
    for directory in "$@"; do
        case "${directory##*/}" in payrail-*) rm -rf -- "$directory" ;; esac
    done
    """#
}
