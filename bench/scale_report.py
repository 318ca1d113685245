#!/usr/bin/python3
"""Report of bench/scale.sh: CSV -> markdown table + PNG plot.

    scale_report.py RESULTS/scale-STAMP.csv [--sim SIM.csv]

Writes scale-STAMP.md and scale-STAMP.png next to the CSV and prints the
markdown. Percentiles are nearest-rank. The optional simulator CSV is the
output of `cargo run --release --example scale_figures`.
"""
import csv
import math
import os
import sys


def pct(vals, p):
    v = sorted(x for x in vals if x is not None)
    if not v:
        return None
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


def fmt_ms(v):
    if v is None:
        return "–"
    return "%.2f s" % (v / 1000.0) if v >= 1000 else "%d ms" % round(v)


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def main():
    path = sys.argv[1]
    sim = sys.argv[sys.argv.index("--sim") + 1] if "--sim" in sys.argv else None
    rows = list(csv.DictReader(open(path)))
    meta = [l.strip("# \n") for l in open(path + ".meta")] if os.path.exists(path + ".meta") else []
    cells = []
    for r in rows:
        k = (int(r["nodes"]), int(r["groups"]))
        if k not in cells:
            cells.append(k)
    L = []
    L.append("Run: " + "; ".join(meta))
    L.append("")
    L.append("| nodes × groups | heartbeat bytes/s per node | packets/s per node | idle CPU per node | RSS per node "
             "| power cut: first VIP | last VIP | all of n1's VIPs elsewhere | standby: first VIP | last VIP | all elsewhere |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    fig = {}
    for k in cells:
        n, g = k
        idle = [r for r in rows if (int(r["nodes"]), int(r["groups"])) == k and r["what"] == "idle"]
        rss = [r for r in rows if (int(r["nodes"]), int(r["groups"])) == k and r["what"] == "rss"]
        by = [num(r["a"]) for r in idle]
        pk = [num(r["b"]) for r in idle]
        cpu = [num(r["c"]) for r in idle]
        rs = [num(r["a"]) / 1024.0 for r in rss if num(r["a"])]
        f = {}
        for kind in ("power", "switch"):
            rr = [r for r in rows if (int(r["nodes"]), int(r["groups"])) == k and r["what"] == kind]
            f[kind] = [pct([num(r[c]) for r in rr], 50) for c in ("a", "b", "c")] + [len(rr)]
        fig[k] = (by, cpu, f)
        mean = lambda v: sum(x for x in v if x is not None) / max(1, len([x for x in v if x is not None]))
        L.append("| %d × %d | %.0f (%.0f–%.0f) | %.1f | %.2f %% (max %.2f %%) | %.1f MiB | %s | %s | %s | %s | %s | %s |" % (
            n, g, mean(by), min(by or [0]), max(by or [0]), mean(pk), mean(cpu), max(cpu or [0]),
            max(rs or [0]), fmt_ms(f["power"][0]), fmt_ms(f["power"][1]), fmt_ms(f["power"][2]),
            fmt_ms(f["switch"][0]), fmt_ms(f["switch"][1]), fmt_ms(f["switch"][2])))
    L.append("")
    runs = {k: (fig[k][2]["power"][3], fig[k][2]["switch"][3]) for k in cells}
    L.append("Failover and switchover columns: p50 over %s runs per cell (power cuts / standbys); "
             "\"first\"/\"last\" VIP = tenant-0000's and the last group preferred on n1, first HTTP answer "
             "from another node (client probe every 5 ms); \"all elsewhere\" = until the other nodes hold every "
             "VIP n1 had (ip addr, sampled every 50 ms). Bytes and packets: UDP 694 sent by each node "
             "(iptables counters, both links, frames with their IP/UDP headers) while nothing changes; "
             "CPU: utime+stime of hbd's cgroup over the idle window, in %% of one core; RSS: VmRSS at its end." % (
                 ", ".join("%d/%d" % runs[k] for k in cells)))
    L.append("")
    if sim and os.path.exists(sim):
        srows = list(csv.DictReader(l for l in open(sim) if not l.startswith("#")))
        if srows:
            L.append("Simulator and wire encoder (`cargo run --release --example scale_figures`; two broadcast "
                     "links, keepalive and deadtime of the simulator's cluster):")
            L.append("")
            L.append("| nodes × groups | beat frame (settled) | beat frame bound | bytes per keepalive per node | "
                     "a node's state after start | state bound (every intent) | cold start: all groups once | "
                     "crash of n1: first / last of its groups elsewhere | deadtime |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in srows:
                L.append("| %s × %s | %s B | %s B | %s B (%s links) | %s B, %s chunks | %s B, %s chunks | %s | %s / %s (%s groups) | %s |" % (
                    r["nodes"], r["groups"], r["beat_frame_bytes"], r["beat_bound_frame_bytes"],
                    r["bytes_per_keepalive_per_node"], r["links"], r["state_bytes"], r["state_chunks"],
                    r["state_bound_bytes"], r["state_bound_chunks"], fmt_ms(num(r["start_ms"])),
                    fmt_ms(num(r["crash_first_ms"])), fmt_ms(num(r["crash_all_ms"])), r["crash_groups"],
                    fmt_ms(num(r["deadtime_ms"]))))
            L.append("")
    md = "\n".join(L)
    base = path[:-4]
    png = base + ".png"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fg, ax = plt.subplots(1, 3, figsize=(14, 4.2))
        labels = ["%d×%d" % k for k in cells]
        xs = range(len(cells))
        ax[0].bar(xs, [sum(fig[k][0]) / max(1, len(fig[k][0])) for k in cells], color="#1f77b4")
        ax[0].set_xticks(list(xs)); ax[0].set_xticklabels(labels)
        ax[0].set_ylabel("heartbeat bytes/s sent per node (idle)")
        ax[0].set_title("idle traffic per node")
        ax[1].bar(xs, [sum(fig[k][1]) / max(1, len(fig[k][1])) for k in cells], color="#ff7f0e")
        ax[1].set_xticks(list(xs)); ax[1].set_xticklabels(labels)
        ax[1].set_ylabel("% of one core"); ax[1].set_title("idle CPU per node")
        w = 0.13
        series = [("power", 0, "power cut: first VIP"), ("power", 1, "power cut: last VIP"),
                  ("power", 2, "power cut: all elsewhere"), ("switch", 0, "standby: first VIP"),
                  ("switch", 1, "standby: last VIP"), ("switch", 2, "standby: all elsewhere")]
        for i, (kind, j, name) in enumerate(series):
            ys = [(fig[k][2][kind][j] or 0) / 1000.0 for k in cells]
            ax[2].bar([x + (i - 2.5) * w for x in xs], ys, w, label=name)
        ax[2].set_xticks(list(xs)); ax[2].set_xticklabels(labels)
        ax[2].set_ylabel("s (p50)"); ax[2].set_title("failover / switchover of n1's groups")
        ax[2].legend(fontsize=7)
        for a in ax:
            a.set_xlabel("nodes × groups")
            a.grid(axis="y", alpha=0.3)
        fg.suptitle("hbd scaling on the lab (keepalive 200ms, deadtime 2s): %s" % os.path.basename(base), fontsize=10)
        fg.tight_layout()
        fg.savefig(png, dpi=100)
        md += "\n![scaling](%s)\n" % os.path.basename(png)
    except ImportError as e:
        sys.stderr.write("matplotlib missing (%s): no plot\n" % e)
    open(base + ".md", "w").write("# Scaling benchmark %s\n\n%s" % (os.path.basename(base), md))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
