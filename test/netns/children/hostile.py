#!/usr/bin/env python3
"""
Hostile-input helper for test/netns/hostile.test.ts, run inside a client namespace.

  hostile.py capture '<json>'  capture real DATA_V2 packets a tunnel sends (AF_PACKET on the veth)
  hostile.py send '<json>'     build and send bad datagrams of one kind from a fresh UDP socket
  hostile.py ping '<json>'     ping until stdin closes, then wait for every outstanding reply

Each prints one JSON object on stdout. Packets are built with a seeded PRNG, so a run is reproducible.

capture: {ifname, proto: "udp"|"tcp", dport, word (first 4 bytes of the DATA_V2 packets, hex, UDP
only), count, timeout_s}. Outgoing packets only. UDP: the datagram payloads (each datagram of a UDP
GSO super-packet on its own). TCP: segments whose payload is a sequence of whole frames (2-byte length
+ packet) are split, and DATA_V2 frames are kept with their length prefix.
-> {"packets": [hex, ...]} (distinct, in capture order).

send: {kind, count, dst, port, src?, rate, seed, peer_id, avoid_ids, captured?, echo?}
kinds (what the server must count):
  short    0..3-byte datagrams and DATA_V2 packets of 4..23 bytes for peer_id -> rx-short
  no-peer  DATA_V2 with peer-ids no peer has (some 0xFFFFFF, from an unknown address) -> rx-no-peer
  no-key   DATA_V2 for peer_id with key-id 1..7 -> rx-no-key
  auth     DATA_V2 for peer_id, key-id 0: random packet-id/tag/ciphertext (every 500th one 60 kB),
           and captured packets with one bit flipped in the packet-id, tag or ciphertext -> rx-auth
  replay   captured packets, unchanged, cycled -> rx-replay
  data-v1  first byte 0x30..0x37, 4 bytes or more -> rx-data-v1
  control  any other opcode (not 6 = DATA_V1, not 9 = DATA_V2), 4 bytes or more -> control plane
Sending is paced to `rate` datagrams/s in bursts of 32. IP_RECVERR makes a local drop (veth backlog
full) visible as ENOBUFS; such a datagram is sent again, so `sent` counts what left for the server.
-> {"sent": n, "port": source port, "retries": ENOBUFS retries, "packets": [hex] if echo}

ping: {dst, interval_s, max_s, wait_s}. Echo requests of 56 bytes every interval_s from a raw socket,
until stdin reaches EOF (or max_s passes); then replies are awaited for up to wait_s more. Unlike
iputils ping with -c and -w, which stops as soon as it has its count of replies and calls the probes
still in flight lost, every probe here gets its answer or is really lost.
-> {"sent": n, "received": distinct replies, "dups": n, "rtt_max_ms": x, "lost": [first lost seqs]}
"""
import errno
import json
import random
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_VNET_HDR = 15
VNET_HDR_LEN = 10
GSO_UDP_L4 = 5
DATA_V2 = 0x48
BURST = 32


def capture(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    # A virtio-net header in front of each frame tells GSO super-packets apart: a sender using UDP GSO
    # (UDP_SEGMENT) hands the veth one UDP packet carrying several datagrams, gso_size bytes each.
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((a["ifname"], 0))
    deadline = time.monotonic() + a.get("timeout_s", 10)
    want = a["count"]
    word = bytes.fromhex(a["word"]) if a.get("word") else None
    seen = set()
    out = []
    while len(out) < want:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            break
        gso_type = frame[1] & 0x7F
        gso_size = struct.unpack_from("<H", frame, 4)[0]
        frame = frame[VNET_HDR_LEN:]
        if addr[2] != PACKET_OUTGOING or len(frame) < 14:
            continue
        etype = struct.unpack_from("!H", frame, 12)[0]
        if etype == 0x0800:
            ihl = (frame[14] & 0x0F) * 4
            proto = frame[23]
            end = 14 + struct.unpack_from("!H", frame, 16)[0]
            l4 = 14 + ihl
        elif etype == 0x86DD:
            proto = frame[20]
            end = 54 + struct.unpack_from("!H", frame, 18)[0]
            l4 = 54
        else:
            continue
        end = min(end, len(frame))
        if a["proto"] == "udp":
            if proto != 17 or struct.unpack_from("!H", frame, l4 + 2)[0] != a["dport"]:
                continue
            pl = frame[l4 + 8 : end]
            seg = gso_size if gso_type == GSO_UDP_L4 and gso_size > 0 else len(pl)
            pkts = [pl[i : i + seg] for i in range(0, len(pl), seg)]
            pkts = [p for p in pkts if len(p) >= 24 and (word is None or p[:4] == word)]
        else:
            if proto != 6 or struct.unpack_from("!H", frame, l4 + 2)[0] != a["dport"]:
                continue
            pl = frame[l4 + (frame[l4 + 12] >> 4) * 4 : end]
            pkts = split_frames(pl)
        for p in pkts:
            if p not in seen:
                seen.add(p)
                out.append(p)
    print(json.dumps({"packets": [p.hex() for p in out[:want]]}))


def split_frames(pl):
    """Whole DATA_V2 frames of a TCP payload that is exactly a run of whole frames, else []."""
    frames = []
    i = 0
    while i + 2 <= len(pl):
        n = struct.unpack_from("!H", pl, i)[0]
        if n < 4 or i + 2 + n > len(pl):
            return []
        frames.append(pl[i : i + 2 + n])
        i += 2 + n
    if i != len(pl):
        return []
    return [f for f in frames if f[2] == DATA_V2 and len(f) >= 2 + 24 + 20]


def word(key_id, peer_id):
    return struct.pack("!I", ((DATA_V2 | key_id) << 24) | peer_id)


def build(a):
    rng = random.Random(a["seed"])
    rb = lambda n: rng.randbytes(n)  # noqa: E731
    kind = a["kind"]
    n = a["count"]
    pid = a.get("peer_id", 1)
    avoid = set(a.get("avoid_ids", [])) | {pid}
    captured = [bytes.fromhex(h) for h in a.get("captured", [])]
    pkts = []
    for i in range(n):
        if kind == "short":
            if i % 2 == 0:
                p = rb((i // 2) % 4)
            else:
                p = word(rng.randrange(8), pid) + rb(rng.randrange(20))
        elif kind == "no-peer":
            if i % 8 == 0:
                other = 0xFFFFFF
            else:
                other = rng.randrange(0, 0xFFFFFF)
                while other in avoid:
                    other = rng.randrange(0, 0xFFFFFF)
            p = word(rng.randrange(8), other) + rb(20 + rng.randrange(300))
        elif kind == "no-key":
            p = word(1 + i % 7, pid) + rb(20 + rng.randrange(300))
        elif kind == "auth":
            if i % 500 == 0:
                p = word(0, pid) + rb(60000)  # IP-fragmented on the way
            elif i % 2 == 0 or not captured:
                p = word(0, pid) + rb(20 + rng.randrange(1300))
            else:
                b = bytearray(captured[(i // 2) % len(captured)])
                at = 4 + rng.randrange(len(b) - 4)
                b[at] ^= 1 << rng.randrange(8)
                p = bytes(b)
        elif kind == "replay":
            p = captured[i % len(captured)]
        elif kind == "data-v1":
            p = bytes([0x30 | rng.randrange(8)]) + rb(3 + rng.randrange(300))
        elif kind == "control":
            op = rng.choice([o for o in range(32) if o not in (6, 9)])
            p = bytes([(op << 3) | rng.randrange(8)]) + rb(3 + rng.randrange(300))
        else:
            raise SystemExit("unknown kind " + kind)
        pkts.append(p)
    return pkts


def send(a):
    v6 = ":" in a["dst"]
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    if v6:
        s.setsockopt(socket.IPPROTO_IPV6, 25, 1)  # IPV6_RECVERR
    else:
        s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR
    s.bind((a.get("src", ""), 0))
    dst = (a["dst"], a["port"])
    pkts = build(a)
    rate = a["rate"]
    retries = 0
    t0 = time.monotonic()
    for i, p in enumerate(pkts):
        while True:
            try:
                s.sendto(p, dst)
                break
            except OSError as e:
                if e.errno not in (errno.ENOBUFS, errno.EAGAIN) or retries > 10000:
                    raise
                retries += 1
                time.sleep(0.001)
        if (i + 1) % BURST == 0:
            d = t0 + (i + 1) / rate - time.monotonic()
            if d > 0:
                time.sleep(d)
    out = {"sent": len(pkts), "port": s.getsockname()[1], "retries": retries}
    if a.get("echo"):
        out["packets"] = [p.hex() for p in pkts]
    print(json.dumps(out))


def icmp_csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(a):
    import os
    import select

    v6 = ":" in a["dst"]
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        req, rep = 128, 129
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        req, rep = 8, 0
    s.setblocking(False)
    ident = os.getpid() & 0xFFFF
    payload = bytes(range(56))
    interval = a.get("interval_s", 0.01)
    start = time.monotonic()
    end = start + a.get("max_s", 60)
    sent_at = {}
    got = set()
    dups = 0
    rtt_max = 0.0
    stdin_open = True

    def drain():
        nonlocal dups, rtt_max
        while True:
            try:
                d = s.recv(2048)
            except BlockingIOError:
                return
            if not v6:
                d = d[(d[0] & 0x0F) * 4 :]
            if len(d) < 8 or d[0] != rep:
                continue
            rid, seq = struct.unpack_from("!HH", d, 4)
            if rid != ident or seq not in sent_at:
                continue
            if seq in got:
                dups += 1
                continue
            got.add(seq)
            rtt_max = max(rtt_max, time.monotonic() - sent_at[seq])

    nxt = start
    while stdin_open and time.monotonic() < end and len(sent_at) < 65536:
        now = time.monotonic()
        if now >= nxt:
            seq = len(sent_at)
            hdr = struct.pack("!BBHHH", req, 0, 0, ident, seq)
            if not v6:
                hdr = struct.pack("!BBHHH", req, 0, icmp_csum(hdr + payload), ident, seq)
            sent_at[seq] = now
            s.sendto(hdr + payload, (a["dst"], 0))
            nxt += interval
        r, _, _ = select.select([s, 0], [], [], max(0.0, nxt - time.monotonic()))
        if s in r:
            drain()
        if 0 in r and not os.read(0, 4096):
            stdin_open = False
    wait_end = time.monotonic() + a.get("wait_s", 5)
    while len(got) < len(sent_at) and time.monotonic() < wait_end:
        select.select([s], [], [], max(0.0, wait_end - time.monotonic()))
        drain()
    lost = sorted(set(sent_at) - got)
    out = {"sent": len(sent_at), "received": len(got), "dups": dups, "rtt_max_ms": round(rtt_max * 1000, 2)}
    out["lost"] = lost[:20]
    print(json.dumps(out))


if __name__ == "__main__":
    {"capture": capture, "send": send, "ping": ping}[sys.argv[1]](json.loads(sys.argv[2]))
