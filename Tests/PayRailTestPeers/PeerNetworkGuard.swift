import Foundation

/// Keeps a Python peer the tests start on loopback, and makes the test fail when it tries otherwise.
///
/// The guard is a `sitecustomize.py` written to a fresh directory that the launcher puts first on
/// the peer's `PYTHONPATH`; Python imports it at start-up, before any of the peer's code. It wraps
/// `socket.socket.connect`, `connect_ex`, `sendto` and `socket.getaddrinfo`: a destination or name
/// lookup that is not loopback is refused (no packet leaves, no DNS query is made) and recorded,
/// one JSON line each, in the file named by `PAYRAIL_PEER_OUTBOUND_LOG`. The launcher reads that
/// file when the peer stops (`check(peer:)`) and throws a failure listing the destinations.
///
/// It sees what goes through Python's `socket` module, which is everything asyncio, httpx, aiohttp,
/// requests and urllib do. `uvloop` opens sockets and resolves names in C, out of its sight, so the
/// guard refuses to import it (peers run on asyncio's own loop). Other C extensions with their own
/// networking (gRPC core) are not covered; no peer the tests start uses one.
public struct PeerNetworkGuard: Sendable {
    /// The environment variable naming the record file.
    public static let logVariable = "PAYRAIL_PEER_OUTBOUND_LOG"
    /// The directory holding `sitecustomize.py` and the record file.
    public let directory: URL
    /// The record file: one JSON line per refused attempt.
    public var logURL: URL { directory.appendingPathComponent("outbound.jsonl") }

    private init(directory: URL) { self.directory = directory }

    /// Writes the guard into a fresh temporary directory.
    public static func prepare() throws -> PeerNetworkGuard {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-peer-guard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(sitecustomize.utf8).write(to: directory.appendingPathComponent("sitecustomize.py"))
        let guardFile = PeerNetworkGuard(directory: directory)
        _ = FileManager.default.createFile(atPath: guardFile.logURL.path, contents: nil)
        return guardFile
    }

    /// `base` with the guard first on `PYTHONPATH` and the record file named. `PYTHONNOUSERSITE`
    /// and no `PYTHONSTARTUP`: nothing else gets to run first.
    public func environment(_ base: [String: String]) -> [String: String] {
        var environment = base
        let existing = base["PYTHONPATH"].map { $0.isEmpty ? "" : ":" + $0 } ?? ""
        environment["PYTHONPATH"] = directory.path + existing
        environment[Self.logVariable] = logURL.path
        environment["PYTHONNOUSERSITE"] = "1"
        environment["PYTHONSTARTUP"] = nil
        return environment
    }

    /// The refused attempts so far, one line each: `connect 192.0.2.1:80`.
    public func attempts() -> [String] {
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let call = object["call"] as? String, let destination = object["destination"] as? String else {
                return String(line.prefix(300))
            }
            let place = (object["where"] as? [String])?.first?.trimmingCharacters(in: .whitespaces)
            return "\(call) \(destination)" + (place.map { " (\($0))" } ?? "")
        }
    }

    /// Throws when the peer tried to reach anything but loopback, listing every attempt.
    public func check(peer: String) throws {
        let tried = attempts()
        guard !tried.isEmpty else { return }
        throw PythonPeer.Failure(description: "\(peer) tried to reach beyond loopback (refused; test peers must run with their outbound lookups off): "
            + tried.joined(separator: "; "))
    }

    /// Deletes the guard's directory.
    public func remove() { try? FileManager.default.removeItem(at: directory) }

    /// The guard itself (Python). Its network checks do nothing unless `PAYRAIL_PEER_OUTBOUND_LOG` is set; it
    /// always unblocks the signals that stop a peer.
    static let sitecustomize = #"""
# PayRail test peers: loopback only. Put on PYTHONPATH by the Swift peer launchers
# (Tests/PayRailTestPeers/PeerNetworkGuard.swift). Every connection, datagram or name lookup
# towards anything but loopback is refused here and recorded, one JSON line each, in the file
# named by PAYRAIL_PEER_OUTBOUND_LOG; the launcher fails the test when that file is not empty.
import os as _os
import signal as _signal

# A peer started from one of the test process's threads inherits that thread's blocked signals
# (SIGTERM and SIGINT among them): a blocked SIGTERM is never delivered, so every stop() waited its
# 5 s before SIGKILL, and a server's own shutdown (uvicorn's) never ran. Unblock what stops a peer.
try:
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP})
except (AttributeError, OSError, ValueError):
    pass

_LOG = _os.environ.get("PAYRAIL_PEER_OUTBOUND_LOG")

if _LOG:
    import errno as _errno
    import ipaddress as _ipaddress
    import json as _json
    import socket as _socket
    import sys as _sys
    import threading as _threading
    import traceback as _traceback

    _lock = _threading.Lock()
    _LOOPBACK_NAMES = {"localhost", "localhost.", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

    def _caller():
        # The innermost frame of the peer's own code or its packages, not the standard library's
        # (an executor thread running getaddrinfo says nothing useful) nor this guard's.
        for frame in reversed(_traceback.extract_stack()[:-3]):
            if "site-packages" in frame.filename or "/lib/python3" not in frame.filename:
                return ["%s:%s in %s" % (frame.filename, frame.lineno, frame.name)]
        return []

    def _record(call, destination):
        entry = {"call": call, "destination": destination, "pid": _os.getpid(), "where": _caller()}
        with _lock:
            with open(_LOG, "a", encoding="utf-8") as handle:
                handle.write(_json.dumps(entry) + "\n")

    def _loopback(host):
        if host is None:
            return True  # getaddrinfo(None, port): the local wildcard, for binding
        if isinstance(host, (bytes, bytearray)):
            host = bytes(host).decode("ascii", "replace")
        text = str(host).strip("[]").split("%")[0]
        if text.lower() in _LOOPBACK_NAMES:
            return True
        try:
            address = _ipaddress.ip_address(text)
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        return address.is_loopback or (mapped is not None and mapped.is_loopback)

    def _allowed(sock, address):
        if sock.family not in (_socket.AF_INET, _socket.AF_INET6):
            return True  # Unix sockets, netlink: never leave the machine
        return isinstance(address, tuple) and len(address) >= 2 and _loopback(address[0])

    def _describe(address):
        if isinstance(address, tuple) and len(address) >= 2:
            return "%s:%s" % (address[0], address[1])
        return repr(address)

    def _refusal(destination):
        return ConnectionRefusedError(_errno.ECONNREFUSED, "PayRail test peers may reach loopback only, not " + destination)

    _connect = _socket.socket.connect
    _connect_ex = _socket.socket.connect_ex
    _sendto = _socket.socket.sendto
    _getaddrinfo = _socket.getaddrinfo

    def connect(self, address):
        if not _allowed(self, address):
            _record("connect", _describe(address))
            raise _refusal(_describe(address))
        return _connect(self, address)

    def connect_ex(self, address):
        if not _allowed(self, address):
            _record("connect_ex", _describe(address))
            return _errno.ECONNREFUSED
        return _connect_ex(self, address)

    def sendto(self, data, *rest):
        address = rest[-1] if rest else None
        if address is not None and not _allowed(self, address):
            _record("sendto", _describe(address))
            raise _refusal(_describe(address))
        return _sendto(self, data, *rest)

    def getaddrinfo(host, port, *args, **kwargs):
        if not _loopback(host):
            destination = "%s:%s" % (host.decode("ascii", "replace") if isinstance(host, (bytes, bytearray)) else host, port)
            _record("getaddrinfo", destination)
            raise _socket.gaierror(_socket.EAI_NONAME, "PayRail test peers may look up loopback names only, not " + destination)
        return _getaddrinfo(host, port, *args, **kwargs)

    _socket.socket.connect = connect
    _socket.socket.connect_ex = connect_ex
    _socket.socket.sendto = sendto
    _socket.getaddrinfo = getaddrinfo

    class _RefuseUnguardedLoops:
        """uvloop opens and resolves in C (libuv), where the wrappers above cannot see: refuse it, so
        a peer runs on asyncio's own loop, whose every connection goes through the socket module."""

        def find_spec(self, name, path=None, target=None):
            if name == "uvloop" or name.startswith("uvloop."):
                raise ImportError("uvloop is disabled in PayRail test peers: its sockets bypass the loopback guard")
            return None

    _sys.meta_path.insert(0, _RefuseUnguardedLoops())
"""#
}
