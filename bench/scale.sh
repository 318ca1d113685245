#!/usr/bin/env bash
# Scaling benchmark on real machines (issue 14): how hbd's cost and failover
# times grow with the number of groups and of nodes.
#
#   sudo bash bench/scale.sh [--quick] [--runs N] [--cells "2x1 2x100 2x1000 5x100"]
#
# Cells NODESxGROUPS (default 2x1 2x100 2x1000 3x100 5x100 8x100; the lab boots
# at most 8 machines). Every group is one VIP 10.79.G/32 on eth0, preferred
# round-robin over the nodes (tenant-0000 on n1, tenant-0001 on n2, ...);
# web.service (the lab's, on 0.0.0.0:80) is a [[respawn]] unit, so it runs on
# every node and whoever holds a VIP answers on it. Lab defaults: keepalive
# 200ms, deadtime 2s, ucast on eth1 + bcast on eth0, auto_failback.
# Per cell, on a fresh cluster once every group runs on its preferred node:
#   idle      IDLE_S without changes: heartbeat bytes/s and packets/s sent per
#             node (iptables counters on UDP 694 in each node's namespace),
#             CPU % of a core (utime+stime of hbd's cgroup) and RSS (VmRSS)
#   power     RUNS x power cut of n1: a client probes n1's first and last VIP
#             (tenant-0000 and the last group preferred on n1) every 5 ms;
#             first answer from another node on each; and the time until
#             the other nodes hold all of n1's VIPs (ip addr, every 50 ms)
#   switch    RUNS x `hactl standby n1`: the same three figures
# Results: bench/results/scale-<date>.{csv,md,png} (--quick: results/quick/).
# Root, Debian 12, release binaries (HBD_BIN, default target/release).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
export HBD_REPO=$repo
export HBD_BIN=${HBD_BIN:-$repo/target/release}
PY=/usr/bin/python3
QUICK=0 RUNS="" CELLS="2x1 2x100 2x1000 3x100 5x100 8x100"
while (($#)); do
    case $1 in
    --quick) QUICK=1 ;;
    --runs) RUNS=$2; shift ;;
    --cells) CELLS=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
: "${RUNS:=$( ((QUICK)) && echo 1 || echo 3)}"
IDLE_S=$( ((QUICK)) && echo 10 || echo 30)

# hbd without realtime priority here: the lab's kernel caps each machine's
# realtime time at its share of one CPU (RT group scheduling, see
# tests/lab/lab.sh), so a burst of a thousand VIPs would run at half a CPU
# or less; a real host caps realtime at 95 % of each CPU, and on a quiet
# machine hbd with or without realtime gets a whole CPU.
export LAB_RT_SHARE=0
source "$repo/tests/lab/lab.sh"
source "$repo/tests/lab/hbd.sh"
now_ms() { local s=${EPOCHREALTIME/./}; echo $(( s / 1000 )); }
log() { printf '[scale %s] %s\n' "$(date +%T)" "$*" >&2; }

((EUID == 0)) || { echo "bench/scale.sh needs root" >&2; exit 1; }
[[ -x $HBD_BIN/hbd ]] || { echo "no $HBD_BIN/hbd: cargo build --release --bins" >&2; exit 1; }
lab_deps >/dev/null || exit 1
stamp=$(date -u +%Y-%m-%dT%H%M)
if ((QUICK)); then RES=$here/results/quick; else RES=$here/results; fi
mkdir -p "$RES"
CSV=$RES/scale-$stamp.csv
WORK=$(mktemp -d /tmp/hbd-scale.XXXX)
RUNIDS=$WORK/runs
# nodes,groups,what,run,node,value1,value2,value3
echo "nodes,groups,what,run,node,a,b,c" >"$CSV"
{
    echo "# date=$(date -u '+%Y-%m-%d %H:%M UTC') hbd=$(git -C "$repo" describe --always --dirty 2>/dev/null) runs=$RUNS idle_s=$IDLE_S"
    echo "# machine=$(nproc) cores, kernel $(uname -r); load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$CSV.meta"

vip_of() { local g=$1; echo "10.79.$((g / 250)).$((g % 250 + 1))"; }
groups_toml() { # NODES GROUPS
    "$PY" - "$1" "$2" <<'EOF'
import sys
n, g = int(sys.argv[1]), int(sys.argv[2])
for i in range(g):
    print(f'[[group]]\nname = "tenant-{i:04d}"\npreferred = "n{i % n + 1}"\n'
          f'resources = [{{ vip = "10.79.{i // 250}.{i % 250 + 1}/32", interface = "eth0" }}]\n')
print('[[respawn]]\nunit = "web.service"\n')
EOF
}
vips_on() { local out; out=$(lab_nsexec "$1" ip -4 -o addr show dev eth0 2>/dev/null); grep -c ' 10\.79\.' <<<"$out" || true; }
# every group on its preferred node
split_ok() { # NODES GROUPS
    local n=$1 g=$2 i want have
    for ((i = 1; i <= n; i++)); do
        want=$(( g / n + (i <= g % n ? 1 : 0) ))
        have=$(vips_on "n$i")
        [[ $have == "$want" ]] || return 1
    done
}
others_hold() { # NODES COUNT: nodes n2.. hold COUNT VIPs in all
    local i s=0
    for ((i = 2; i <= $1; i++)); do s=$((s + $(vips_on "n$i"))); done
    ((s >= $2))
}
procs_of_hbd() { # NODE -> "cpu_ticks rss_kib"
    lab_exec "$1" sh -c '
        cg=$(systemctl show -P ControlGroup hbd.service)
        f=""; for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
            [ -r "$d$cg/cgroup.procs" ] && { f=$d$cg/cgroup.procs; break; }; done
        t=0; r=0
        for p in $(cat "$f"); do
            [ "$p" -gt 0 ] && [ -r /proc/$p/stat ] || continue
            set -- $(sed "s/^.*) //" /proc/$p/stat 2>/dev/null) || continue
            t=$(( t + ${12} + ${13} ))
            k=$(awk "/^VmRSS/ {print \$2}" /proc/$p/status 2>/dev/null); r=$(( r + ${k:-0} ))
        done
        echo "$t $r"'
}
hb_counters() { lab_nsexec "$1" iptables -nvx -L OUTPUT | awk '/bench-hb/ { p += $1; b += $2 } END { print p + 0, b + 0 }'; }

# first answer on VIP from a node other than OLD, in ms after T (probe log)
first_other() { # FILE T OLD
    awk -v t="$2" -v o="$3" '$1 > t && $2 != o { printf "%d\n", $1 - t; exit }' "$1"
}

# one fault: power cut or standby of n1; three figures
one_fault() { # NODES GROUPS KIND RUN
    local n=$1 g=$2 kind=$3 r=$4 first last mine pf1 pf2 p1 p2 t tall=""
    first=$(vip_of 0)
    last=$(( (g - 1) / n * n )); last=$(vip_of "$last")
    mine=$(vips_on n1)
    pf1=$WORK/p1-$n-$g-$kind-$r pf2=$WORK/p2-$n-$g-$kind-$r
    lab_client "$PY" "$here/probe.py" --vip "$first" --out "$pf1" --period 5 --timeout 0.3 --max 40 --until-other 3 --linger 0.1 &
    p1=$!
    if [[ $last != "$first" ]]; then
        lab_client "$PY" "$here/probe.py" --vip "$last" --out "$pf2" --period 5 --timeout 0.3 --max 40 --until-other 3 --linger 0.1 &
        p2=$!
    else
        p2=
    fi
    _ready() { [[ -s $pf1 ]] && (( $(wc -l <"$pf1") >= 3 )); }
    lab_wait_for 10 _ready || log "${n}x$g $kind #$r: the probe does not see n1 on $first"
    # a power cut at a random point of n1's heartbeat cycle (see one_run in run.sh)
    [[ $kind == power ]] && lab_random_phase
    t=$(now_ms)
    case $kind in
    # (from the moment the links go down, not from the call)
    power) lab_power_cut n1 >/dev/null 2>&1; t=$(( ${LAB_CUT_AT/./} / 1000 )) ;;
    switch) lab_hactl n1 standby >/dev/null 2>&1 & ;;
    esac
    local end=$(( t + 60000 ))
    while (( $(now_ms) < end )); do
        if others_hold "$n" "$g"; then tall=$(( $(now_ms) - t )); break; fi
        sleep 0.05
    done
    wait "$p1" ${p2:+"$p2"} 2>/dev/null
    wait
    local a b
    a=$(first_other "$pf1" "$t" n1)
    b=$a; [[ -n $p2 ]] && b=$(first_other "$pf2" "$t" n1)
    echo "$n,$g,$kind,$r,n1,${a:-},${b:-},${tall:-}" >>"$CSV"
    log "${n}x$g $kind #$r: first VIP ${a:-none} ms, last VIP ${b:-none} ms, all $mine of n1's VIPs elsewhere after ${tall:-?} ms"
    # back to the start: n1 runs its groups again
    case $kind in
    power) lab_boot n1 >/dev/null 2>&1 || { log "n1 did not boot"; return 1; }
           lab_exec n1 systemctl start hbd ;;
    switch) lab_hactl n1 unstandby >/dev/null 2>&1 ;;
    esac
    if ! lab_wait_for 120 split_ok "$n" "$g"; then
        # keep what the nodes say, for the report
        local d=$RES/scale-$stamp-failback-${n}x$g-$kind-$r i
        mkdir -p "$d"
        for ((i = 1; i <= n; i++)); do
            echo "n$i holds $(vips_on "n$i") VIPs" >>"$d/summary.txt"
            lab_hactl "n$i" status >"$d/status-n$i.txt" 2>&1
            lab_journal "n$i" -u hbd -o short-unix --since "@$(( t / 1000 - 5 ))" >"$d/journal-n$i.txt" 2>&1
        done
        log "${n}x$g: the groups did not come back to n1 within 120 s ($(tr '\n' ' ' <"$d/summary.txt")); kept in $d"
        return 1
    fi
    sleep 2
}

cell() { # NODES GROUPS
    local n=$1 g=$2 i
    log "=== $n nodes x $g groups"
    lab_up "$n" >/dev/null 2>&1 || { log "lab_up failed"; return 1; }
    echo "$LAB_RUN" >>"$RUNIDS"
    hbd_install_all "$n" >/dev/null
    # hbd.sh's configuration without its group "web" (web.service is a
    # respawn unit here), plus the tenants
    local tmp; tmp=$(mktemp)
    { hbd_config "$n" | "$PY" -c 'import re,sys; sys.stdout.write(re.sub(r"\n\[\[group\]\]\nname = \"web\"\n.*?\n\]\n", "\n", sys.stdin.read(), flags=re.S))'
      groups_toml "$n" "$g"; } >"$tmp"
    lab_install_config "$tmp" hbd.toml; rm -f "$tmp"
    lab_exec n1 /opt/hbd/bin/hactl config check /etc/hbd/hbd.toml >"$WORK/check-$n-$g.txt" 2>&1 || { log "config check failed: $(tail -2 "$WORK/check-$n-$g.txt")"; lab_down >/dev/null 2>&1; return 1; }
    for ((i = 1; i <= n; i++)); do lab_exec "n$i" systemctl start hbd & done
    wait
    lab_client ip route add 10.79.0.0/16 dev eth0 2>/dev/null
    local t0=$SECONDS
    if ! lab_wait_for 180 split_ok "$n" "$g"; then
        log "${n}x$g: not every group on its preferred node within 180 s"; lab_down >/dev/null 2>&1; return 1
    fi
    log "${n}x$g: all groups up after $((SECONDS - t0)) s"
    for ((i = 1; i <= n; i++)); do lab_nsexec "n$i" iptables -A OUTPUT -p udp --dport 694 -m comment --comment bench-hb; done
    sleep 5
    declare -A c0 h0
    for ((i = 1; i <= n; i++)); do c0[n$i]=$(procs_of_hbd "n$i"); h0[n$i]=$(hb_counters "n$i"); done
    local ta tb; ta=$(now_ms); sleep "$IDLE_S"; tb=$(now_ms)
    local clk; clk=$(getconf CLK_TCK)
    for ((i = 1; i <= n; i++)); do
        local c1 h1 tk rss pk by tk0 pk0 by0
        read -r tk rss <<<"$(procs_of_hbd "n$i")"; read -r tk0 _ <<<"${c0[n$i]}"
        read -r pk by <<<"$(hb_counters "n$i")"; read -r pk0 by0 <<<"${h0[n$i]}"
        local w=$((tb - ta))
        # idle: bytes/s, packets/s, cpu % ; rss as c
        echo "$n,$g,idle,1,n$i,$(( (by - by0) * 1000 / w )),$(( (pk - pk0) * 1000 / w )),$("$PY" -c "print('%.3f' % ($((tk - tk0)) * 100.0 / $clk / ($w / 1000.0)))")" >>"$CSV"
        echo "$n,$g,rss,1,n$i,$rss,," >>"$CSV"
    done
    log "${n}x$g: idle measured"
    local r
    for ((r = 1; r <= RUNS; r++)); do one_fault "$n" "$g" power "$r" || break; done
    for ((r = 1; r <= RUNS; r++)); do one_fault "$n" "$g" switch "$r" || break; done
    lab_down >/dev/null 2>&1
}

for c in $CELLS; do
    cell "${c%x*}" "${c#*x}"
done
echo "# load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$CSV.meta"
rc=0
for r in $(cat "$RUNIDS" 2>/dev/null); do lab_check_clean "$r" || { log "lab run $r left something behind"; rc=1; }; done
rm -rf "$WORK"
"$PY" "$here/scale_report.py" "$CSV" ${SIM_CSV:+--sim "$SIM_CSV"} || rc=1
exit $rc
