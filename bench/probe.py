#!/usr/bin/python3
"""HTTP probe of the VIP, run in the client's network namespace.

A new TCP connection is opened every PERIOD ms whether or not the earlier
ones have answered (non-blocking, overlapping attempts, each with its own
timeout), so the resolution stays at PERIOD ms even while the VIP is dead
and connections hang.  The client's ARP cache is not touched: an owner that
sends no gratuitous ARP shows as a longer outage.

Every completed answer is written as "EPOCH_MS NODE" (the time the answer
was complete); failed attempts are not written.  The probe stops after
--max seconds, or, with --until-other N, once N answers in a row came from a
node other than the first one that answered (the new owner), plus --linger
seconds; with --first, at the first answer.  On SIGTERM it flushes and exits.

    probe.py --vip 10.77.0.60 --out FILE [--period 5] [--timeout 0.3]
             [--max 30] [--until-other 3] [--linger 0.2]
"""
import argparse
import errno
import selectors
import signal
import socket
import sys
import time


def now_ms():
    return time.time() * 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vip", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--out", required=True)
    ap.add_argument("--period", type=float, default=5.0, help="ms between attempts")
    ap.add_argument("--timeout", type=float, default=0.3, help="s per attempt")
    ap.add_argument("--max", type=float, default=30.0, help="s in all")
    ap.add_argument("--until-other", type=int, default=0)
    ap.add_argument("--linger", type=float, default=0.2)
    ap.add_argument("--first", action="store_true", help="stop at the first answer")
    a = ap.parse_args()

    out = open(a.out, "w", buffering=1)
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    sel = selectors.DefaultSelector()
    req = ("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % a.vip).encode()
    conns = {}  # sock -> [deadline, state, buf]
    t_end = time.monotonic() + a.max
    next_start = time.monotonic()
    first = None
    other_run = 0
    linger_end = None

    def close(s):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        conns.pop(s, None)
        s.close()

    def answered(body):
        nonlocal first, other_run, linger_end
        name = body.strip().split(b"\n")[-1].decode(errors="replace").strip() or "?"
        out.write("%.1f %s\n" % (now_ms(), name))
        if first is None:
            first = name
            if a.first:
                stop[0] = True
        if name != first:
            other_run += 1
            if a.until_other and other_run >= a.until_other and linger_end is None:
                linger_end = time.monotonic() + a.linger
        else:
            other_run = 0

    while not stop[0]:
        t = time.monotonic()
        if t >= t_end or (linger_end is not None and t >= linger_end):
            break
        if t >= next_start:
            next_start += a.period / 1000.0
            if next_start < t:
                next_start = t + a.period / 1000.0
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                rc = s.connect_ex((a.vip, a.port))
            except OSError:
                rc = -1
            if rc in (0, errno.EINPROGRESS):
                conns[s] = [t + a.timeout, "connecting", b""]
                sel.register(s, selectors.EVENT_WRITE)
            else:
                s.close()
        # expire
        for s in [s for s, c in conns.items() if c[0] <= t]:
            close(s)
        wait = max(0.0, min(next_start, t_end) - time.monotonic())
        for key, ev in sel.select(timeout=wait):
            s = key.fileobj
            c = conns.get(s)
            if c is None:
                continue
            if c[1] == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    close(s)
                    continue
                try:
                    s.send(req)
                except OSError:
                    close(s)
                    continue
                c[1] = "reading"
                sel.modify(s, selectors.EVENT_READ)
            else:
                try:
                    d = s.recv(4096)
                except OSError:
                    close(s)
                    continue
                if d:
                    c[2] += d
                    continue
                buf = c[2]
                close(s)
                if b" 200 " in buf.split(b"\r\n", 1)[0] and b"\r\n\r\n" in buf:
                    answered(buf.split(b"\r\n\r\n", 1)[1])
    for s in list(conns):
        close(s)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
