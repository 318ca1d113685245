#!/usr/bin/env bash
# A big valid configuration on real machines: two nodes, 1,000 groups of
# one VIP each, preferred alternately on n1 and n2 (one VIP per tenant, as
# keepalived users run them); then 1,000 groups of one unit each. The
# heartbeats must never stop because the state grew: no node is ever
# declared dead while both run, no VIP is ever on both, `hactl takeover`
# (an intent per group) changes nothing to that, and a power cut hands
# every group over. Every unit is followed on the node that runs it: one
# stopped behind hbd's back is restarted, wherever it is in the list.
# (The time the takeover of 999 groups took is printed, not asserted.)
#   tests/lab/scale.sh
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lab.sh"
source "$here/hbd.sh"
source "$here/scenario_lib.sh"
SCENARIOS_LABEL="lab scale"
GROUPS_N=1000

# many_groups PREFIX RESOURCE: GROUPS_N groups PREFIX-0000…, preferred
# alternately on n1 and n2, each with the one RESOURCE (TOML; {i} is the
# group's number, {a}.{b} the last two bytes of its address 10.79.a.b).
many_groups() {
    python3 - "$GROUPS_N" "$1" "$2" <<'EOF'
import sys
n, prefix, res = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for i in range(n):
    pref = "n1" if i % 2 == 0 else "n2"
    r = res.format(i=f"{i:04d}", a=i // 250, b=i % 250 + 1)
    print(f'[[group]]\nname = "{prefix}-{i:04d}"\npreferred = "{pref}"\nresources = [{r}]\n')
EOF
}
many_vips() { many_groups tenant '{{ vip = "10.79.{a}.{b}/32", interface = "eth0" }}'; }
vips_on() { lab_nsexec "$1" ip -4 -o addr show dev eth0 2>/dev/null | grep -c " 10\.79\." || true; }
# No VIP of the tenants on both nodes at once.
no_vip_twice() {
    local both
    both=$(cat <(lab_nsexec n1 ip -4 -o addr show dev eth0) <(lab_nsexec n2 ip -4 -o addr show dev eth0) |
        grep -o ' 10\.79\.[0-9.]*' | sort | uniq -d | head -3)
    [[ -z $both ]] || { echo "  (on both: $both)"; return 1; }
}
split_is() { [[ $(vips_on n1) == "$1" && $(vips_on n2) == "$2" ]]; }
# For SECONDS: never a VIP twice, and neither node declares the other dead.
steady_for() {
    local end=$((SECONDS + $1))
    while ((SECONDS < end)); do
        no_vip_twice || return 1
        sleep 0.5
    done
    [[ -z $(hbd_events n1 peer-dead) && -z $(hbd_events n2 peer-dead) ]] || { echo "  (a node was declared dead)"; return 1; }
}

sc_thousand_vips() {
    HBD_EXTRA=$(many_vips) hbd_cluster_up 2 || return 1
    check "hactl config check accepts $GROUPS_N groups" eval '[[ $(lab_hactl n1 config check 2>&1) == *"1001 groups"* ]]'
    check "every group starts once, each on its preferred node" lab_wait_for 60 split_is $((GROUPS_N / 2)) $((GROUPS_N / 2))
    check "10 s steady: no VIP on both, no node declared dead, no send failure" \
        eval 'steady_for 10 && [[ -z $(hbd_events n1 send-failed) && -z $(hbd_events n2 send-failed) ]]'
    check "hactl status answers with all groups (within 5 s)" eval '[[ $(lab_exec n1 timeout 5 /opt/hbd/bin/hactl status | grep -c "^group tenant-") == $GROUPS_N ]]'
    check "hactl takeover on n2 (an intent per group): n2 runs everything" \
        eval 'lab_hactl n2 takeover >/dev/null && lab_wait_for 60 split_is 0 $GROUPS_N'
    check "... and the heartbeats carried it: 10 s steady" steady_for 10
    check "hactl move tenant-0000 --clear: that group alone fails back to n1" \
        eval 'lab_hactl n1 move tenant-0000 --clear >/dev/null && lab_wait_for 20 split_is 1 $((GROUPS_N - 1))'
    moved_watch n1
    local t0; t0=$(date +%s%3N)
    lab_power_cut n2
    check "power cut of n2 (running $((GROUPS_N - 1))): n1 holds all $GROUPS_N VIPs within 30 s" lab_wait_for 30 eval "[[ \$(vips_on n1) == $GROUPS_N ]]"
    echo "  (all on n1 $(ms_since "$t0") ms after the cut, deadtime 2 s)"
    moved_checks n1 $((GROUPS_N - 1))
}

# A client of org.hbd1 on NODE, as a monitoring tool would be: it counts
# GroupMoved signals. A power cut hands every group over in one step, and
# the API's queue of signals once held 64: a client missed moves.
moved_watch() {
    lab_exec "$1" sh -c "dbus-monitor --system \"type='signal',interface='org.hbd1.Manager',member='GroupMoved'\" >/run/moved.log 2>&1 &"
    sleep 1
}
moved_seen() { lab_exec "$1" grep -c 'member=GroupMoved' /run/moved.log; }
moved_checks() { # NODE MOVES
    check "a D-Bus client on $1 got a GroupMoved signal for each of the $2 groups moved (none dropped)" \
        lab_wait_for 10 eval "(( \$(moved_seen $1) >= $2 ))"
    echo "  ($(moved_seen "$1") GroupMoved signals seen on $1)"
    check "... and the API never said it fell behind" eval "! journal_has $1 'fell behind'"
}

many_units() { many_groups svc '{{ unit = "tenant@{i}.service" }}'; }
units_on() { lab_exec "$1" systemctl list-units --no-legend --plain --state=active 'tenant@*' 2>/dev/null | grep -c '^tenant@' || true; }
units_split_is() { [[ $(units_on n1) == "$1" && $(units_on n2) == "$2" ]]; }
# "started" groups in NODE's hactl status against active units in systemd.
status_counts_units() {
    local started
    started=$(lab_exec "$1" timeout 10 /opt/hbd/bin/hactl status --json |
        python3 -c 'import json,sys; print(sum(1 for g in json.load(sys.stdin)["groups"] if g["name"].startswith("svc-") and g["owner"]==sys.argv[1] and g["state"]=="started"))' "$1")
    [[ $started == "$2" && $(units_on "$1") == "$2" ]] || { echo "  ($1: hactl says $started started, systemd has $(units_on "$1") active)"; return 1; }
}
no_match_refused() {
    local n
    for n in "$@"; do
        ! lab_journal "$n" -o cat | grep -q "not allowed to add more match rules" || { echo "  ($n: dbus-daemon refused a match rule)"; return 1; }
    done
}
# A node's system bus lets one connection add 512 match rules: following
# each unit with a rule of its own stopped following units past that, and
# a unit stopped there behind hbd's back went unnoticed. And systemd
# follows the client of each job with a rule of its own: a thousand jobs
# asked for at once broke systemd's connection to the bus.
sc_thousand_units() {
    hbd_before_start() {
        unit tenant@.service <<'EOF2'
[Unit]
Description=lab tenant %i
[Service]
ExecStart=/bin/sleep infinity
EOF2
    }
    HBD_EXTRA=$(many_units) hbd_cluster_up 2 || return 1
    check "every unit starts once, each on its preferred node" lab_wait_for 90 units_split_is $((GROUPS_N / 2)) $((GROUPS_N / 2))
    check "hactl takeover on n2: n2 runs all $GROUPS_N units, n1 none" \
        eval 'lab_hactl n2 takeover >/dev/null && lab_wait_for 90 units_split_is 0 $GROUPS_N'
    check "hactl status on n2 says what systemd runs" lab_wait_for 10 status_counts_units n2 $GROUPS_N
    local u
    for u in 0000 0998 0999; do
        lab_exec n2 systemctl stop "tenant@$u.service"
        check "tenant@$u stopped behind hbd's back on n2: hbd restarts it within 10 s" \
            lab_wait_for 10 eval "lab_exec n2 systemctl is-active -q tenant@$u.service"
        check "... and the journal says why" \
            lab_wait_for 5 journal_has n2 "tenant@$u.service of group svc-$u: it was stopped outside hbd"
    done
    check "no node was declared dead meanwhile" eval '[[ -z $(hbd_events n1 peer-dead) && -z $(hbd_events n2 peer-dead) ]]'
    check "the takeover's stops and starts were never taken for strays" eval '[[ -z $(hbd_events n1 unit-stray) && -z $(hbd_events n2 unit-stray) ]]'
    check "the system bus never refused a match rule (hbd's, or systemd's for hbd's jobs)" no_match_refused n1 n2
    moved_watch n1
    local t0; t0=$(date +%s%3N)
    lab_power_cut n2
    check "power cut of n2 (running $GROUPS_N units): n1 runs all $GROUPS_N within 60 s" lab_wait_for 60 eval "[[ \$(units_on n1) == $GROUPS_N ]]"
    moved_checks n1 $GROUPS_N
    echo "  (all on n1 $(ms_since "$t0") ms after the cut, deadtime 2 s)"
    check "hactl status on n1 says what systemd runs" lab_wait_for 10 status_counts_units n1 $GROUPS_N
    check "no unit failed to be followed" eval '! journal_has n1 "cannot follow" && ! journal_has n2 "cannot follow"'
    check "hbd's own starts and stops of 1,000 units were never taken for strays" eval '[[ -z $(hbd_events n1 unit-stray) ]]'
    check "... nor a match rule on n1 after the power cut" no_match_refused n1
}

ALL=(thousand_vips thousand_units)
run_scenarios "$@"
