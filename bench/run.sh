#!/usr/bin/env bash
# Failover benchmark: hbd vs Heartbeat 3.0.6 vs keepalived 2.2.7 on the lab's
# two-node cluster (real systemd machines, see tests/lab/README.md).
#
#   bash bench/run.sh [--quick] [--only SYSTEM[,SYSTEM]] [--runs N] [--no-soak]
#                     [--settings "equal fast"] [--faults "power link switch"]
#                     [--checks] [--no-checks] [--frontier] [--no-frontier]
#                     [--soak-seconds N] [--ladder "hbd=d200,d100 keepalived=a0.1"]
#
# For each system and setting (equal detection, fastest stable) a fresh
# two-node cluster is booted; once the client gets n1's page on the VIP a
# fault is injected and the client (probing every 5 ms, ARP cache left
# alone) times the first HTTP answer from n2.  Faults: power cut of the
# owner, heartbeat-network cut (eth1; hbd and Heartbeat), planned
# switchover.  Then, at the fastest setting, 60 s idle costs (CPU, peak RSS,
# heartbeat packets/s) and 5 minutes with 20 % heartbeat loss and both
# cores busy (ownership changes), all three systems side by side.  Then the
# health checks (bench/checks.sh): sick service (HTTP 500 on the owner) ->
# first good answer from the peer, hbd vs keepalived's vrrp_script, and the
# CPU of 100 HTTP checks at 1 s.  --checks runs that part alone (results in
# their own section of docs/benchmarks.md); --no-checks skips it.
# Then the frontier (bench/README.md): per system a ladder of detection
# settings from slow to fast, each soaked (20 % heartbeat loss per link, both
# cores busy) until the first with false failovers; power cuts at the
# fastest clean one (the frontier), keepalived advert_int 0.05 beside hbd at
# deadtime 200 ms (equal detection), and hbd's VIP-only group at keepalive
# 10 ms / deadtime 50 ms (power cuts, a timeline, a soak).  --frontier runs
# this part alone; --no-frontier skips it; --soak-seconds N shortens every
# soak; --ladder overrides the settings walked (per system, in order).
#
# Results: bench/results/<date>.{md,png,csv...}, bench/results/latest.md and
# docs/benchmarks.md.  --quick (CI): 1 run per cell, 10 s costs (20 s for the
# checks' CPU), 20 s soak,
# results under bench/results/quick/ only; exits 1 if any system failed to
# fail over at all.  Needs root and Debian 12 (installs heartbeat, haproxy,
# keepalived, stress-ng, python3-matplotlib with apt-get).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
export HBD_REPO=$repo
export HBD_BIN=${HBD_BIN:-$repo/target/release}
PY=/usr/bin/python3

QUICK=0 ONLY="hbd,heartbeat,keepalived" RUNS="" SOAK=1 PHASE=main CHECKS=1 CHECKS_ONLY=0
FRONTIER=1 FRONTIER_ONLY=0 SOAK_SECONDS="" LADDER=""
CHILD_SETTING=fast FAIL_RUNS=0 TL_RUN=0 NO_COSTS=0
SETTINGS="equal fast"
while (($#)); do
    case $1 in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --settings) SETTINGS=$2; shift ;;
    --faults) FAULTS=$2; shift ;;         # e.g. "switch" or "power link"
    --no-soak) SOAK=0 ;;
    --checks) CHECKS_ONLY=1 ;;
    --no-checks) CHECKS=0 ;;
    --frontier) FRONTIER_ONLY=1 ;;
    --no-frontier) FRONTIER=0 ;;
    --soak-seconds) SOAK_SECONDS=$2; shift ;;
    --ladder) LADDER=$2; shift ;;         # e.g. "hbd=d200,d100 keepalived=a0.1"
    --setting) CHILD_SETTING=$2; shift ;; # internal: soak child
    --fail-runs) FAIL_RUNS=$2; shift ;;   # internal: power cuts after the soak
    --timeline-run) TL_RUN=$2; shift ;;   # internal: capture that run's timeline
    --no-costs) NO_COSTS=1 ;;             # internal
    --phase) PHASE=$2; shift ;;           # internal: soak child
    --system) CHILD_SYSTEM=$2; shift ;;   # internal
    --out) OUT=$2; shift ;;               # internal
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
RUNS_ARG=$RUNS
((QUICK)) && : "${RUNS:=1}"
: "${RUNS:=10}"
COST_S=60 SOAK_S=300 WEB_RUNS=5 CHK_RUNS=$RUNS CHK_COST_S=60
# frontier: soak per setting, power cuts at the frontier; VIP-only: power
# cuts and its soak
FR_SOAK_S=300 FR_RUNS=$RUNS VIP_RUNS=$RUNS VIP_SOAK_S=600
((QUICK)) && { COST_S=10; SOAK_S=20; WEB_RUNS=2; CHK_COST_S=20; FR_SOAK_S=15; VIP_RUNS=3; VIP_SOAK_S=15; }
[[ -n $SOAK_SECONDS ]] && { SOAK_S=$SOAK_SECONDS; FR_SOAK_S=$SOAK_SECONDS; VIP_SOAK_S=$SOAK_SECONDS; }

source "$repo/tests/lab/lab.sh"
source "$repo/tests/lab/hbd.sh"
source "$here/systems.sh"
source "$here/checks.sh"

now_ms() { local s=${EPOCHREALTIME/./}; echo $(( s / 1000 )); }
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

# ------------------------------------------------------------------ deps
bench_deps() {
    local need=() p
    for p in heartbeat keepalived haproxy stress-ng python3-matplotlib; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
    done
    ((${#need[@]})) || return 0
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null
}

# ------------------------------------------------------------------ helpers
probe() { # ARGS... : the client probe, in the client netns
    lab_client "$PY" "$here/probe.py" "$@"
}
owner_is() { [[ $(lab_probe_vip "$VIP" 0.3) == "$1" ]]; }
wait_owner() { # NODE TIMEOUT: NODE answers on the VIP 3 times in a row
    local node=$1 deadline=$(( $(now_ms) + $2 * 1000 )) ok=0
    while (( $(now_ms) < deadline )); do
        if owner_is "$node"; then ok=$((ok + 1)); ((ok >= 3)) && return 0; else ok=0; fi
        sleep 0.1
    done
    return 1
}
web_inactive() { ! lab_exec "$1" systemctl -q is-active web.service; }
# n2's web.service stops when n1 has the group back (not in the VIP-only
# setting: there it runs on both nodes all the time)
wait_web_released() { [[ ${BENCH_SETTING:-} == vip ]] || lab_wait_for 20 web_inactive n2; }
# journal lines of NODE as "EPOCH.USEC text", after EPOCH_MS
journal_after() { # NODE EPOCH_MS [journalctl args]
    local n=$1 t=$2; shift 2
    lab_journal "$n" -o short-unix --since "@$(( t / 1000 - 1 ))" "$@" 2>/dev/null |
        awk -v t="$t" '{ split($1, a, "."); if (a[1] * 1000 + substr(a[2], 1, 3) >= t) print }'
}
# first journal time (ms) on NODE after T matching PATTERN, minus T
journal_delay() { # NODE T PATTERN
    journal_after "$1" "$2" | grep -E -- "$3" | head -1 |
        awk -v t="$2" '{ split($1, a, "."); printf "%d\n", a[1] * 1000 + substr(a[2], 1, 3) - t }'
}

# restore n1 as the owner after a fault
restore() { # SYSTEM FAULT
    local s=$1 f=$2
    case $f in
    power) lab_boot n1 >/dev/null 2>&1 || { log "n1 did not boot"; return 1; }
           sys "$s" start n1 ;;
    link)  lab_link_restore n1 eth1 ;;
    switch) wait "${SWITCH_PID:-}" 2>/dev/null; sys "$s" switchback ;;
    esac
    if ! wait_owner n1 60; then
        log "$s: n1 did not get the VIP back after $f; journals kept as failback-$s-*"
        local n; for n in n1 n2; do journal_after "$n" "$(( $(now_ms) - 90000 ))" >"$RAW_DIR/failback-$s-$f-$n.txt" 2>/dev/null; done
        return 1
    fi
    wait_web_released || log "$s: web.service still active on n2"
    sleep "${SETTLE:-2}"
}

# one fault, one measurement -> a line of failover.csv
one_run() { # SYSTEM SETTING FAULT RUN
    local s=$1 st=$2 f=$3 r=$4 pf t pp max
    pf="$BENCH_WORK/probe-$s-$st-$f-$r"
    setting_vars "$s" "$st"
    max=20; [[ $f == link ]] && max=$(( DT_MS / 1000 + 4 ))
    owner_is n1 || wait_owner n1 30 || { log "$s $st $f #$r: n1 is not the owner; skipped"; echo "$s,$st,$f,$r,,not-ready," >>"$CSV"; return 1; }
    if [[ $f == link ]]; then
        probe --vip "$VIP" --out "$pf" --period 5 --timeout 0.3 --max "$max" &
    else
        probe --vip "$VIP" --out "$pf" --period 5 --timeout 0.3 --max "$max" --until-other 3 --linger 0.2 &
    fi
    pp=$!
    _probe_ready() { [[ -s $pf ]] && (( $(wc -l <"$pf") >= 5 )) && ! tail -n 5 "$pf" | grep -vq ' n1$'; }
    if ! lab_wait_for 5 _probe_ready; then
        log "$s $st $f #$r: probe never saw n1"; kill "$pp" 2>/dev/null; wait "$pp"
        echo "$s,$st,$f,$r,,not-ready," >>"$CSV"; return 1
    fi
    [[ $f == switch ]] && SWITCH_HOW=$(sys "$s" switch_how)
    local tlp=""
    if [[ $TL_RUN == all || $TL_RUN == "$r" ]] && [[ $f == power ]]; then
        # this run's timeline: what n2's interfaces carry (heartbeats from
        # n1, n2's own ARP) on the host's clock, beside n2's journal
        ip netns exec "$LAB_RUN-n2" tcpdump -i any -n -tt -l -U 'udp port 694 or arp' \
            >"$BENCH_WORK/tl-tcpdump.txt" 2>/dev/null &
        tlp=$!
        sleep 0.5
    fi
    # A fault at a random point of the heartbeat cycle: the steps before it
    # (a restart, the failback, the probe's first answers) take about the
    # same time in every run, so without this the cut fell at the same
    # phase of n1's beats each time, and detection looked up to a beat
    # period shorter (or longer) than it is.  1 s is a multiple of every
    # setting's period, so the phase is uniform for each system.
    [[ $f == switch ]] || lab_random_phase
    t=$(now_ms)
    case $f in
    # (from the moment the links go down, not from the call)
    power) lab_power_cut n1 >/dev/null 2>&1; t=$(( ${LAB_CUT_AT/./} / 1000 )) ;;
    link) lab_link_cut n1 eth1 ;;
    switch) sys "$s" switchover & SWITCH_PID=$! ;;
    esac
    wait "$pp"
    local res detect="" dead
    res=$("$PY" "$here/report.py" probe "$pf" "$t" n1)   # ms outcome gap_ms
    read -r ms outcome gap <<<"$res"
    if [[ -n $tlp ]]; then
        sleep 0.2; kill -INT "$tlp" 2>/dev/null; wait "$tlp"
        awk -v t="$t" '$1 * 1000 >= t - 300' "$BENCH_WORK/tl-tcpdump.txt" >"$RAW_DIR/timeline-$s-$st-$r-tcpdump.txt"
        lab_journal n2 -u hbd -o json --since "@$(( t / 1000 - 1 ))" >"$RAW_DIR/timeline-$s-$st-$r-n2.json" 2>/dev/null
        echo "$t $ms" >"$RAW_DIR/timeline-$s-$st-$r.t"
    fi
    case $f in
    link) detect=$(journal_delay n2 "$t" "$(sys "$s" link_pattern)")
          echo "$s,$st,$f,$r,${detect},$outcome,gap=$gap" >>"$CSV"
          log "$s $st $f #$r: link-down seen by n2 after ${detect:-?} ms; $outcome; longest client gap $gap ms" ;;
    *)    dead=$(journal_delay n2 "$t" "$(sys "$s" dead_pattern)")
          echo "$s,$st,$f,$r,$ms,$outcome,detect=${dead}" >>"$CSV"
          log "$s $st $f #$r: ${ms:-none} ms ($outcome; n2 decided after ${dead:-?} ms)" ;;
    esac
    # a run without failover: keep both journals and the probe log
    if [[ $f != link && $outcome != failover ]]; then
        journal_after n2 "$(( t - 1000 ))" >"$RAW_DIR/failed-$s-$st-$f-$r-n2.txt"
        journal_after n1 "$(( t - 1000 ))" >"$RAW_DIR/failed-$s-$st-$f-$r-n1.txt" 2>/dev/null
        cp "$pf" "$RAW_DIR/failed-$s-$st-$f-$r-probe.txt"
    fi
    # keep one timeline per system/setting/fault (the last run's)
    journal_after n2 "$(( t - 1000 ))" >"$BENCH_WORK/journal-$s-$st-$f-n2.txt"
    [[ $f == switch ]] && journal_after n1 "$(( t - 1000 ))" >"$BENCH_WORK/journal-$s-$st-$f-n1.txt"
    echo "$t" >"$BENCH_WORK/journal-$s-$st-$f.t"
    restore "$s" "$f"
}

# the web unit's own start time as the client sees it (systemctl start on
# n2 -> first answer from 10.77.0.12), before any daemon runs
web_start_time() { # SYSTEM SETTING
    local i pf t a
    for ((i = 1; i <= WEB_RUNS; i++)); do
        pf=$BENCH_WORK/web-$i
        probe --vip 10.77.0.12 --out "$pf" --period 5 --timeout 0.3 --max 10 --first &
        local pp=$!
        sleep 0.3
        t=$(now_ms)
        lab_exec n2 systemctl start web.service
        wait "$pp"
        a=$(awk 'NR == 1 { printf "%d", $1 }' "$pf")
        [[ -n $a ]] && echo "$1,$2,$i,$(( a - t ))" >>"$WEBCSV"
        lab_exec n2 systemctl stop web.service
        sleep 0.3
    done
}

cluster_up() { # SYSTEM SETTING
    local s=$1 st=$2
    BENCH_SYSTEM=$s BENCH_SETTING=$st
    lab_up 2 >/dev/null 2>&1 || { log "lab_up failed"; return 1; }
    echo "$LAB_RUN" >>"$BENCH_RUNS"
    sys "$s" config "$st" || return 1
}
daemons_up() { # SYSTEM
    sys "$1" start n1 & sys "$1" start n2 & wait
    wait_owner n1 60 || { log "$1: the VIP never came up on n1"; return 1; }
    wait_web_released
    sleep 2
}

faults_of() {
    local all="power link switch" f out=()
    [[ $1 == keepalived ]] && all="power switch"
    for f in $all; do [[ " ${FAULTS:-$all} " == *" $f "* ]] && out+=("$f"); done
    echo "${out[*]}"
}

bench_cell_cluster() { # SYSTEM SETTING
    local s=$1 st=$2 f r
    log "=== $s, $st ($(setting_label "$s" "$st"))"
    cluster_up "$s" "$st" || { echo "$s,$st,all,0,,no-cluster," >>"$CSV"; lab_down >/dev/null 2>&1; return 1; }
    web_start_time "$s" "$st"
    daemons_up "$s" || { echo "$s,$st,all,0,,no-cluster," >>"$CSV"; lab_down >/dev/null 2>&1; return 1; }
    for f in $(faults_of "$s"); do
        for ((r = 1; r <= RUNS; r++)); do
            one_run "$s" "$st" "$f" "$r" || break
        done
    done
    [[ -n ${SWITCH_HOW:-} ]] && echo "$s,$SWITCH_HOW" >>"$BENCH_WORK/switch-how.csv"
    lab_down >/dev/null 2>&1
}

# ------------------------------------------------------------------ costs + soak (one system, child process)
# processes of the daemon's unit inside NODE: "pid utime+stime+cutime+cstime VmHWM_kB" lines
unit_procs() { # NODE UNIT
    lab_exec "$1" sh -c '
        cg=$(systemctl show -P ControlGroup '"$2"')
        # the name=systemd hierarchy is per machine here; the unified one is
        # shared by all machines of the host (other nodes show as pid 0)
        f=""; for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
            [ -r "$d$cg/cgroup.procs" ] && { f=$d$cg/cgroup.procs; break; }; done
        for p in $(cat "$f"); do
            [ "$p" -gt 0 ] && [ -r /proc/$p/stat ] || continue
            set -- $(sed "s/^.*) //" /proc/$p/stat 2>/dev/null) || continue
            hwm=$(awk "/^VmHWM/ {print \$2}" /proc/$p/status 2>/dev/null)
            echo "$p $(( ${12} + ${13} + ${14} + ${15} )) ${hwm:-0}"
        done'
}
hb_counters() { # NODE MATCH -> packets bytes sent
    lab_nsexec "$1" iptables -nvx -L OUTPUT | awk '/bench-hb/ { p += $1; b += $2 } END { print p + 0, b + 0 }'
}
# SYSTEM (CHILD_SYSTEM) at CHILD_SETTING (fast): costs (COST_S idle; not
# with --no-costs), then the soak (SOAK_S, loss + stress); then, with
# --fail-runs N, N power cuts on the same cluster (loss rules removed).
# The main run's soak writes soak.csv; the frontier's (another setting)
# frontier-soak.csv and frontier-failover.csv.
soak_child() {
    local s=$CHILD_SYSTEM st=$CHILD_SETTING unit n m clk tag
    unit=$(sys "$s" unit); m=$(sys "$s" hb_match); clk=$(getconf CLK_TCK)
    tag=$s; [[ $st == fast ]] || tag=$s-$st
    cluster_up "$s" "$st" || { touch "$OUT/$tag.failed"; return 1; }
    daemons_up "$s" || { touch "$OUT/$tag.failed"; lab_down >/dev/null 2>&1; return 1; }
    for n in n1 n2; do
        # shellcheck disable=SC2086
        lab_nsexec "$n" iptables -A OUTPUT $m -m comment --comment bench-hb
    done
    sleep 3
    ((NO_COSTS)) || soak_costs
    soak_loss -A
    touch "$OUT/$tag.ready"
    lab_wait_for 120 test -e "$OUT/go" || { log "$s: no go"; lab_down >/dev/null 2>&1; return 1; }
    local ts; ts=$(now_ms)
    probe --vip "$VIP" --out "$OUT/soak-probe-$tag" --period 100 --timeout 0.5 --max "$SOAK_S"
    local te; te=$(now_ms)
    touch "$OUT/$tag.soaked"     # the parent stops stress-ng
    local pat j1 j2 cl gap
    pat=$(sys "$s" owner_pattern)
    j1=$(journal_after n1 "$ts" | grep -cE -- "$pat"); j2=$(journal_after n2 "$ts" | grep -cE -- "$pat")
    read -r cl gap <<<"$("$PY" "$here/report.py" changes "$OUT/soak-probe-$tag")"
    local dead; dead=$(( $(journal_after n1 "$ts" | grep -cE -- "$(sys "$s" dead_pattern | sed 's/n1/n2/')") + $(journal_after n2 "$ts" | grep -cE -- "$(sys "$s" dead_pattern)") ))
    if [[ $st == fast ]]; then
        # system,duration_ms,owner_changes_journal,owner_changes_client,max_gap_ms,dead_events
        echo "$s,$((te - ts)),$((j1 + j2)),$cl,$gap,$dead" >>"$OUT/soak.csv"
    else
        setting_vars "$s" "$st"
        # system,setting,label,nominal_ms,duration_ms,owner_changes_journal,owner_changes_client,max_gap_ms,dead_events,n2_takeovers
        echo "$s,$st,$(setting_label "$s" "$st" | tr ',' ';'),$DT_MS,$((te - ts)),$((j1 + j2)),$cl,$gap,$dead,$j2" >>"$OUT/frontier-soak.csv"
    fi
    # the state changes only (the whole journals run to megabytes)
    local keep='taking over|releasing|is dead|[Ll]ink .*(up|down|dead)|STATE|IPaddr2.*(start|stop)|web\.service'
    journal_after n1 "$ts" | grep -E -- "$keep" >"$OUT/soak-journal-$tag-n1.txt"
    journal_after n2 "$ts" | grep -E -- "$keep" >"$OUT/soak-journal-$tag-n2.txt"
    log "$tag: soak: $((j1 + j2)) ownership changes (journal), $cl seen by the client, longest gap $gap ms, peer declared dead $dead times"
    if ((FAIL_RUNS > 0)); then
        lab_nsexec n1 iptables -F OUTPUT; lab_nsexec n2 iptables -F OUTPUT   # loss and counting rules
        CSV=$OUT/frontier-failover.csv RAW_DIR=$OUT SETTLE=1
        local r
        for ((r = 1; r <= FAIL_RUNS; r++)); do one_run "$s" "$st" power "$r" || break; done
    fi
    lab_down >/dev/null 2>&1
}
soak_loss() { # -A|-D: 20 % loss of heartbeat packets leaving each node on each link
    local n i m; m=$(sys "$CHILD_SYSTEM" hb_match)
    for n in n1 n2; do
        for i in eth0 eth1; do
            [[ $CHILD_SYSTEM == keepalived && $i == eth1 ]] && continue
            # shellcheck disable=SC2086
            lab_nsexec "$n" iptables "$1" OUTPUT -o "$i" $m -m statistic --mode random --probability 0.2 -j DROP
        done
    done
}
soak_costs() { # idle costs over COST_S (costs.csv)
    local s=$CHILD_SYSTEM unit n clk
    unit=$(sys "$s" unit); clk=$(getconf CLK_TCK)
    declare -A c0 p0
    for n in n1 n2; do
        c0[$n]=$(unit_procs "$n" "$unit" | awk '{ s += $2 } END { print s + 0 }')
        p0[$n]=$(hb_counters "$n")
    done
    local t0 t1; t0=$(now_ms)
    sleep "$COST_S"
    t1=$(now_ms)
    for n in n1 n2; do
        local procs c1 rss np pk by pk0 by0
        procs=$(unit_procs "$n" "$unit")
        c1=$(awk '{ s += $2 } END { print s + 0 }' <<<"$procs")
        rss=$(awk '{ s += $3 } END { print s + 0 }' <<<"$procs")
        np=$(grep -c . <<<"$procs")
        read -r pk by <<<"$(hb_counters "$n")"; read -r pk0 by0 <<<"${p0[$n]}"
        # system,node,window_ms,cpu_ms,rss_kib,nprocs,hb_packets,hb_bytes
        echo "$s,$n,$((t1 - t0)),$(( (c1 - c0[$n]) * 1000 / clk )),$rss,$np,$((pk - pk0)),$((by - by0))" >>"$OUT/costs.csv"
    done
    log "$s: costs measured"
}

# ------------------------------------------------------------------ frontier
# the ladder of a system, slow to fast (setting names: see setting_vars)
ladder_of() { # SYSTEM
    local l
    for l in $LADDER; do [[ ${l%%=*} == "$1" ]] && { echo "${l#*=}" | tr ',' ' '; return 0; }; done
    case $1 in
    hbd) echo d2000 d1000 d500 d200 d100 d50 ;;
    keepalived) echo a1 a0.5 a0.2 a0.1 a0.05 a0.01 ;;
    heartbeat) echo d2000 d1000 d500 ;;
    esac
}
# one soak (a child process, one cluster) with stress-ng on the host while
# it lasts, then FAIL_RUNS power cuts on that cluster
soak_one() { # SYSTEM SETTING SOAK_S FAIL_RUNS [TIMELINE_RUN]
    local s=$1 st=$2 tag=$1-$2 cpid spid rc
    rm -f "$RAW/go" "$RAW/$tag".{ready,failed,soaked}
    bash "$0" --phase soak --system "$s" --setting "$st" --soak-seconds "$3" --fail-runs "$4" \
        --timeline-run "${5:-0}" --no-costs --out "$RAW" &
    cpid=$!
    _soak_ready() { [[ -e $RAW/$tag.ready || -e $RAW/$tag.failed ]] || ! kill -0 "$cpid" 2>/dev/null; }
    _soak_done() { [[ -e $RAW/$tag.soaked ]] || ! kill -0 "$cpid" 2>/dev/null; }
    lab_wait_for 240 _soak_ready
    if [[ -e $RAW/$tag.ready ]]; then
        stress-ng --cpu "$(nproc)" --timeout "$(( $3 + 30 ))s" --quiet &
        spid=$!
        touch "$RAW/go"
        lab_wait_for $(( $3 + 120 )) _soak_done
        kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    fi
    wait "$cpid"; rc=$?
    rm -f "$RAW/go" "$RAW/$tag".{ready,failed,soaked}
    return $rc
}
# power cuts of SYSTEM at SETTING on a fresh cluster until it has RUNS in
# frontier-failover.csv
frontier_more_runs() { # SYSTEM SETTING RUNS
    local s=$1 st=$2 have r
    have=$(awk -F, -v s="$s" -v st="$st" '$1 == s && $2 == st && $3 == "power"' "$RAW/frontier-failover.csv" | wc -l)
    ((have < $3)) || return 0
    log "=== frontier: $s $st ($(setting_label "$s" "$st")): power cuts $((have + 1))..$3"
    cluster_up "$s" "$st" && daemons_up "$s" || { log "$s $st: no cluster"; lab_down >/dev/null 2>&1; return 1; }
    local CSV=$RAW/frontier-failover.csv
    for ((r = have + 1; r <= $3; r++)); do one_run "$s" "$st" power "$r" || break; done
    lab_down >/dev/null 2>&1
}
bench_frontier() { # SYSTEMS...
    local s st frontier changes row need=() seen=""
    for s in "$@"; do
        frontier=""
        for st in $(ladder_of "$s"); do
            setting_vars "$s" "$st" || continue
            log "=== frontier: $s $st ($(setting_label "$s" "$st"), nominal detection $DT_MS ms): ${FR_SOAK_S} s at 20 % heartbeat loss per link, both cores busy"
            soak_one "$s" "$st" "$FR_SOAK_S" 1
            row=$(awk -F, -v s="$s" -v st="$st" '$1 == s && $2 == st' "$RAW/frontier-soak.csv" | tail -1)
            [[ -n $row ]] || { log "$s $st: no soak result; the walk stops"; break; }
            # false failovers: ownership changes in the journals or seen by the client
            changes=$(awk -F, '{ print $6 + $7 }' <<<"$row")
            if ((changes > 0)); then log "$s $st: false failovers; the walk stops"; break; fi
            frontier=$st
        done
        echo "$s,$frontier" >>"$RAW/frontier.csv"
        [[ -n $frontier ]] && need+=("$s/$frontier")
    done
    # equal detection: keepalived advert_int 0.05 (master down 180 ms) beside hbd at deadtime 200 ms
    if ((!QUICK)); then
        [[ " $* " == *" hbd "* ]] && need+=(hbd/d200)
        [[ " $* " == *" keepalived "* ]] && need+=(keepalived/a0.05)
    fi
    for row in "${need[@]}"; do
        [[ " $seen " == *" $row "* ]] && continue
        seen+=" $row"
        BENCH_SYSTEM=${row%%/*}
        frontier_more_runs "${row%%/*}" "${row#*/}" "$FR_RUNS"
    done
    # VIP-only (hbd): a soak, then the power cuts on the same cluster, each
    # with its timeline (n2's packets and journal)
    if [[ " $* " == *" hbd "* ]]; then
        log "=== VIP-only: $(setting_label hbd vip): ${VIP_SOAK_S} s soak, then $VIP_RUNS power cuts"
        soak_one hbd vip "$VIP_SOAK_S" "$VIP_RUNS" all
    fi
}

if [[ $PHASE == soak ]]; then
    BENCH_WORK=$(mktemp -d /tmp/hbd-bench-soak.XXXX) BENCH_RUNS=$OUT/.runs
    soak_child; rc=$?
    rm -rf "$BENCH_WORK"
    exit $rc
fi

# ------------------------------------------------------------------ main
((EUID == 0)) || { echo "bench/run.sh needs root (it boots systemd machines)" >&2; exit 1; }
bench_deps || { echo "installing heartbeat/keepalived/stress-ng/matplotlib failed" >&2; exit 1; }
lab_deps >/dev/null || exit 1
# the release binaries must be current (bench/run.sh does not rebuild them)
[[ -x $HBD_BIN/hbd ]] || { echo "no $HBD_BIN/hbd: run cargo build --release --bins --examples" >&2; exit 1; }
# none of the peers may run on the host itself
stamp=$(date -u +%Y-%m-%dT%H%M)
if ((QUICK)); then RES=$here/results/quick; else RES=$here/results; fi
RAW=$RES/raw/$stamp
mkdir -p "$RAW"
BENCH_WORK=$(mktemp -d /tmp/hbd-bench.XXXX)
# (lab_up installs its own EXIT trap: BENCH_WORK is removed at the end below)
CSV=$RAW/failover.csv WEBCSV=$RAW/web.csv RAW_DIR=$RAW BENCH_RUNS=$RAW/.runs
echo "system,setting,fault,run,ms,outcome,detail" >"$CSV"
echo "system,setting,run,ms" >"$WEBCSV"
echo "system,node,window_ms,cpu_ms,rss_kib,nprocs,hb_packets,hb_bytes" >"$RAW/costs.csv"
echo "system,duration_ms,owner_changes_journal,owner_changes_client,max_gap_ms,dead_events" >"$RAW/soak.csv"
echo "system,setting,label,nominal_ms,duration_ms,owner_changes_journal,owner_changes_client,max_gap_ms,dead_events,n2_takeovers" >"$RAW/frontier-soak.csv"
echo "system,setting,fault,run,ms,outcome,detail" >"$RAW/frontier-failover.csv"
echo "system,frontier" >"$RAW/frontier.csv"
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "command=bash bench/run.sh $( ((QUICK)) && echo --quick) $( ((CHECKS_ONLY)) && echo --checks) $( ((FRONTIER_ONLY)) && echo --frontier) $( [[ $ONLY != hbd,heartbeat,keepalived ]] && echo "--only $ONLY") $( [[ -n $SOAK_SECONDS ]] && echo "--soak-seconds $SOAK_SECONDS") $( [[ -n $RUNS_ARG ]] && echo "--runs $RUNS_ARG") $( [[ -n $LADDER ]] && echo "--ladder '$LADDER'")"
    echo "runs=$RUNS"; echo "cost_s=$COST_S"; echo "soak_s=$SOAK_S"
    echo "frontier_soak_s=$FR_SOAK_S"; echo "frontier_runs=$FR_RUNS"; echo "vip_runs=$VIP_RUNS"; echo "vip_soak_s=$VIP_SOAK_S"
    echo "machine=$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME"), systemd $(systemctl --version 2>/dev/null | awk 'NR==1 {print $2}')"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "hbd=$(git -C "$repo" describe --always --dirty 2>/dev/null)"
    # the binaries may be a copy from another tree (HBD_BIN)
    echo "hbd_bin=$HBD_BIN/hbd, $("$HBD_BIN/hbd" --version 2>/dev/null), file time $(date -u -r "$HBD_BIN/hbd" '+%Y-%m-%d %H:%M UTC' 2>/dev/null)"
    echo "heartbeat=$(dpkg-query -W -f='${Version}' heartbeat)"
    echo "keepalived=$(dpkg-query -W -f='${Version}' keepalived)"
} >"$RAW/meta.txt"
t_start=$SECONDS
IFS=, read -ra systems <<<"$ONLY"
((CHECKS_ONLY)) && { SETTINGS=""; SOAK=0; FRONTIER=0; }
((FRONTIER_ONLY)) && { SETTINGS=""; SOAK=0; CHECKS=0; FRONTIER=1; }
# quick (CI): one frontier point per system
((QUICK)) && [[ -z $LADDER ]] && LADDER="hbd=d200 keepalived=a0.1 heartbeat=d1000"
for st in $SETTINGS; do
    for s in "${systems[@]}"; do
        bench_cell_cluster "$s" "$st"
        cp "$BENCH_WORK"/journal-* "$RAW/" 2>/dev/null
    done
done
[[ -r $BENCH_WORK/switch-how.csv ]] && sort -u "$BENCH_WORK/switch-how.csv" >"$RAW/switch-how.csv"

if ((SOAK)); then
    log "=== costs (${COST_S} s idle) and soak (${SOAK_S} s, 20 % heartbeat loss, both cores busy), fast setting, side by side"
    pids=()
    for s in "${systems[@]}"; do
        bash "$0" --phase soak --system "$s" --out "$RAW" --soak-seconds "$SOAK_S" $( ((QUICK)) && echo --quick) &
        pids+=($!)
    done
    _all_ready() { local s; for s in "${systems[@]}"; do [[ -e $RAW/$s.ready || -e $RAW/$s.failed ]] || return 1; done; }
    lab_wait_for $(( COST_S + 180 )) _all_ready || log "not all soak clusters got ready"
    stress-ng --cpu "$(nproc)" --timeout "$(( SOAK_S + 5 ))s" --quiet &
    spid=$!
    touch "$RAW/go"
    wait "${pids[@]}"
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    rm -f "$RAW"/*.ready "$RAW"/*.soaked "$RAW/go"
fi
if ((CHECKS || CHECKS_ONLY)); then
    # quick (CI): the like-for-like pair only, one run each
    if ((QUICK)); then CHK_ONLY_CELLS="hbd-200ms-mt1 keepalived-1s"; fi
    bench_checks "$ONLY"
fi
if ((FRONTIER)); then
    echo "frontier_load_before=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/meta.txt"
    t_fr=$SECONDS
    bench_frontier "${systems[@]}"
    echo "frontier_elapsed_s=$((SECONDS - t_fr))" >>"$RAW/meta.txt"
    echo "frontier_load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/meta.txt"
fi
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/meta.txt"
echo "elapsed_s=$((SECONDS - t_start))" >>"$RAW/meta.txt"

args=(report "$RAW" --out "$RES" --stamp "$stamp")
((QUICK)) || args+=(--docs "$repo/docs/benchmarks.md")
"$PY" "$here/report.py" "${args[@]}"; rc=$?
# only this benchmark's lab runs: other sessions may have their own
for r in $(cat "$BENCH_RUNS" 2>/dev/null); do
    lab_check_clean "$r" || { log "lab run $r left something behind"; rc=1; }
done
rm -f "$BENCH_RUNS"
rm -rf "$BENCH_WORK"
log "done in $((SECONDS - t_start)) s; results in $RES"
exit $rc
