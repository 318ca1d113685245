#!/usr/bin/python3
"""Benchmark results: probe-log analysis and the report.

    report.py probe FILE T_FAULT_MS OLD_OWNER   -> "ms outcome longest_gap_ms"
    report.py changes FILE                      -> "owner_changes longest_gap_ms"
    report.py report RAWDIR --out DIR --stamp S [--docs docs/benchmarks.md]

`report` reads RAWDIR/{failover,web,costs,soak}.csv and meta.txt and writes
DIR/S.md, DIR/S.png and DIR/latest.md; with --docs it replaces the part of
that file between the `bench:begin` / `bench:end` markers.  The frontier
(frontier{,-soak,-failover}.csv, timeline-hbd-vip.*) goes to DIR/S-frontier.png
and its own part of the docs (`bench-frontier:begin` / `bench-frontier:end`).  It exits 1 if a
system never failed over at all in a power-cut or switchover cell (so CI
notices a benchmark that rotted).  Percentiles are nearest-rank.
"""
import csv
import math
import os
import re
import sys

SYSTEMS = ["hbd", "heartbeat", "keepalived"]
NAMES = {"hbd": "hbd", "heartbeat": "Heartbeat 3.0.6", "keepalived": "keepalived 2.2.7"}
SETTINGS = ["equal", "fast"]
FAULTS = ["power", "link", "switch"]
FAULT_NAMES = {
    "power": "power cut of the owner",
    "link": "heartbeat network (eth1) cut",
    "switch": "planned switchover",
}
SETTING_TEXT = {
    ("hbd", "equal"): "keepalive 500ms, deadtime 2s",
    ("hbd", "fast"): "keepalive 50ms, deadtime 200ms",
    ("heartbeat", "equal"): "keepalive 500ms, deadtime 2",
    ("heartbeat", "fast"): "keepalive 100ms, deadtime 500ms",
    ("keepalived", "equal"): "VRRPv3 advert_int 0.5",
    ("keepalived", "fast"): "VRRPv3 advert_int 0.1",
}
DEADTIME_MS = {("hbd", "equal"): 2000, ("hbd", "fast"): 200, ("heartbeat", "equal"): 2000,
               ("heartbeat", "fast"): 500, ("keepalived", "equal"): 1805, ("keepalived", "fast"): 361}


def read_probe(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 2:
                rows.append((float(p[0]), p[1]))
    return rows


def cmd_probe(path, t, old):
    t = float(t)
    rows = read_probe(path)
    first_new = next((ts for ts, n in rows if ts > t and n != old), None)
    after = [ts for ts, n in rows if ts > t]
    last_before = max([ts for ts, n in rows if ts <= t], default=t)
    gap = 0.0
    prev = last_before
    for ts in after:
        gap = max(gap, ts - prev)
        prev = ts
    if not after and rows:
        gap = rows[-1][0] - last_before
    if first_new is None:
        print("- no-failover %d" % gap)
    else:
        print("%d failover %d" % (round(first_new - t), gap))


def cmd_changes(path):
    rows = read_probe(path)
    changes, gap, prev = 0, 0.0, None
    for i, (ts, n) in enumerate(rows):
        if i and n != rows[i - 1][1]:
            changes += 1
        if prev is not None:
            gap = max(gap, ts - prev)
        prev = ts
    print("%d %d" % (changes, gap))


def pct(vals, p):
    v = sorted(vals)
    if not v:
        return None
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


def fmt_ms(v):
    if v is None:
        return "–"
    return "%.2f s" % (v / 1000.0) if v >= 1000 else "%d ms" % round(v)


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def read_meta(raw):
    meta = {}
    p = os.path.join(raw, "meta.txt")
    if os.path.exists(p):
        for line in open(p):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


def detail(row, key):
    m = re.search(r"%s=(-?\d+)" % key, row.get("detail") or "")
    return int(m.group(1)) if m else None


def hbd_timeline(raw, setting="fast", fault="power", nodes=("n2",), span=3000):
    """The journals of the last hbd run of that cell, relative to the fault."""
    tf = os.path.join(raw, "journal-hbd-%s-%s.t" % (setting, fault))
    if not os.path.exists(tf):
        return []
    t = int(open(tf).read().strip())
    out = []
    for node in nodes:
        jf = os.path.join(raw, "journal-hbd-%s-%s-%s.txt" % (setting, fault, node))
        if not os.path.exists(jf):
            continue
        for line in open(jf):
            m = re.match(r"(\d+)\.(\d+) (\S+) (.*)", line.rstrip("\n"))
            if not m:
                continue
            ts = int(m.group(1)) * 1000 + int(m.group(2)[:6].ljust(6, "0")) / 1000.0
            if ts < t - 200 or ts > t + span:
                continue
            msg = m.group(4)
            if not re.match(r"(hbd|systemd)\[", msg):
                continue
            if msg.startswith("systemd[") and not re.search(r"(Starting|Started|Stopping|Stopped) web\.service", msg):
                continue
            out.append((ts, "%+7.1f ms  %s  %s" % (ts - t, m.group(3), msg)))
    return [l for _, l in sorted(out)]


def build(raw, stamp):
    meta = read_meta(raw)
    fo = read_csv(os.path.join(raw, "failover.csv"))
    web = read_csv(os.path.join(raw, "web.csv"))
    costs = read_csv(os.path.join(raw, "costs.csv"))
    soak = read_csv(os.path.join(raw, "soak.csv"))
    how = {r[0]: r[1] for r in csv.reader(open(os.path.join(raw, "switch-how.csv")))} \
        if os.path.exists(os.path.join(raw, "switch-how.csv")) else {}

    cells = {}  # (sys, setting, fault) -> dict
    for r in fo:
        k = (r["system"], r["setting"], r["fault"])
        c = cells.setdefault(k, {"ms": [], "n": 0, "fail": 0, "failovers": 0, "detect": [], "gap": []})
        if r["fault"] == "link":
            c["n"] += 1
            if r["ms"]:
                c["detect"].append(float(r["ms"]))
            if r["outcome"] == "failover":
                c["failovers"] += 1
            g = detail(r, "gap")
            if g is not None:
                c["gap"].append(g)
        elif not tally_failover(c, r):
            c["fail"] += 1
    webms = {}
    for r in web:
        webms.setdefault((r["system"], r["setting"]), []).append(float(r["ms"]))

    problems = []
    L = []
    L.append("Run %s — `%s`" % (meta.get("date", stamp), meta.get("command", "bash bench/run.sh").strip()))
    L.append("")
    L.append("Machine: %s. Load average before/after: %s / %s. hbd %s, Heartbeat %s, keepalived %s. "
             "%s runs per cell; %s s elapsed." % (
                 meta.get("machine", "?"), meta.get("load_before", "?"), meta.get("load_after", "?"),
                 meta.get("hbd", "?"), meta.get("heartbeat", "?"), meta.get("keepalived", "?"),
                 meta.get("runs", "?"), meta.get("elapsed_s", "?")))
    L.append("")
    L.append("### Failover time: fault → first HTTP answer from the new owner (client, probe every 5 ms)")
    L.append("")
    L.append("| system | setting | fault | runs | p50 | p95 | max | ratio hbd/peer (p50) |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|")
    p50 = {}
    for st in SETTINGS:
        for f in ["power", "switch"]:
            for s in SYSTEMS:
                c = cells.get((s, st, f))
                if c:
                    p50[(s, st, f)] = pct(c["ms"], 50)
    for st in SETTINGS:
        for f in FAULTS:
            for s in SYSTEMS:
                c = cells.get((s, st, f))
                if not c:
                    continue
                label = FAULT_NAMES[f]
                if f == "switch" and s in how:
                    label += " (`%s`)" % how[s]
                if f == "link":
                    label = "%s: **%d failovers**; time until n2 logs the link down" % (label, c["failovers"])
                    vals = c["detect"]
                    ratio = "–"
                    if s != "hbd" and cells.get(("hbd", st, f)) and pct(cells[("hbd", st, f)]["detect"], 50) and pct(vals, 50):
                        ratio = "%.2f" % (pct(cells[("hbd", st, f)]["detect"], 50) / pct(vals, 50))
                else:
                    vals = c["ms"]
                    if c["fail"]:
                        label += " (%d of %d runs: no failover)" % (c["fail"], c["n"])
                    if not vals:
                        problems.append("%s %s %s: no failover in %d runs" % (s, st, f, c["n"]))
                    ratio = "–"
                    h, me = p50.get(("hbd", st, f)), p50.get((s, st, f))
                    if s != "hbd" and h and me:
                        ratio = "%.2f" % (h / me)
                L.append("| %s | %s | %s | %d | %s | %s | %s | %s |" % (
                    NAMES[s], SETTING_TEXT[(s, st)], label, len(vals),
                    fmt_ms(pct(vals, 50)), fmt_ms(pct(vals, 95)), fmt_ms(max(vals) if vals else None), ratio))
    for k, c in cells.items():
        if k[2] == "all":
            problems.append("%s %s: the cluster did not come up" % (k[0], k[1]))
    L.append("")
    L.append("Ratio < 1: hbd is faster. The link-cut rows count ownership changes (expected 0: both systems "
             "also send heartbeats over the LAN) and give the time until the surviving node logs the "
             "heartbeat network as down; the client saw at most %s without an answer during these runs." % fmt_ms(
                 max([g for c in cells.values() for g in c["gap"]], default=None)))
    L.append("")

    # overhead beyond detection, power cut
    L.append("### Where the power-cut failover time goes (p50 / p95)")
    L.append("")
    L.append("detection = fault → n2 logs the peer dead (keepalived: enters MASTER); after detection = the rest "
             "until the client's first answer; web start = `systemctl start web.service` → first answer "
             "on the node's own address (measured before the daemons ran); overhead = after detection − web start p50.")
    L.append("")
    L.append("| system | setting | nominal deadtime | detection | after detection | web start | overhead |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    overhead = {}
    for st in SETTINGS:
        for s in SYSTEMS:
            rows = [r for r in fo if (r["system"], r["setting"], r["fault"]) == (s, st, "power")
                    and r["outcome"] == "failover" and r["ms"] and detail(r, "detect") is not None]
            if not rows:
                continue
            det = [detail(r, "detect") for r in rows]
            after = [float(r["ms"]) - detail(r, "detect") for r in rows]
            w = pct(webms.get((s, st), []), 50)
            ov = [a - w for a in after] if w is not None else []
            overhead[(s, st)] = ov
            L.append("| %s | %s | %s | %s / %s | %s / %s | %s | %s / %s |" % (
                NAMES[s], st, fmt_ms(DEADTIME_MS[(s, st)]), fmt_ms(pct(det, 50)), fmt_ms(pct(det, 95)),
                fmt_ms(pct(after, 50)), fmt_ms(pct(after, 95)), fmt_ms(w),
                fmt_ms(pct(ov, 50)), fmt_ms(pct(ov, 95))))
    L.append("")

    if costs:
        L.append("### Idle costs at the fastest setting")
        L.append("")
        L.append("CPU = utime+stime of all processes of the daemon's unit (cgroup) over the window, in % of one "
                 "core; RSS = sum of the processes' VmHWM (peak); packets = heartbeat packets sent by both "
                 "nodes (iptables counters: UDP 694, VRRP), per second; CPU per packet = the CPU time of both "
                 "nodes over the packets both sent (each is sent once and received once, so it is the cost of "
                 "one packet out and in; on the lab's veth pairs the receiver's kernel work runs in the "
                 "sender's context and is counted there).")
        L.append("")
        L.append("| system | window | CPU n1 (owner) | CPU n2 | peak RSS n1 | peak RSS n2 | processes | heartbeat packets/s | bytes/s | CPU per packet |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        by = {}
        for r in costs:
            by.setdefault(r["system"], {})[r["node"]] = r
        for s in SYSTEMS:
            if s not in by:
                continue
            d = by[s]
            n1, n2 = d.get("n1"), d.get("n2")
            if not (n1 and n2):
                continue
            win = int(n1["window_ms"]) / 1000.0
            cpu = lambda r: 100.0 * int(r["cpu_ms"]) / int(r["window_ms"])
            pk = (int(n1["hb_packets"]) + int(n2["hb_packets"])) / win
            bs = (int(n1["hb_bytes"]) + int(n2["hb_bytes"])) / win
            npk = int(n1["hb_packets"]) + int(n2["hb_packets"])
            per = "%.0f µs" % (1000.0 * (int(n1["cpu_ms"]) + int(n2["cpu_ms"])) / npk) if npk else "–"
            L.append("| %s | %.0f s | %.2f %% | %.2f %% | %.1f MiB | %.1f MiB | %s / %s | %.1f | %.0f | %s |" % (
                NAMES[s], win, cpu(n1), cpu(n2), int(n1["rss_kib"]) / 1024.0, int(n2["rss_kib"]) / 1024.0,
                n1["nprocs"], n2["nprocs"], pk, bs, per))
        L.append("")
    if soak:
        L.append("### False failovers: fastest setting, 20 % loss of heartbeat packets on every link, both cores busy (stress-ng)")
        L.append("")
        L.append("| system | duration | ownership changes (journals) | owner changes seen by the client | longest client gap | peer declared dead |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for r in soak:
            L.append("| %s | %.0f s | %s | %s | %s | %s |" % (
                NAMES[r["system"]], int(r["duration_ms"]) / 1000.0, r["owner_changes_journal"],
                r["owner_changes_client"], fmt_ms(float(r["max_gap_ms"])), r["dead_events"]))
        L.append("")

    # hbd targets
    def cellp(s, st, f, p):
        c = cells.get((s, st, f))
        return pct(c["ms"], p) if c else None
    T = []
    hp = cellp("hbd", "fast", "power", 50)
    kp = cellp("keepalived", "fast", "power", 50)
    if hp is not None:
        T.append(("power-cut failover p50 below keepalived's fastest (%s here; 0.32–0.40 s expected)" % fmt_ms(kp),
                  fmt_ms(hp), hp < (kp if kp is not None else 320)))
    ov = overhead.get(("hbd", "fast"))
    if ov:
        T.append(("overhead beyond detection p95 < 50 ms", fmt_ms(pct(ov, 95)), pct(ov, 95) < 50))
    hs = cellp("hbd", "fast", "switch", 50)
    if hs is not None:
        T.append(("planned switchover p50 < 200 ms", fmt_ms(hs), hs < 200))
    for r in soak:
        if r["system"] == "hbd":
            T.append(("zero false failovers", "%s ownership changes" % r["owner_changes_journal"],
                      r["owner_changes_journal"] == "0" and r["owner_changes_client"] == "0"))
    for r in costs:
        if r["system"] == "hbd":
            c = 100.0 * int(r["cpu_ms"]) / int(r["window_ms"])
            # (issue 17's targets, at keepalive 50 ms on two links)
            T.append(("idle CPU < 0.3 %% of a core (%s)" % r["node"], "%.2f %%" % c, c < 0.3))
            T.append(("RSS < 12 MiB (%s)" % r["node"], "%.1f MiB" % (int(r["rss_kib"]) / 1024.0),
                      int(r["rss_kib"]) < 12 * 1024))
    if T:
        L.append("### hbd's targets (fastest setting)")
        L.append("")
        L.append("| target | measured | |")
        L.append("|---|---:|---|")
        for name, val, ok in T:
            L.append("| %s | %s | %s |" % (name, val, "met" if ok else "**missed**"))
        L.append("")
    for st, f, nodes, span, title in [
            ("fast", "power", ("n2",), 3000, "one hbd power-cut failover (fastest setting; n2's journal, ms after the cut)"),
            ("fast", "switch", ("n1", "n2"), 600, "one hbd planned switchover (fastest setting; both journals, ms after the command)")]:
        tl = hbd_timeline(raw, st, f, nodes, span)
        ms = None
        for r in fo:
            if (r["system"], r["setting"], r["fault"]) == ("hbd", st, f) and r["ms"]:
                ms = r["ms"]  # the last run's: its journal is the one kept
        if tl:
            L.append("### Timeline of %s" % title)
            L.append("")
            L.append("```")
            L.extend(tl)
            if ms:
                L.append("%+7.1f ms  client: first answer from n2" % float(ms))
            L.append("```")
            L.append("")
    if problems:
        L.append("**Problems:** " + "; ".join(problems))
        L.append("")
    return "\n".join(L), cells, problems


CHECK_CELLS = ["hbd-200ms-mt1", "hbd-200ms-mt3", "hbd-1s-mt1", "keepalived-1s"]
CHECK_TEXT = {
    "hbd-200ms-mt1": ("hbd", "interval 200ms, timeout 150ms, fall 3; migration_threshold 1: moves at the first failed sequence (like-for-like)"),
    "hbd-200ms-mt3": ("hbd", "interval 200ms, timeout 150ms, fall 3; migration_threshold 3 (default), web.service timeout 2s: restarted in place, the restart does not rise by its deadline, then moves"),
    "hbd-1s-mt1": ("hbd", "interval 1s, timeout 500ms, fall 3; migration_threshold 1 (keepalived's shortest interval)"),
    "keepalived-1s": ("keepalived 2.2.7", "vrrp_script curl, interval 1, timeout 1, fall 3, no weight (FAULT); its shortest interval"),
}


def checks_section(raw):
    """The health-check benchmark: markdown lines and problems (empty if it did not run)."""
    rows = read_csv(os.path.join(raw, "checks.csv"))
    cost = read_csv(os.path.join(raw, "checks-cost.csv"))
    if not rows and not cost:
        return [], []
    meta = read_meta(raw)
    L, problems = [], []
    L.append("### Sick service → first good answer from the peer (health checks)")
    L.append("")
    L.append("Load average before/after this part: %s / %s (shared 2-core machine). The web unit on the owner "
             "starts answering HTTP 500 (`echo 500 > /run/web-health`); the time is from that command to the "
             "client's first 200 answer from n2 on the VIP (probe every 5 ms). detection = until n1's journal "
             "says the check failed fall times in a row (hbd) / the instance entered FAULT (keepalived)." % (
                 meta.get("checks_load_before", "?"), meta.get("checks_load_after", "?")))
    L.append("")
    L.append("| system | check | runs | p50 | p95 | max | detection p50 | ratio to keepalived (p50) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    cells = {}
    for r in rows:
        c = cells.setdefault(r["cell"], {"ms": [], "n": 0, "fail": 0, "detect": []})
        if not tally_failover(c, r):
            c["fail"] += 1
    ka = pct(cells.get("keepalived-1s", {}).get("ms", []), 50)
    for k in CHECK_CELLS:
        c = cells.get(k)
        if not c:
            continue
        name, text = CHECK_TEXT[k]
        if c["fail"]:
            text += " (%d of %d runs: no failover)" % (c["fail"], c["n"])
        if not c["ms"]:
            problems.append("checks %s: no failover in %d runs" % (k, c["n"]))
        me = pct(c["ms"], 50)
        ratio = "%.2f" % (me / ka) if (k != "keepalived-1s" and me and ka) else "–"
        L.append("| %s | %s | %d | %s | %s | %s | %s | %s |" % (
            name, text, len(c["ms"]), fmt_ms(me), fmt_ms(pct(c["ms"], 95)),
            fmt_ms(max(c["ms"]) if c["ms"] else None), fmt_ms(pct(c["detect"], 50)), ratio))
    L.append("")
    if cost:
        # system,checks,cpu_ms,window_ms,healthy (files before HAProxy's
        # figure have no system column: hbd's alone)
        by = {(r.get("system") or "hbd", r["checks"]): r for r in cost}
        cpu = lambda r: 100.0 * int(r["cpu_ms"]) / max(1, int(r["window_ms"]))
        if ("hbd", "0") in by and ("hbd", "100") in by:
            b, w = cpu(by[("hbd", "0")]), cpu(by[("hbd", "100")])
            L.append("CPU of 100 HTTP checks at 1 s interval (`[[node_check]]` × 100 against a local server, "
                     "%s healthy), hbd's unit on n1 over %.0f s (usage_usec of its cgroup): **%.2f %% of a core "
                     "with them, %.2f %% without: %.2f %% for the 100 checks** (%.4f %% per check)." % (
                         by[("hbd", "100")]["healthy"], int(by[("hbd", "100")]["window_ms"]) / 1000.0, w, b, w - b,
                         (w - b) / 100.0))
            if ("haproxy", "0") in by and ("haproxy", "100") in by:
                hb, hw = cpu(by[("haproxy", "0")]), cpu(by[("haproxy", "100")])
                L.append("The same 100 checks made by HAProxy 2.6 (Debian's package; 100 servers, `option httpchk`, "
                         "`inter 1s`, one thread; %s up), same server, same node, hbd stopped, measured the same way: "
                         "**%.2f %% of a core** (%.2f %% with them, %.2f %% without). hbd / HAProxy: **%s**." % (
                             by[("haproxy", "100")]["healthy"], hw - hb, hw, hb,
                             "%.2f" % ((w - b) / (hw - hb)) if hw - hb > 0 else "–"))
            if ("bare", "100") in by:
                f = cpu(by[("bare", "100")])
                L.append("The floor under both: the same 100 probes a second made the barest way "
                         "(`examples/bare_probes`: one thread, blocking sockets, the request hbd sends, the status "
                         "line read, close; %s of the last second's answered 200), same server, same node, measured "
                         "the same way: **%.2f %% of a core**, the kernel's work for 100 new TCP connections a second "
                         "on this host (on loopback the server's share of it runs in the prober's context). "
                         "hbd / floor: **%s**." % (
                             by[("bare", "100")]["healthy"], f, "%.2f" % ((w - b) / f) if f > 0 else "–"))
            # "Well under" taken as at most half of it, judged on the figure
            # as printed.
            d = round(w - b, 2)
            L.append("Target: well under 1 %% of a core (at most 0.50 %%) for the 100 checks: **%s**." % (
                "met" if d <= 0.5 else "under 1 %, not well under" if d < 1.0 else "missed"))
            if ("bare", "100") in by and d > 0.5 and round(cpu(by[("bare", "100")]), 2) > 0.5:
                L.append("(No prober opening a connection per probe meets it on this host: the floor alone is "
                         "above 0.50 %.)")
            L.append("")
    sub = os.path.join(raw, "keepalived-subsecond.txt")
    if os.path.exists(sub):
        lines = [l.strip() for l in open(sub) if "interval" in l or "timeout" in l]
        if lines:
            L.append("keepalived 2.2.7 on `interval 0.2` / `timeout 0.15` (`keepalived --config-test`): " +
                     "; ".join("`%s`" % l for l in lines[:4]))
            L.append("")
    for k in ["hbd-200ms-mt1", "keepalived-1s"]:
        tf = os.path.join(raw, "journal-checks-%s.t" % k)
        if not os.path.exists(tf):
            continue
        t = int(open(tf).read().strip())
        out = []
        for node in ("n1", "n2"):
            jf = os.path.join(raw, "journal-checks-%s-%s.txt" % (k, node))
            if not os.path.exists(jf):
                continue
            for line in open(jf):
                m = re.match(r"(\d+)\.(\d+) (\S+) (.*)", line.rstrip("\n"))
                if not m:
                    continue
                ts = int(m.group(1)) * 1000 + int(m.group(2)[:6].ljust(6, "0")) / 1000.0
                msg = m.group(4)
                if ts < t - 100 or ts > t + 6000:
                    continue
                if not re.match(r"(hbd|Keepalived_vrrp|systemd)\[", msg):
                    continue
                if msg.startswith("systemd[") and not re.search(r"(Starting|Started|Stopping|Stopped) web\.service", msg):
                    continue
                out.append((ts, "%+8.1f ms  %s  %s" % (ts - t, m.group(3), msg[:160])))
        first = None
        for r in rows:
            if r["cell"] == k and r["ms"]:
                first = r["ms"]
        if out:
            L.append("Timeline of the last run, %s (both journals, ms after the fault):" % CHECK_TEXT[k][0])
            L.append("")
            L.append("```")
            L.extend(l for _, l in sorted(out)[:40])
            if first:
                L.append("%+8.1f ms  client: first good answer from n2" % float(first))
            L.append("```")
            L.append("")
    return L, problems


# ---------------------------------------------------------------- frontier
LADDER_NAMES = {"hbd": "hbd", "heartbeat": "Heartbeat 3.0.6", "keepalived": "keepalived 2.2.7"}
VIP_TARGET_P50, VIP_TARGET_P95 = 55, 65


def setting_sort_key(row):
    return -int(row["nominal_ms"])


def frontier_data(raw):
    soak = read_csv(os.path.join(raw, "frontier-soak.csv"))
    fo = read_csv(os.path.join(raw, "frontier-failover.csv"))
    fr = {r["system"]: r["frontier"] for r in read_csv(os.path.join(raw, "frontier.csv"))}
    runs = {}
    for r in fo:
        if r["fault"] != "power":
            continue
        c = runs.setdefault((r["system"], r["setting"]), {"ms": [], "n": 0, "detect": []})
        tally_failover(c, r)
    return soak, runs, fr


def false_failovers(r):
    return int(r["owner_changes_journal"] or 0) + int(r["owner_changes_client"] or 0)


def nominal_of(system, setting, soak):
    for r in soak:
        if (r["system"], r["setting"]) == (system, setting):
            return int(r["nominal_ms"]), r["label"].replace(";", ",")
    m = re.match(r"d(\d+)$", setting)
    if m:
        d = int(m.group(1))
        return d, "keepalive %s, deadtime %s" % (fmt_ms(d / 4.0), fmt_ms(d))
    m = re.match(r"a([\d.]+)$", setting)
    if m:
        a = float(m.group(1))
        return int(a * 1000 * (3 + 156 / 256.0) + 0.5), "VRRPv3 advert_int %s" % m.group(1)
    if setting == "vip":
        return 50, "keepalive 10ms, deadtime 50ms, VIP-only group"
    return None, setting


def fmt_runs(c):
    if not c or not c["ms"]:
        return "–", "–", "–"
    return fmt_ms(pct(c["ms"], 50)), fmt_ms(pct(c["ms"], 95)), "%d%s" % (
        len(c["ms"]), "" if len(c["ms"]) == c["n"] else " of %d" % c["n"])


def vip_runs(raw):
    """Run numbers of the VIP-only power cuts with a timeline."""
    out = []
    for f in os.listdir(raw):
        m = re.match(r"timeline-hbd-vip-(\d+)\.t$", f)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def vip_timeline(raw, run):
    """The timeline of one VIP-only power cut: "ms what" lines, notes, and
    (last heartbeat heard, first answer) in ms after the cut."""
    tf = os.path.join(raw, "timeline-hbd-vip-%d.t" % run)
    if not os.path.exists(tf):
        return [], [], (None, None)
    p = open(tf).read().split()
    t = float(p[0])
    first = float(p[1]) if len(p) > 1 and p[1] not in ("", "-") else None
    ev, notes = [], []
    # packets on n2's interfaces (tcpdump -tt, host clock)
    last_hb, garp = None, None
    tp = os.path.join(raw, "timeline-hbd-vip-%d-tcpdump.txt" % run)
    if os.path.exists(tp):
        for line in open(tp):
            f = line.split()
            if len(f) < 4:
                continue
            try:
                ts = float(f[0]) * 1000.0
            except ValueError:
                continue
            # from n1 (unicast on eth1: In; broadcast on eth0: B)
            if re.search(r" (In|B) +IP 10\.7[78]\.0\.11\.\d+ > ", line) and ts <= t + 5000:
                last_hb = ts if last_hb is None or ts > last_hb else last_hb
            if garp is None and " Out " in line and "ARP" in line and "10.77.0.60" in line and ts >= t:
                garp = (ts, " ".join(f[1:])[:90])
    ev.append((0.0, "n1's switch ports go down (lab_power_cut's mark, then SIGKILL of its PID 1)"))
    if last_hb is not None:
        ev.append((last_hb - t, "n1's last heartbeat frame reaches n2 (tcpdump on n2's links)"))
    else:
        notes.append("no heartbeat from n1 found in the capture")
    if garp:
        ev.append((garp[0] - t, "first gratuitous ARP for the VIP leaves n2 (tcpdump: %s)" % garp[1]))
    else:
        notes.append("no ARP for the VIP from n2 in the capture")
    # n2's journal: HBD_EVENT entries, journald's receive time
    jp = os.path.join(raw, "timeline-hbd-vip-%d-n2.json" % run)
    wanted = {"peer-late": "hbd logs a late heartbeat", "peer-dead": "hbd declares n1 dead",
              "takeover": "hbd takes the group over", "vip-added": "hbd has added the VIP",
              "group-started": "hbd: group started", "garp-failed": "hbd: GARP failed",
              "link-down": "hbd: a link to n1 down"}
    seen = set()
    if os.path.exists(jp):
        import json
        for line in open(jp):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            e = j.get("HBD_EVENT")
            if not e or e not in wanted:
                continue
            ts = int(j.get("__REALTIME_TIMESTAMP", 0)) / 1000.0
            src = j.get("_SOURCE_REALTIME_TIMESTAMP")
            if src:
                ts = int(src) / 1000.0
            if ts < t - 200 or ts > t + 3000:
                continue
            if e in seen and e not in ("link-down",):
                continue
            seen.add(e)
            ev.append((ts - t, "%s (journal, HBD_EVENT=%s: %s)" % (wanted[e], e, j.get("MESSAGE", "")[:80])))
    for e in ("peer-dead", "takeover", "vip-added"):
        if e not in seen:
            notes.append("no HBD_EVENT=%s entry in n2's journal for this failover" % e)
    if first is not None:
        ev.append((first, "the client gets its first answer from n2 on the VIP"))
    ev.sort()
    return (["%+8.1f ms  %s" % (ms, what) for ms, what in ev], notes,
            (None if last_hb is None else last_hb - t, first))


def frontier_section(raw, png_rel=None):
    soak, runs, fr = frontier_data(raw)
    if not soak and not runs:
        return [], []
    meta = read_meta(raw)
    L, problems = [], []
    systems = [s for s in SYSTEMS if any(r["system"] == s and r["setting"] != "vip" for r in soak) or s in fr]
    L.append("### Frontier: the fastest detection setting without false failovers")
    L.append("")
    L.append("Per system, settings from slow to fast; each gets a fresh cluster and a soak of %s s with 20 %% of "
             "the heartbeat packets dropped leaving each node on each link and `stress-ng --cpu 2` keeping both "
             "cores busy; the walk stops at the first setting with a false failover (an ownership change in the "
             "journals or seen by the client, probing every 100 ms). One power cut follows each soak on the same "
             "cluster; the frontier (the fastest clean setting) is measured over %s power cuts in all. Load average before/after "
             "this part: %s / %s; %s s." % (
                 meta.get("frontier_soak_s", "?"), meta.get("frontier_runs", "?"),
                 meta.get("frontier_load_before", "?"), meta.get("frontier_load_after", "?"),
                 meta.get("frontier_elapsed_s", "?")))
    L.append("")
    L.append("| system | frontier setting | nominal detection | power cut p50 | p95 | runs | settings tried (nominal detection): false failovers |")
    L.append("|---|---|---:|---:|---:|---:|---|")
    for s in systems:
        tried = sorted([r for r in soak if r["system"] == s and r["setting"] != "vip"], key=setting_sort_key)
        st = fr.get(s, "")
        tried_txt = ", ".join("%s %s: %s" % (r["setting"], fmt_ms(int(r["nominal_ms"])),
                                             "**%d**" % false_failovers(r) if false_failovers(r) else "0")
                              for r in tried) or "–"
        if st:
            nom, label = nominal_of(s, st, soak)
            p50, p95, n = fmt_runs(runs.get((s, st)))
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (LADDER_NAMES[s], label, fmt_ms(nom), p50, p95, n, tried_txt))
        else:
            L.append("| %s | none clean | – | – | – | – | %s |" % (LADDER_NAMES[s], tried_txt))
        if not tried:
            problems.append("frontier %s: no soak finished" % s)
        if not any(c["ms"] for (sy, _), c in runs.items() if sy == s):
            problems.append("frontier %s: no failover in any power cut" % s)
    L.append("")
    L.append("Every setting tried (false failovers = ownership changes in both journals + owner changes the "
             "client saw; peer declared dead = \"is dead\" / MASTER entries; power cut = the first power cut "
             "after that soak):")
    L.append("")
    L.append("| system | setting | nominal detection | soak | false failovers | n2 took over | peer declared dead | longest client gap | power cut |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in systems:
        for r in sorted([r for r in soak if r["system"] == s and r["setting"] != "vip"], key=setting_sort_key):
            c = runs.get((s, r["setting"]))
            first = fmt_ms(c["ms"][0]) if c and c["ms"] else ("no failover" if c else "–")
            ff = false_failovers(r)
            L.append("| %s | %s | %s | %.0f s | %s | %s | %s | %s | %s |" % (
                LADDER_NAMES[s], r["label"].replace(";", ","), fmt_ms(int(r["nominal_ms"])),
                int(r["duration_ms"]) / 1000.0, "**%d**" % ff if ff else "0", r["n2_takeovers"],
                r["dead_events"], fmt_ms(float(r["max_gap_ms"])), first))
    L.append("")
    if png_rel:
        L.append("![frontier plot](%s)" % png_rel)
        L.append("")
    # equal detection
    h, k = runs.get(("hbd", "d200")), runs.get(("keepalived", "a0.05"))
    if k and k["ms"]:
        L.append("### Equal detection, fast: keepalived advert_int 0.05 beside hbd at deadtime 200 ms (power cut → first answer)")
        L.append("")
        L.append("| system | setting | nominal detection | runs | p50 | p95 | max | detection p50 | soak: false failovers |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
        for s, st, c in (("hbd", "d200", h), ("keepalived", "a0.05", k)):
            if not c:
                continue
            nom, label = nominal_of(s, st, soak)
            sr = [r for r in soak if (r["system"], r["setting"]) == (s, st)]
            sk = ("%d in %.0f s" % (false_failovers(sr[-1]), int(sr[-1]["duration_ms"]) / 1000.0)) if sr else \
                "not soaked (the walk stopped at a slower setting)"
            L.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s |" % (
                LADDER_NAMES[s], label, fmt_ms(nom), len(c["ms"]), fmt_ms(pct(c["ms"], 50)),
                fmt_ms(pct(c["ms"], 95)), fmt_ms(max(c["ms"]) if c["ms"] else None),
                fmt_ms(pct(c["detect"], 50)), sk))
        L.append("")
    # VIP-only
    v = runs.get(("hbd", "vip"))
    vs = [r for r in soak if (r["system"], r["setting"]) == ("hbd", "vip")]
    if v or vs:
        L.append("### VIP-only failover: hbd at keepalive 10 ms / deadtime 50 ms")
        L.append("")
        L.append("The group is the VIP alone; `web.service` is a `[[respawn]]` unit running on both nodes, so only "
                 "the address moves. Power cut of n1 → the client's first answer from n2 (probe every 5 ms); the "
                 "soak as above (20 % heartbeat loss on each of the two links, both cores busy), then the power "
                 "cuts on the same cluster.")
        L.append("")
        L.append("| | measured | target | |")
        L.append("|---|---:|---:|---|")
        if v:
            p50, p95 = pct(v["ms"], 50), pct(v["ms"], 95)
            L.append("| power cut → first answer, p50 (%d of %d runs failed over) | %s | ≤ %d ms | %s |" % (
                len(v["ms"]), v["n"], fmt_ms(p50), VIP_TARGET_P50,
                "–" if p50 is None else ("met" if p50 <= VIP_TARGET_P50 else "**missed**")))
            L.append("| power cut → first answer, p95 | %s | ≤ %d ms | %s |" % (
                fmt_ms(p95), VIP_TARGET_P95, "–" if p95 is None else ("met" if p95 <= VIP_TARGET_P95 else "**missed**")))
            L.append("| max | %s | | |" % fmt_ms(max(v["ms"]) if v["ms"] else None))
            L.append("| n2 declared n1 dead (journal), p50 / p95 | %s / %s | | |" % (
                fmt_ms(pct(v["detect"], 50)), fmt_ms(pct(v["detect"], 95))))
            L.append("| all runs (ms) | %s | | |" % ", ".join("%d" % x for x in v["ms"]))
            if not v["ms"]:
                problems.append("VIP-only: no failover in %d power cuts" % v["n"])
        for r in vs:
            ff = false_failovers(r)
            L.append("| false failovers in %.0f s soak (peer declared dead: %s; longest client gap %s) | %d | 0 | %s |" % (
                int(r["duration_ms"]) / 1000.0, r["dead_events"], fmt_ms(float(r["max_gap_ms"])), ff,
                "met" if ff == 0 else "**missed**"))
        L.append("")
        since_hb = []
        for run in vip_runs(raw):
            _, _, (hb, first) = vip_timeline(raw, run)
            if hb is not None and first is not None:
                since_hb.append((first - hb, hb))
        if since_hb:
            L.append("The cut is timed from the mark `lab_power_cut` takes right before one `ip` process sets "
                     "n1's switch ports down; n1's last heartbeat reached n2 between %s and %s from that mark "
                     "(p50 %s: a beat comes every keepalive, and the cut falls at a random point between two). "
                     "Measured from n1's last heartbeat at n2 instead (tcpdump on n2's links, every run): "
                     "**first answer p50 %s, p95 %s**." % (
                         fmt_ms(min(h for _, h in since_hb)), fmt_ms(max(h for _, h in since_hb)),
                         fmt_ms(pct([h for _, h in since_hb], 50)), fmt_ms(pct([d for d, _ in since_hb], 50)),
                         fmt_ms(pct([d for d, _ in since_hb], 95))))
            L.append("")
        runs_tl = vip_runs(raw)
        tl, notes, _ = vip_timeline(raw, runs_tl[-1]) if runs_tl else ([], [], None)
        if tl:
            L.append("Timeline of the last power cut (ms after the cut's mark, the bench's clock on the same host; "
                     "journal entries carry journald's receive time, so they are late by journald's latency; the first "
                     "of each event). hbd's journal has no entry for a heartbeat received or a GARP sent (only "
                     "`garp-failed`): those two come from the capture on n2's links.")
            L.append("")
            L.append("```")
            L.extend(tl)
            L.append("```")
            L.append("")
        if notes:
            L.append("Not in the timeline: " + "; ".join(notes) + ".")
            L.append("")
    return L, problems




def tally_failover(c, r):
    """Count run r in cell c: its time (and detection) if it failed over.
    Returns whether it did."""
    c["n"] += 1
    if r["outcome"] == "failover" and r["ms"]:
        c["ms"].append(float(r["ms"]))
        d = detail(r, "detect")
        if d is not None:
            c["detect"].append(d)
        return True
    return False

COLORS = {"hbd": "#1f77b4", "heartbeat": "#ff7f0e", "keepalived": "#2ca02c"}


def pyplot():
    """matplotlib's pyplot on the Agg backend, or None (said) without it."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.stderr.write("matplotlib missing: no chart\n")
        return None
    return plt

def frontier_chart(raw, path, title):
    soak, runs, fr = frontier_data(raw)
    if not soak and not runs:
        return False
    plt = pyplot()
    if plt is None:
        return False
    colors = COLORS
    fig, ax = plt.subplots(figsize=(9, 5.5))
    allv = []
    for s in SYSTEMS:
        rows = sorted([r for r in soak if r["system"] == s and r["setting"] != "vip"], key=lambda r: int(r["nominal_ms"]))
        pts = []
        for r in rows:
            c = runs.get((s, r["setting"]))
            if c and c["ms"]:
                pts.append((int(r["nominal_ms"]), pct(c["ms"], 50), pct(c["ms"], 95), false_failovers(r), r))
        pts.sort()
        # settings measured without a soak (the equal-detection row): own
        # hollow markers, not on the ladder's line
        extra = []
        for (sy, st), c in runs.items():
            if sy == s and st != "vip" and c["ms"] and not any(r["setting"] == st for r in rows):
                nom, _ = nominal_of(s, st, soak)
                extra.append((nom, pct(c["ms"], 50), pct(c["ms"], 95)))
        for x, y, y95 in extra:
            ax.errorbar([x], [y], yerr=[[0], [y95 - y]], fmt="D", markerfacecolor="none", color=colors[s],
                        markersize=7, capsize=3)
            ax.annotate("not soaked", (x, y), textcoords="offset points", xytext=(6, -12), fontsize=7, color=colors[s])
            allv += [x, y, y95]
        if not pts:
            continue
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        allv += xs + ys + [p[2] for p in pts]
        ax.plot(xs, ys, "-o", color=colors[s], label=LADDER_NAMES[s], markersize=5)
        ax.errorbar(xs, ys, yerr=[[0] * len(pts), [p[2] - p[1] for p in pts]], fmt="none", ecolor=colors[s],
                    capsize=3, alpha=0.7)
        for x, y, _, ff, r in pts:
            if ff:
                ax.plot([x], [y], "x", color="red", markersize=12, mew=2.5)
                ax.annotate("%d false" % ff, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8, color="red")
            else:
                ax.annotate("0", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colors[s])
        st = fr.get(s)
        if st:
            c = runs.get((s, st))
            nom, _ = nominal_of(s, st, soak)
            if c and c["ms"]:
                ax.plot([nom], [pct(c["ms"], 50)], "s", markersize=12, markerfacecolor="none",
                        markeredgecolor=colors[s], mew=2)
        # false failovers at a setting without a power-cut result
        for r in rows:
            if false_failovers(r) and not runs.get((s, r["setting"]), {}).get("ms"):
                ax.axvline(int(r["nominal_ms"]), color=colors[s], ls=":", alpha=0.6)
                ax.annotate("%s: %d false" % (r["setting"], false_failovers(r)), (int(r["nominal_ms"]), 0.02),
                            xycoords=("data", "axes fraction"), rotation=90, fontsize=7, color="red")
    v = runs.get(("hbd", "vip"))
    if v and v["ms"]:
        ax.errorbar([50], [pct(v["ms"], 50)], yerr=[[0], [pct(v["ms"], 95) - pct(v["ms"], 50)]], fmt="*",
                    color="#9467bd", markersize=14, capsize=3, label="hbd VIP-only (10 ms / 50 ms)")
        allv += [50, pct(v["ms"], 95)]
    if allv:
        lo, hi = min(allv) * 0.7, max(allv) * 1.4
        ax.plot([lo, hi], [lo, hi], color="grey", ls="--", lw=0.8, label="failover = nominal detection")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("nominal detection time, ms (hbd/Heartbeat: deadtime; keepalived: 3 × advert_int + skew)")
    ax.set_ylabel("power cut → first answer, ms (p50, whisker to p95)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("%s\nsquare: frontier (fastest setting with 0 false failovers); red x: false failovers in the soak\n"
                 "numbers: false failovers in the soak; hollow diamond: power cuts only, not soaked" % title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def chart(cells, path, title):
    plt = pyplot()
    if plt is None:
        return False
    colors = COLORS
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, st in zip(axes, SETTINGS):
        groups = ["power", "switch"]
        w = 0.26
        for i, s in enumerate(SYSTEMS):
            xs, ys, lo, hi, mx = [], [], [], [], []
            for g, f in enumerate(groups):
                c = cells.get((s, st, f))
                if not c or not c["ms"]:
                    continue
                p50, p95 = pct(c["ms"], 50), pct(c["ms"], 95)
                xs.append(g + (i - 1) * w)
                ys.append(p50 / 1000.0)
                lo.append(0)
                hi.append((p95 - p50) / 1000.0)
                mx.append(max(c["ms"]) / 1000.0)
            if xs:
                ax.bar(xs, ys, w, yerr=[lo, hi], capsize=3, color=colors[s], label=NAMES[s])
                ax.plot(xs, mx, "k_", markersize=10)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([FAULT_NAMES[f] for f in groups])
        ax.set_ylabel("s until the client gets an answer")
        ax.set_title({"equal": "equal detection (~2 s)", "fast": "fastest stable setting"}[st])
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("%s — bar: p50, whisker: p95, dash: max" % title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def cmd_report(argv):
    raw = argv[0]
    out = argv[argv.index("--out") + 1]
    stamp = argv[argv.index("--stamp") + 1]
    docs = argv[argv.index("--docs") + 1] if "--docs" in argv else None
    main = bool(read_csv(os.path.join(raw, "failover.csv")))
    md, cells, problems = build(raw, stamp) if main else ("", {}, [])
    ck, ck_problems = checks_section(raw)
    problems += ck_problems
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, stamp + ".png")
    have_png = main and chart(cells, png, "failover time, hbd vs Heartbeat vs keepalived (%s)" % stamp)
    fpng = os.path.join(out, stamp + "-frontier.png")
    have_fpng = frontier_chart(raw, fpng, "frontier: failover time vs nominal detection (%s)" % stamp)
    fr, fr_problems = frontier_section(raw, os.path.basename(fpng) if have_fpng else None)
    problems += fr_problems
    if not main:
        meta = read_meta(raw)
        md = "Run %s — `%s`\n\nMachine: %s. hbd %s, Heartbeat %s, keepalived %s. %s runs per cell.\n" % (
            meta.get("date", stamp), meta.get("command", "").strip(), meta.get("machine", "?"),
            meta.get("hbd", "?"), meta.get("heartbeat", "?"), meta.get("keepalived", "?"), meta.get("runs", "?"))
    body = md + ("\n![chart](%s.png)\n" % stamp if have_png else "") + ("\n" + "\n".join(ck) if ck else "") + \
        ("\n" + "\n".join(fr) if fr else "")
    if problems:
        body += "\n**Problems:** " + "; ".join(problems) + "\n"
    open(os.path.join(out, stamp + ".md"), "w").write("# Benchmark %s\n\n%s" % (stamp, body))
    latest = "latest.md" if main else ("latest-frontier.md" if fr and not ck else "latest-checks.md")
    open(os.path.join(out, latest), "w").write("# Latest benchmark (%s)\n\n%s" % (stamp, body))
    if docs:
        text = open(docs).read() if os.path.exists(docs) else "# Benchmarks\n\n<!-- bench:begin -->\n<!-- bench:end -->\n"
        if main:
            rel = os.path.relpath(png, os.path.dirname(os.path.abspath(docs)))
            block = "<!-- bench:begin (written by bench/report.py) -->\n%s\n![chart](%s)\n<!-- bench:end -->" % (md, rel)
            text = re.sub(r"<!-- bench:begin.*?<!-- bench:end -->", lambda _: block, text, flags=re.S)
        if ck:
            block = "<!-- bench-checks:begin (written by bench/report.py) -->\n%s\n\n%s<!-- bench-checks:end -->" % (
                md.split("\n")[0], "\n".join(ck))
            if "<!-- bench-checks:begin" in text:
                text = re.sub(r"<!-- bench-checks:begin.*?<!-- bench-checks:end -->", lambda _: block, text, flags=re.S)
            else:
                text += "\n" + block + "\n"
        if fr:
            rel = os.path.relpath(fpng, os.path.dirname(os.path.abspath(docs)))
            frd = [l.replace("](%s)" % os.path.basename(fpng), "](%s)" % rel) for l in fr]
            block = "<!-- bench-frontier:begin (written by bench/report.py) -->\n%s\n\n%s<!-- bench-frontier:end -->" % (
                md.split("\n")[0], "\n".join(frd))
            if "<!-- bench-frontier:begin" in text:
                text = re.sub(r"<!-- bench-frontier:begin.*?<!-- bench-frontier:end -->", lambda _: block, text, flags=re.S)
            else:
                text += "\n" + block + "\n"
        open(docs, "w").write(text)
    print(body)
    if problems:
        sys.stderr.write("benchmark problems: %s\n" % "; ".join(problems))
        return 1
    return 0


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    c = sys.argv[1]
    if c == "probe":
        cmd_probe(*sys.argv[2:5])
    elif c == "changes":
        cmd_changes(sys.argv[2])
    elif c == "report":
        return cmd_report(sys.argv[2:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
