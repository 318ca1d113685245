#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/<target>/seed-* (run from anywhere).

The frame, heartbeat-body and serial encodings follow src/wire/ (frame.rs,
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


def heartbeat(config_hash=0, standby=False, leaving=False, ping=None, groups=(), intents=(), acks=(), up=()):
    """groups: (name, state 0-5, failed, failcount); intents: (serial, origin, kind tuple);
    acks: (node, generation, seq); up: names."""
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
    for a in acks:
        add(a[0])
    for n in up:
        add(n)
    idx = names.index
    out = bytearray(struct.pack(">Q", config_hash))
    flags = (1 if standby else 0) | (2 if leaving else 0) | (4 if ping is not None else 0)
    out.append(flags)
    if ping is not None:
        out += varint(ping)
    out += varint(len(names))
    for n in names:
        b = n.encode()
        out += varint(len(b)) + b
    out += varint(len(groups))
    for name, state, failed, failcount in groups:
        out += varint(idx(name)) + bytes([state, int(failed)]) + varint(failcount)
    out += varint(len(intents))
    for serial, origin, kind in intents:
        out += varint(serial) + varint(idx(origin))
        k = kind[0]
        out.append(k)
        if k == 1:  # standby node on
            out += varint(idx(kind[1])) + bytes([int(kind[2])])
        elif k == 2:  # unpin group
            out += varint(idx(kind[1]))
        elif k == 3:  # pin group node
            out += varint(idx(kind[1])) + varint(idx(kind[2]))
        else:  # cleanup group
            out += varint(idx(kind[1]))
    out += varint(len(acks))
    for node, gen, seq in acks:
        out += varint(idx(node)) + varint(gen) + varint(seq)
    out += varint(len(up))
    for n in up:
        out += varint(idx(n))
    return bytes(out)


def seal(sender, generation, seq, msg_type, body, key_id=1, key=KEY, cluster=CLUSTER):
    f = bytearray(b"HBD1")
    f.append(1)
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


BODIES = {
    "empty": heartbeat(),
    "small": heartbeat(
        config_hash=0x0123456789ABCDEF,
        leaving=True,
        ping=2,
        groups=[("web", 3, False, 0), ("db", 5, True, 3)],
        intents=[
            (4, "n1", (1, "n2", True)),
            (5, "n2", (3, "web", "n1")),
            (6, "n2", (2, "db")),
            (7, "n1", (4, "db")),
        ],
        acks=[("n2", 3, 100000)],
        up=["n1", "n2"],
    ),
    "standby": heartbeat(config_hash=2**64 - 1, standby=True, ping=0, groups=[("web", 1, False, 0)], up=["n1"]),
    "big": heartbeat(
        config_hash=7,
        ping=2**32 - 1,
        groups=[("g%02d" % i, i % 6, i % 2 == 1, 2**32 - 1) for i in range(8)],
        intents=[(2**64 - 1, "node-%d" % (i % 5), (3, "g%02d" % (i % 8), "node-%d" % ((i + 1) % 5))) for i in range(10)],
        acks=[("node-%d" % i, 2**64 - 1, 2**63 + i) for i in range(5)],
        up=["node-%d" % i for i in range(5)],
    ),
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    frames = {}
    for i, (name, body) in enumerate(BODIES.items()):
        frames[name] = seal("n%d" % (i % 2 + 1), 1700000000 + i, 42 + i, 1, body)
        write("heartbeat_body", name, body)
    frames["other-type"] = seal("node-with-a-long-name", 1, 1, 7, b"opaque")
    frames["long-sender"] = seal("x" * 64, 2**64 - 1, 2**64 - 1, 1, BODIES["small"])
    frames["max-body"] = seal("a", 0, 0, 2, bytes(range(256)) * 4 + bytes(1400 - 66 - 1 - 1024))
    frames["key-2"] = seal("n1", 1, 1, 1, BODIES["empty"], key_id=2, key=b"another-key-0123456789")

    for name, f in frames.items():
        # Mode 0: a frame as received.
        write("frame_open", "frame-" + name, b"\x00" + f)
    for name, body in BODIES.items():
        # Mode 3 (seal, printable sender): sender length, sender, generation, sequence, type, body.
        write("frame_open", "seal-" + name, b"\x03\x02n1" + struct.pack(">QQB", 5, 6, 1) + body)
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
