#!/usr/bin/env bash
# The simulator's twin on real machines: a 3-node cluster with two groups
# (web = VIP + web.service, preferred n1; app = app.service, preferred n2),
# a client probing the VIP, and a seeded random schedule of faults: power
# cut and reboot, one heartbeat link cut and restored, `kill -9 hbd`,
# `systemctl stop`/`kill`/`restart` of group units, a unit that exits 143 on
# SIGTERM, a group unit started by hand where the group does not run,
# `hactl standby/unstandby/move/cleanup`.
#
# Checked, from systemd on every node (not from hactl):
#   safety    a group's units are never active on two nodes at once (every
#             fault keeps the nodes able to hear each other: one link of two
#             is cut at most), but for a unit an operator started by hand
#             (`systemctl start`, or `restart` where the group does not run):
#             hbd must have stopped that one within 10 s;
#   truth     once a fault has quiesced, every node's `hactl status --json`
#             names as owner the node where systemd runs the group's units,
#             and shows a unit active ("active (running)" here, "… on n2"
#             elsewhere) only where systemd runs it;
#   liveness  after the faults stop (everything healed, standby ended,
#             failures cleaned up), every group runs on exactly one node
#             within 30 s.
#
#   bash tests/lab/nemesis.sh         3 minutes (HBD_LONG=1: 30 minutes)
#   HBD_NEMESIS_SEED=n                replay that schedule
#   HBD_NEMESIS_SECS=n                run for n seconds
# A failing run keeps every node's journal in $HBD_NEMESIS_KEEP
# (/var/tmp/hbd-nemesis-SEED) as it was at the first failure, and again
# at the end (end/), and prints the seed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lab.sh"
source "$here/hbd.sh"

seed=${HBD_NEMESIS_SEED:-$(( $(date +%s) % 100000 ))}
secs=${HBD_NEMESIS_SECS:-$([[ ${HBD_LONG:-0} == 1 ]] && echo 1800 || echo 180)}
keep=${HBD_NEMESIS_KEEP:-/var/tmp/hbd-nemesis-$seed}
RANDOM=$seed
echo "nemesis: seed $seed, $secs s (replay: HBD_NEMESIS_SEED=$seed bash tests/lab/nemesis.sh)"

passed=0 failed=0 faults=0 checks=0
declare -A kinds=()
fail() {
    echo "  FAIL  $*"
    failed=$((failed + 1))
    # the machines' journals are volatile: keep them now, before a later
    # power cut wipes what led here
    ((failed == 1)) && keep_journals
}
pick() { echo $((RANDOM % $1)); }

NODES=(n1 n2 n3)
GROUPS_=(web app)
unit_of() { [[ $1 == web ]] && echo web.service || echo app.service; }

hbd_before_start() {
    cat >"$LAB_DIR/app.service" <<'EOF'
[Service]
ExecStart=/bin/sh -c 'trap "exit 143" TERM; while :; do sleep 0.1; done'
EOF
    lab_install_unit "$LAB_DIR/app.service"
}
up() { [[ $(<"$(lab_node_dir "$1")/power") == up ]]; }
# runners GROUP: the nodes where systemd runs the group's unit
runners() {
    local n u; u=$(unit_of "$1")
    for n in "${NODES[@]}"; do
        up "$n" && lab_exec "$n" systemctl is-active -q "$u" 2>/dev/null && printf '%s ' "$n"
    done
}
check_safety() {
    local g r
    for g in "${GROUPS_[@]}"; do
        r=($(runners "$g"))
        checks=$((checks + 1))
        ((${#r[@]} <= 1)) || fail "group $g runs on ${r[*]} at once (t=${SECONDS}s)"
    done
}
# Every node's hactl says who runs each group, and systemd agrees.
check_truth() {
    local g n r owner ok=1 try
    for try in 1 2 3 4 5 6 7 8 9 10; do
        ok=1
        for g in "${GROUPS_[@]}"; do
            r=$(runners "$g"); r=${r% }
            for n in "${NODES[@]}"; do
                up "$n" || continue
                # "OWNER WHERE-THE-UNIT-IS-SHOWN-ACTIVE"
                read -r owner shown < <(lab_hactl "$n" status --json 2>/dev/null | python3 -c '
import json, sys
me, name, unit = sys.argv[1:]
g = [g for g in json.load(sys.stdin)["groups"] if g["name"] == name][0]
s = [r["state"] for r in g["resources"] if r["name"] == unit][0]
up = s.startswith(("active", "started"))
print(g["owner"] if g["state"] in ("started", "starting") else "-", (s.split(" on ")[-1] if " on " in s else me) if up else "-")
' "$n" "$g" "$(unit_of "$g")" 2>/dev/null)
                [[ ${owner:--} == "-" ]] && owner=
                [[ $owner == "$r" ]] || { ok=0; last="$n says $g on '${owner}', systemd runs it on '${r}'"; }
                [[ ${shown:--} == "-" || " $r " == *" $shown "* ]] ||
                    { ok=0; last="$n shows $(unit_of "$g") active on $shown, systemd runs it on '${r}'"; }
            done
        done
        ((ok)) && break
        sleep 0.2
    done
    checks=$((checks + 1))
    ((ok)) || fail "truth: $last"
}
# After a unit of GROUP was started by hand: hbd stops it wherever the
# group does not run, so within 10 s it runs on one node at most again.
strays_stopped() { # GROUP
    checks=$((checks + 1))
    lab_wait_for 10 eval '(( $(runners "$1" | wc -w) <= 1 ))' ||
        fail "group $1 runs on $(runners "$1")10 s after a start by hand (t=${SECONDS}s)"
}
# watch SECONDS: sample the safety check for that long
watch() {
    local end=$((SECONDS + $1))
    while ((SECONDS < end)); do
        check_safety
        sleep 0.5
    done
}

cut_links=()
down_nodes=()
fault() {
    local n=${NODES[$(pick 3)]} g=${GROUPS_[$(pick 2)]} k
    k=$(pick 12)
    case $k in
    0)  # power cut, reboot a little later (one node down at most)
        ((${#down_nodes[@]})) && return
        say "power cut $n"; lab_power_cut "$n"; down_nodes+=("$n") ;;
    1)  ((${#down_nodes[@]})) || return
        say "boot ${down_nodes[0]}"; lab_boot "${down_nodes[0]}" >/dev/null 2>&1
        lab_exec "${down_nodes[0]}" systemctl start hbd; down_nodes=() ;;
    2)  if ((${#cut_links[@]})); then
            say "restore link of ${cut_links[0]}"; lab_link_restore "${cut_links[0]}" eth1; cut_links=()
        else
            say "cut heartbeat link eth1 of $n"; lab_link_cut "$n" eth1; cut_links=("$n")
        fi ;;
    3)  up "$n" || return; say "kill -9 hbd on $n"; lab_exec "$n" systemctl kill -s KILL hbd.service ;;
    4)  up "$n" || return; say "systemctl stop $(unit_of "$g") on $n"; lab_exec "$n" systemctl stop "$(unit_of "$g")" ;;
    5)  up "$n" || return; say "kill -9 $(unit_of "$g") on $n"; lab_exec "$n" systemctl kill -s KILL "$(unit_of "$g")" 2>/dev/null ;;
    6)  up "$n" || return; say "hactl standby $n"; lab_hactl "$n" standby >/dev/null 2>&1 ;;
    7)  up "$n" || return; say "hactl unstandby (all)"; local m; for m in "${NODES[@]}"; do lab_hactl "$n" unstandby "$m" >/dev/null 2>&1; done ;;
    8)  up "$n" || return; local to=${NODES[$(pick 3)]}; say "hactl move $g $to"; lab_hactl "$n" move "$g" "$to" >/dev/null 2>&1 ;;
    9)  up "$n" || return; say "hactl cleanup $g"; lab_hactl "$n" cleanup "$g" >/dev/null 2>&1 ;;
    10|11)  # an operator's restart (where the group runs: no failure; elsewhere
        # it starts a stray), or a start by hand (a stray, unless it runs there)
        up "$n" || return
        local verb=restart; ((k == 11)) && verb=start
        say "systemctl $verb $(unit_of "$g") on $n"
        # a stray's job is cancelled by hbd's stop: its error is expected
        lab_exec "$n" timeout 30 systemctl "$verb" "$(unit_of "$g")" >/dev/null 2>&1
        strays_stopped "$g" ;;
    esac
    faults=$((faults + 1))
    kinds[$k]=$(( ${kinds[$k]:-0} + 1 ))
}
say() { echo "  [t=${SECONDS}s] $*"; }

keep_journals() {
    mkdir -p "$keep"
    local n
    for n in "${NODES[@]}"; do
        lab_journal "$n" -o short-monotonic >"$keep/$n.journal" 2>/dev/null
    done
    echo "  journals kept in $keep"
}

HBD_NEMESIS_APP='[[group]]
name = "app"
preferred = "n2"
resources = [{ unit = "app.service" }]'
HBD_EXTRA=$HBD_NEMESIS_APP hbd_cluster_up 3 || { echo "nemesis: 0 passed, 1 failed (cluster did not come up)"; exit 1; }
trap 'lab_down' EXIT
lab_wait_for 20 eval '[[ $(runners web) == "n1 " && $(runners app) == "n2 " ]]' || fail "groups did not start on their preferred nodes"
SECONDS=0
while ((SECONDS < secs)); do
    fault
    watch $((2 + $(pick 4)))
    # quiesce, then compare what hactl says with what runs
    if ((${#down_nodes[@]} == 0)); then
        watch 3
        check_truth
    fi
done
say "faults end: heal, boot, unstandby, cleanup"
((${#cut_links[@]})) && lab_link_restore "${cut_links[0]}" eth1
if ((${#down_nodes[@]})); then lab_boot "${down_nodes[0]}" >/dev/null 2>&1; lab_exec "${down_nodes[0]}" systemctl start hbd; fi
sleep 3
for m in "${NODES[@]}"; do lab_hactl n1 unstandby "$m" >/dev/null 2>&1; done
for g in "${GROUPS_[@]}"; do lab_hactl n1 cleanup "$g" >/dev/null 2>&1; done
if lab_wait_for 30 eval '[[ $(runners web | wc -w) == 1 && $(runners app | wc -w) == 1 ]]'; then
    checks=$((checks + 1))
    check_truth
else
    fail "liveness: 30 s after the faults ended web runs on '$(runners web)', app on '$(runners app)'"
fi
kindlist=""
for k in "${!kinds[@]}"; do kindlist+="$k:${kinds[$k]} "; done
echo "  ($faults faults (kind:count $kindlist), $checks checks)"
((failed)) && { keep="$keep/end"; keep_journals; }
passed=$((checks - failed))
echo "nemesis (seed $seed): $passed passed, $failed failed"
((failed == 0))
