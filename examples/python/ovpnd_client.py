#!/usr/bin/env python3
"""A small ovpnd client in plain Python (3.11+, standard library only).

ovpnd is the ovpn-ts management daemon of one network namespace. It listens on the abstract Unix
socket ``@ovpn-ts/ovpnd`` (SOCK_SEQPACKET, root only). Every message is one JSON object:

    request  {"op": "peer-new", "msg": {...}, "seq": 7}          (+ the socket fd, by SCM_RIGHTS)
    reply    {"seq": 7, "reply": ...}  or  {"seq": 7, "error": {"code": "ENOENT", "errno": 2, ...}}
    dump     {"seq": 7, "dump": {...}} per object, then {"seq": 7, "done": true}
    event    {"name": "peer-del-ntf" | "key-swap-ntf" | "peer-float-ntf" | "control-packet", "msg": {...}}

The daemon keeps using a socket handed over with peer-new for as long as this connection stays open:
closing the connection removes the peers it created. Use it as a module (``OvpndClient``) or run the
demo (``--help``); see examples/README.md.
"""

import argparse
import errno
import json
import select
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

SOCKET_NAME = b"\0ovpn-ts/ovpnd"  # the leading NUL selects the abstract namespace
MAX_MESSAGE = 256 * 1024  # the daemon never sends more in one message
OVPND = Path(__file__).resolve().parents[2] / "bin" / "ovpnd"  # <repo>/bin/ovpnd


class OvpndError(Exception):
    """The daemon refused a request; ``code`` is the errno name (``ENOENT``, ``EINVAL``, ...)."""

    def __init__(self, op: str, error: dict):
        self.op = op
        self.code = error.get("code", "EIO")
        self.errno = error.get("errno", 5)
        self.bad_attr = error.get("bad-attr")
        where = f" [bad attribute: {self.bad_attr}]" if self.bad_attr else ""
        super().__init__(f"{op}: {self.code}: {error.get('msg', '')}{where}")


class OvpndClient:
    """One connection to the daemon of this process's network namespace."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.seq = 0
        self.events: deque = deque()  # events that arrived while we waited for a reply

    @classmethod
    def connect(cls, start: bool = True, timeout: float = 10.0) -> "OvpndClient":
        """Connects; with ``start``, spawns ``bin/ovpnd`` when no daemon runs here yet."""
        deadline = time.monotonic() + timeout
        spawned = False
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                s.connect(SOCKET_NAME)
                # Any user can bind an abstract name: keys and sockets go only to a daemon run by root.
                pid, uid, _gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
                if uid != 0:
                    s.close()
                    raise PermissionError(f"the ovpnd socket belongs to uid {uid} (pid {pid}), not root")
                return cls(s)
            except ConnectionRefusedError:  # ECONNREFUSED: nobody listens on the name
                s.close()
                if not start:
                    raise
            if not spawned:
                # Detached (own session, no stdio): the daemon outlives us and exits by itself
                # once it has neither devices nor clients.
                subprocess.Popen([str(OVPND), "--quiet"], start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
                spawned = True
            if time.monotonic() > deadline:
                raise TimeoutError(f"ovpnd did not start within {timeout} s ({OVPND})")
            time.sleep(0.05)

    def close(self) -> None:
        self.sock.close()

    # ---- messages -------------------------------------------------------------------------------

    def _recv(self, timeout: float | None = None) -> dict | None:
        """The next message from the daemon (None on timeout)."""
        if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
            return None
        data = self.sock.recv(MAX_MESSAGE)
        if not data:
            raise ConnectionError("ovpnd closed the connection")
        return json.loads(data)

    def request(self, op: str, msg: dict | None = None, *, dump: bool = False, fds=()):
        """Sends one request and returns its reply (a dump: the list of objects).

        Raises OvpndError when the daemon refuses it. ``fds`` are passed along by SCM_RIGHTS.
        """
        self.seq += 1
        req = {"op": op, "seq": self.seq}
        if msg is not None:
            req["msg"] = msg
        if dump:
            req["dump"] = True
        data = json.dumps(req).encode()
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)
        items = []
        while True:
            m = self._recv()
            if "name" in m:  # an event, not ours: keep it for next_event()
                self.events.append(m)
            elif m.get("seq") not in (self.seq, None):
                continue  # a late reply to an earlier request
            elif "error" in m:  # (a refusal without seq: EPERM for non-root, EMSGSIZE)
                raise OvpndError(op, m["error"])
            elif "dump" in m:
                items.append(m["dump"])
            else:
                return items if m.get("done") else m.get("reply")

    def next_event(self, timeout: float | None = None) -> dict | None:
        """The next notification or control packet; None if none came within ``timeout`` seconds."""
        if self.events:
            return self.events.popleft()
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if end is None else max(0.0, end - time.monotonic())
            m = self._recv(left)
            if m is None or "name" in m:
                return m
            if left == 0.0:
                return None

    def wait_event(self, name: str, timeout: float) -> dict:
        """The next event called ``name`` (other events are skipped); TimeoutError if none comes."""
        end = time.monotonic() + timeout
        while (ev := self.next_event(max(0.0, end - time.monotonic()))) is not None:
            if ev["name"] == name:
                return ev
        raise TimeoutError(f"no {name} within {timeout} s")

    # ---- operations (docs/api.md) ---------------------------------------------------------------

    def daemon_info(self) -> dict:
        return self.request("daemon-info")

    def subscribe(self) -> None:
        """Joins the ``peers`` group: peer-del-ntf, key-swap-ntf and peer-float-ntf come as events."""
        self.request("subscribe", {"group": "peers"})

    def dev_new(self, ifname: str, mode: str = "p2p") -> dict:
        return self.request("dev-new", {"ifname": ifname, "mode": mode})

    def dev_del(self, ifname: str) -> None:
        self.request("dev-del", {"ifname": ifname})

    def peer_new(self, ifindex: int, peer: dict, sock: socket.socket) -> None:
        """Adds a peer reached through ``sock``: its fd number goes in ``socket``, the fd itself along."""
        fd = sock.fileno()
        self.request("peer-new", {"ifindex": ifindex, "peer": {**peer, "socket": fd}}, fds=[fd])

    def peer_get(self, ifindex: int, peer_id: int) -> dict:
        return self.request("peer-get", {"ifindex": ifindex, "peer": {"id": peer_id}})

    def peer_dump(self, ifindex: int) -> list:
        return self.request("peer-get", {"ifindex": ifindex}, dump=True)

    def peer_del(self, ifindex: int, peer_id: int) -> None:
        self.request("peer-del", {"ifindex": ifindex, "peer": {"id": peer_id}})

    def key_new(self, ifindex: int, peer_id: int, key_id: int, encrypt: dict, decrypt: dict,
                slot: str = "primary", cipher: str = "aes-gcm") -> None:
        """``encrypt``/``decrypt``: {"cipher-key": hex, "nonce-tail": hex (8 bytes)}."""
        self.request("key-new", {"ifindex": ifindex, "keyconf": {
            "peer-id": peer_id, "slot": slot, "key-id": key_id, "cipher-alg": cipher,
            "encrypt-dir": encrypt, "decrypt-dir": decrypt}})

    def control_send(self, ifindex: int, sock_number: int, packet: bytes, addr: str, port: int) -> None:
        """Sends a control packet through a socket this connection handed over (named by its fd number)."""
        self.request("control-send", {"ifindex": ifindex, "socket": sock_number, "packet": packet.hex(),
                                      "remote-addr": addr, "remote-port": port})


# ---- the demo -----------------------------------------------------------------------------------

def say(*parts) -> None:
    print(*parts, flush=True)


def hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def keydir(text: str) -> dict:
    key, _, tail = text.partition(":")
    return {"cipher-key": key, "nonce-tail": tail}


def tunnel(c: OvpndClient, a: argparse.Namespace) -> None:
    """Sets up one side of a P2P UDP tunnel, answers one control packet, then tears it down."""
    c.subscribe()
    dev = c.dev_new(a.ifname, "p2p")
    say(f"dev-new: {dev['ifname']} ifindex {dev['ifindex']} mode {dev['mode']}")
    try:
        run_tunnel(c, a, dev["ifindex"])
    finally:  # the daemon keeps a device until it is deleted, even when this client goes
        c.dev_del(a.ifname)
        say(f"dev-del: {a.ifname}")


def run_tunnel(c: OvpndClient, a: argparse.Namespace, ifindex: int) -> None:
    if a.vpn_addr:  # addresses and link state are plain rtnetlink: iproute2 does it
        subprocess.run(["ip", "addr", "add", a.vpn_addr, "dev", a.ifname], check=True)
        subprocess.run(["ip", "link", "set", a.ifname, "up"], check=True)
    local, remote = hostport(a.local), hostport(a.remote)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(local)
    c.peer_new(ifindex, {"id": a.peer_id, "tx-id": a.tx_id, "remote-ipv4": remote[0],
                         "remote-port": remote[1]}, udp)
    say(f"peer-new: peer {a.peer_id} -> {a.remote} over fd {udp.fileno()}")
    c.key_new(ifindex, a.peer_id, 0, keydir(a.encrypt), keydir(a.decrypt), cipher=a.cipher)
    say(f"key-new: key-id 0 {a.cipher} in the primary slot")
    say("ready")
    # The data channel now runs in the daemon; non-data packets on the socket come to us.
    m = c.wait_event("control-packet", a.wait)["msg"]
    packet = bytes.fromhex(m["packet"])
    say(f"control-packet: {len(packet)} bytes from {m['remote-addr']}:{m['remote-port']}: {m['packet']}")
    answer = bytes([0x40]) + packet[1:]  # P_CONTROL_HARD_RESET_SERVER_V2, key-id 0
    c.control_send(ifindex, m["socket"], answer, m["remote-addr"], m["remote-port"])
    say(f"control-send: {answer.hex()}")
    p = c.peer_get(ifindex, a.peer_id)
    say(f"peer-get: peer {p['id']} vpn-rx-packets {p['vpn-rx-packets']} vpn-tx-packets {p['vpn-tx-packets']}")
    c.peer_del(ifindex, a.peer_id)
    say(f"peer-del: peer {a.peer_id}")
    n = c.wait_event("peer-del-ntf", 5)["msg"]
    say(f"peer-del-ntf: ifindex {n['ifindex']} peer {n['peer']['id']} reason {n['peer']['del-reason']}")
    udp.close()


def main() -> int:
    ap = argparse.ArgumentParser(description="ovpnd client demo (run as root inside the namespace)")
    ap.add_argument("--no-start", action="store_true", help="do not spawn bin/ovpnd if none runs")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info", help="print daemon-info and dev-list")
    t = sub.add_parser("tunnel", help="one side of a P2P UDP tunnel (see examples/README.md)")
    t.add_argument("--ifname", default="ovpy0")
    t.add_argument("--vpn-addr", help="address for the device, e.g. 5.5.5.1/24")
    t.add_argument("--local", required=True, help="local UDP address:port to bind")
    t.add_argument("--remote", required=True, help="the other side's UDP address:port")
    t.add_argument("--peer-id", type=int, default=1)
    t.add_argument("--tx-id", type=int, default=1)
    t.add_argument("--cipher", default="aes-gcm", choices=["aes-gcm", "chacha20-poly1305"])
    t.add_argument("--encrypt", required=True, metavar="KEY:TAIL", help="hex key and 8-byte nonce tail")
    t.add_argument("--decrypt", required=True, metavar="KEY:TAIL")
    t.add_argument("--wait", type=float, default=60, help="seconds to wait for the control packet")
    a = ap.parse_args()
    try:
        c = OvpndClient.connect(start=not a.no_start)
        info = c.daemon_info()
        say(f"daemon: pid {info['pid']} netns {info['netns']} clients {info['clients']}")
        if a.cmd == "info":
            say(json.dumps(c.request("dev-list")))
        else:
            tunnel(c, a)
        c.close()
        return 0
    except (OvpndError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
    except OSError as e:  # ECONNREFUSED (no daemon), EPERM (not root), ...
        name = errno.errorcode.get(e.errno, type(e).__name__) if e.errno else type(e).__name__
        print(f"error: {name}: {e}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
