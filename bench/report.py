#!/usr/bin/python3
"""Benchmark results: probe-log analysis and the report.

    report.py probe FILE T_FAULT_MS OLD_OWNER   -> "ms outcome longest_gap_ms"
    report.py changes FILE                      -> "owner_changes longest_gap_ms"
    report.py report RAWDIR --out DIR --stamp S [--docs docs/benchmarks.md]

`report` reads RAWDIR/{failover,web,costs,soak}.csv and meta.txt and writes
DIR/S.md, DIR/S.png and DIR/latest.md; with --docs it replaces the part of
that file between the `bench:begin` / `bench:end` markers.  It exits 1 if a
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
        c["n"] += 1
        if r["fault"] == "link":
            if r["ms"]:
                c["detect"].append(float(r["ms"]))
            if r["outcome"] == "failover":
                c["failovers"] += 1
            g = detail(r, "gap")
            if g is not None:
                c["gap"].append(g)
        elif r["outcome"] == "failover" and r["ms"]:
            c["ms"].append(float(r["ms"]))
            d = detail(r, "detect")
            if d is not None:
                c["detect"].append(d)
        else:
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
                 "nodes (iptables counters: UDP 694, VRRP), per second.")
        L.append("")
        L.append("| system | window | CPU n1 (owner) | CPU n2 | peak RSS n1 | peak RSS n2 | processes | heartbeat packets/s | bytes/s |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
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
            L.append("| %s | %.0f s | %.2f %% | %.2f %% | %.1f MiB | %.1f MiB | %s / %s | %.1f | %.0f |" % (
                NAMES[s], win, cpu(n1), cpu(n2), int(n1["rss_kib"]) / 1024.0, int(n2["rss_kib"]) / 1024.0,
                n1["nprocs"], n2["nprocs"], pk, bs))
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
            T.append(("idle CPU < 0.5 %% of a core (%s)" % r["node"], "%.2f %%" % c, c < 0.5))
            T.append(("RSS < 16 MiB (%s)" % r["node"], "%.1f MiB" % (int(r["rss_kib"]) / 1024.0),
                      int(r["rss_kib"]) < 16 * 1024))
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
    "hbd-200ms-mt3": ("hbd", "interval 200ms, timeout 150ms, fall 3; migration_threshold 3 (default): restarts in place twice, then moves"),
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
        c["n"] += 1
        if r["outcome"] == "failover" and r["ms"]:
            c["ms"].append(float(r["ms"]))
            d = detail(r, "detect")
            if d is not None:
                c["detect"].append(d)
        else:
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
        by = {r["checks"]: r for r in cost}
        if "0" in by and "100" in by:
            cpu = lambda r: 100.0 * int(r["cpu_ms"]) / max(1, int(r["window_ms"]))
            b, w = cpu(by["0"]), cpu(by["100"])
            L.append("CPU of 100 HTTP checks at 1 s interval (`[[node_check]]` × 100 against a local server, "
                     "%s healthy), hbd's unit on n1 over %.0f s (utime+stime of its cgroup): **%.2f %% of a core "
                     "with them, %.2f %% without: %.2f %% for the 100 checks** (%.4f %% per check)." % (
                         by["100"]["healthy"], int(by["100"]["window_ms"]) / 1000.0, w, b, w - b, (w - b) / 100.0))
            L.append("Target: well under 1 %% of a core for the 100 checks: **%s**." % (
                "met" if w - b < 1.0 else "missed"))
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


def chart(cells, path, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.stderr.write("matplotlib missing: no chart\n")
        return False
    colors = {"hbd": "#1f77b4", "heartbeat": "#ff7f0e", "keepalived": "#2ca02c"}
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
    if not main:
        meta = read_meta(raw)
        md = "Run %s — `%s`\n\nMachine: %s. hbd %s, keepalived %s. %s runs per cell.\n" % (
            meta.get("date", stamp), meta.get("command", "").strip(), meta.get("machine", "?"),
            meta.get("hbd", "?"), meta.get("keepalived", "?"), meta.get("runs", "?"))
    body = md + ("\n![chart](%s.png)\n" % stamp if have_png else "") + ("\n" + "\n".join(ck) if ck else "")
    open(os.path.join(out, stamp + ".md"), "w").write("# Benchmark %s\n\n%s" % (stamp, body))
    open(os.path.join(out, "latest.md" if main else "latest-checks.md"), "w").write(
        "# Latest benchmark (%s)\n\n%s" % (stamp, body))
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
