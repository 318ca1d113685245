#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/<target>/seed-* (run from anywhere).

The frame, body (beat, state, chunk) and serial encodings follow src/wire/ (frame.rs,
body.rs, serial.rs); frames are sealed for cluster CLUSTER with key 1 = KEY,
the values in fuzz/src/lib.rs, so the frame_open target opens them.
tests/fuzz_regressions.rs checks that the frame seeds really open.
"""
import hashlib
import hmac
import os
import struct
import zlib

CLUSTER = b"lab"
KEY = b"fuzz-key-0123456789abcdef0123456789abcdef"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(tag, value):
    return varint(tag) + varint(len(value)) + value


NODES = ["n1", "n2", "n3"]


def beat(config_hash=0, standby=False, leaving=False, idle=False, settled=True, ping=None, version=1, acks=(), up=(), full=True):
    """A beat body (src/wire/body.rs); acks: (node, generation, version); nodes are indexes in NODES."""
    out = field(1, struct.pack(">Q", config_hash))
    flags = (1 if standby else 0) | (2 if leaving else 0) | (4 if idle else 0) | (8 if settled else 0) | (16 if full else 0)
    out += field(2, varint(flags))
    if ping is not None:
        out += field(3, varint(ping))
    out += field(4, varint(version))
    if full:
        out += field(5, hashlib.sha256("".join(n + "\n" for n in NODES).encode()).digest()[:4])
        a = b"".join(varint(NODES.index(n)) + varint(g) + varint(v) for n, g, v in acks)
        out += field(6, a)
        bits = 0
        for n in up:
            bits |= 1 << NODES.index(n)
        out += field(7, bytes([bits]))
    return out


def state(groups=(), intents=()):
    """A state body; groups: (name, state 0-5, flags, failcount); intents: (serial, origin, kind tuple)."""
    names = []

    def add(n):
        if n not in names:
            names.append(n)

    for g in groups:
        add(g[0])
    for _, origin, kind in intents:
        add(origin)
        for n in kind[1:]:
            if isinstance(n, str):
                add(n)
    idx = names.index
    out = field(1, b"".join(varint(len(n.encode())) + n.encode() for n in names))
    recs = b""
    for name, st, flags, failcount in groups:
        r = varint(idx(name)) + bytes([st]) + varint(flags) + varint(failcount)
        recs += varint(len(r)) + r
    out += field(2, recs)
    recs = b""
    for serial, origin, kind in intents:
        r = varint(serial) + varint(idx(origin)) + bytes([kind[0]])
        if kind[0] == 1:
            r += varint(idx(kind[1])) + bytes([int(kind[2])])
        elif kind[0] == 3:
            r += varint(idx(kind[1])) + varint(idx(kind[2]))
        else:
            r += varint(idx(kind[1]))
        recs += varint(len(r)) + r
    out += field(3, recs)
    return out


def chunk(version, index, count, data):
    digest = hashlib.sha256(data).digest()[:8] if count == 1 else bytes(8)
    return field(1, varint(version)) + field(2, varint(index)) + field(3, varint(count)) + field(4, digest) + field(5, data)


def seal(sender, generation, seq, msg_type, body, key_id=1, key=KEY, cluster=CLUSTER):
    f = bytearray(b"HBD1")
    f.append(2)
    f += hashlib.sha256(cluster).digest()[:8]
    s = sender.encode()
    f.append(len(s))
    f += s
    f += struct.pack(">QQB", generation, seq, msg_type)
    f += struct.pack(">H", len(body))
    f += body
    f.append(key_id)
    f += hmac.new(key, bytes(f), hashlib.sha256).digest()
    assert len(f) <= 1400
    return bytes(f)


def cobs(data):
    out = bytearray([0])
    code_at, code = 0, 1
    for b in data:
        if b == 0:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_at] = code
                code_at = len(out)
                out.append(0)
                code = 1
    out[code_at] = code
    return bytes(out)


def serial(frame):
    return b"\0" + cobs(frame + struct.pack(">I", zlib.crc32(frame))) + b"\0"


SMALL_STATE = state(
    groups=[("web", 3, 0, 0), ("db", 5, 3, 3)],
    intents=[
        (4, "n1", (1, "n2", True)),
        (5, "n2", (3, "web", "n1")),
        (6, "n2", (2, "db")),
        (7, "n1", (4, "db")),
    ],
)

# (body, message type): beats are type 2, state chunks type 3.
BODIES = {
    "empty": (beat(settled=False, full=False), 2),
    "small": (beat(config_hash=0x0123456789ABCDEF, leaving=True, ping=2, version=17, acks=[("n2", 3, 100000)], up=["n2"]), 2),
    "standby": (beat(config_hash=2**64 - 1, standby=True, ping=0, up=["n1"]), 2),
    "big": (
        beat(config_hash=7, ping=2**32 - 1, version=2**64 - 1, acks=[(n, 2**64 - 1, 2**63 + i) for i, n in enumerate(NODES)], up=NODES),
        2,
    ),
    "state": (SMALL_STATE, 0),
    "chunk": (chunk(3, 0, 1, SMALL_STATE), 3),
    "unknown-field": (field(40, b"from a newer release") + beat(version=2) + field(41, b"\xff"), 2),
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    frames = {}
    for i, (name, (body, msg_type)) in enumerate(BODIES.items()):
        write("heartbeat_body", name, body)
        if msg_type:
            frames[name] = seal("n%d" % (i % 2 + 1), 1700000000 + i, 42 + i, msg_type, body)
    frames["other-type"] = seal("node-with-a-long-name", 1, 1, 7, b"opaque")
    frames["long-sender"] = seal("x" * 64, 2**64 - 1, 2**64 - 1, 2, BODIES["small"][0])
    frames["max-body"] = seal("a", 0, 0, 2, bytes(range(256)) * 4 + bytes(1400 - 66 - 1 - 1024))
    frames["key-2"] = seal("n1", 1, 1, 2, BODIES["empty"][0], key_id=2, key=b"another-key-0123456789")

    for name, f in frames.items():
        # Mode 0: a frame as received.
        write("frame_open", "frame-" + name, b"\x00" + f)
    for name, (body, msg_type) in BODIES.items():
        # Mode 3 (seal, printable sender): sender length, sender, generation, sequence, type, body.
        write("frame_open", "seal-" + name, b"\x03\x02n1" + struct.pack(">QQB", 5, 6, msg_type) + body)
    write("frame_open", "seal-raw-sender", b"\x01\x05node1" + struct.pack(">QQB", 0, 0, 9) + b"body")

    # Serial, mode 0: a stream as read from the tty; some noise, chunk sizes 7 and 1.
    stream = b"\xff\x13noise" + b"".join(serial(f) for f in frames.values()) + b"\x01\x02"
    write("serial", "stream", b"\x00" + stream)
    write("serial", "stream-split", b"\x02\x07\x01" + stream)
    write("serial", "one-frame", b"\x00" + serial(frames["small"]))
    # Mode 8: records alternating noise and frames to encode.
    rec = b""
    for noise, f in [(b"", frames["small"]), (b"\x00\x01garbage", frames["empty"]), (b"\xff" * 300, frames["big"])]:
        rec += struct.pack(">H", len(noise)) + noise + struct.pack(">H", len(f)) + f
    write("serial", "records", b"\x08" + rec)
    write("serial", "records-split", b"\x0b\x00\x05\xff" + rec)

    with open(os.path.join(REPO, "config", "hbd.toml"), "rb") as f:
        write("config", "hbd.toml", f.read())
    write("config", "base.toml", b'''[cluster]
name = "t"
keepalive = "200ms"
deadtime = "2s"

[[node]]
name = "n1"
[[node]]
name = "n2"

[[link]]
name = "lan"
type = "bcast"
interface = "eth0"

[[link]]
name = "hb"
type = "ucast"
interface = "eth1"
peers = ["10.78.0.11", "10.78.0.12"]

[[link]]
name = "m"
type = "mcast"
interface = "eth0"
group = "239.0.0.94"
port = 694
ttl = 1

[[link]]
name = "null-modem"
type = "serial"
device = "/dev/ttyS0"
baud = 19200

[ping]
hosts = ["10.77.0.1", "fe80::1"]

[[group]]
name = "web"
preferred = "n1"
resources = [
  { vip = "10.0.0.60/24", interface = "eth0" },
  { unit = "nginx.service" },
]

[[respawn]]
unit = "hbd-probe.service"
''')
    write("config", "authkey", b"# hbd auth key\n1 " + b"ab" * 32 + b"\n2 an-older-secret-of-some-length\n")

    ha_cf = b"""# /etc/ha.d/ha.cf
logfacility local0
keepalive 2
deadtime 30
warntime 10
initdead 120
udpport 694
baud 19200
ucast eth1 172.16.0.51
ucast eth1 172.16.0.52
bcast eth0
mcast eth0 239.0.0.94 695 2 0
serial /dev/ttyS0
auto_failback on
node node1
node node2
ping 10.0.0.2
ping_group gw 10.0.0.1 10.0.0.254
deadping 20
respawn hacluster /usr/lib/heartbeat/ipfail
crm off
"""
    haresources = b"""node1 IPaddr::10.0.0.60 httpd
node2 IPaddr2::10.0.0.61/24/eth1/10.0.0.255 drbddisk::r0 Filesystem::/dev/drbd0::/srv/www::ext4 \\
    MailTo::root
node2 Filesystem::/dev/sdb1::/data::xfs::noatime SendArp::10.0.0.63/eth0 mysql.service
node1 10.0.0.64 Delay::5::0
"""
    authkeys = b"auth 1\n1 sha1 testlab\n2 md5 a-much-longer-secret-for-md5\n3 crc\n"
    write("import_heartbeat", "full", ha_cf + b"\0" + haresources + b"\0" + authkeys)
    write("import_heartbeat", "small", b"node node1\nnode node2\nkeepalive 2\ndeadtime 30\nucast eth1 172.16.0.51\n"
          b"auto_failback on\nping 10.0.0.2\n\0node1 IPaddr::10.0.0.60 httpd\n\0auth 1\n1 sha1 testlab\n")
    write("import_heartbeat", "ha-cf-only", b"node n1 n2\nbcast eth0\nauto_failback off\nkeepalive 500ms\n")
    write("import_heartbeat", "no-authkeys", b"node n1 n2\nbcast eth0\n\0n1 10.0.0.60/24/eth0 nginx\n")


if __name__ == "__main__":
    main()
