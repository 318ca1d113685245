#!/usr/bin/env bash
# Heartbeat's classic two-node set-ups (and a three-node one) on real
# systemd machines, each scenario in a freshly booted cluster.
#   tests/lab/scenarios.sh            all scenarios
#   tests/lab/scenarios.sh NAME...    some (see the list at the end)
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lab.sh"
source "$here/hbd.sh"

source "$here/scenario_lib.sh"

# ------------------------------------------------------------------ scenarios

sc_start_both() {
    hbd_cluster_up 2 || return 1
    check "the preferred node n1 answers on the VIP" hbd_wait_owner n1 15
    check "hactl status on n1 says web runs on n1" eval '[[ $(json_owner n1) == n1 ]]'
    check "hactl status on n2 agrees" eval '[[ $(json_owner n2) == n1 ]]'
    check "systemctl status shows the STATUS line" eval 'lab_exec n1 systemctl status hbd --no-pager | grep -q "Status: \"active: web on n1"'
    check "only one node holds the VIP" eval '[[ $(count_owners) == 1 ]]'
}

sc_power_cut() {
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15
    local t0
    t0=$(date +%s%3N)
    lab_power_cut n1
    # The client's ARP cache is left alone: only a gratuitous ARP moves it.
    check "n2 answers on the VIP within deadtime + 1 s" hbd_wait_owner n2 3
    echo "  (failover took $(ms_since "$t0") ms; deadtime 2 s)"
    check "journalctl HBD_EVENT=failover on n2 finds the failover" event_has n2 failover
    check "n2 logged n1 dead" journal_has n2 "node n1 is dead"
}

sc_failback() {
    hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    lab_power_cut n1
    check "n2 takes over" hbd_wait_owner n2 6
    lab_boot n1
    lab_exec n1 systemctl start hbd
    check "auto_failback: n1 takes the group back" hbd_wait_owner n1 15
    check "n1's generation went up (journal)" journal_has n1 "generation 2"
    check "never both: one node holds the VIP" eval '[[ $(count_owners) == 1 ]]'
}

sc_no_failback() {
    HBD_AUTO_FAILBACK=false hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    lab_power_cut n1
    check "n2 takes over" hbd_wait_owner n2 6
    lab_boot n1
    lab_exec n1 systemctl start hbd
    sleep 4
    check "auto_failback off: the group stays on n2" no_owner_change_for 4 n2
}

sc_hactl() {
    hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    check "hactl standby --wait (on n1) moves web to n2" eval 'lab_hactl n1 standby --wait >/dev/null && hbd_wait_owner n2 3'
    check "hactl status shows n1 in standby" eval 'lab_hactl n2 status | grep -q "n1.*standby"'
    check "hactl unstandby n1: auto_failback brings it home" eval 'lab_hactl n2 unstandby n1 && hbd_wait_owner n1 10'
    check "hactl move web n2 --wait" eval 'lab_hactl n1 move web n2 --wait >/dev/null && hbd_wait_owner n2 3'
    check "hactl takeover n1" eval 'lab_hactl n2 takeover n1 && hbd_wait_owner n1 10'
    check "hactl move to an unknown node fails with exit 1" eval '! lab_hactl n1 move web n9 2>/dev/null'
    check "an unprivileged user may read the status" eval 'lab_exec n1 setpriv --reuid=labuser --regid=users --clear-groups /opt/hbd/bin/hactl status >/dev/null'
    check "... but not change it (permission denied, exit 4)" eval 'lab_exec n1 setpriv --reuid=labuser --regid=users --clear-groups /opt/hbd/bin/hactl standby 2>&1 | grep -q haclient; [[ ${PIPESTATUS[0]} == 4 ]]'
    check "a member of haclient may" eval 'lab_exec n1 setpriv --reuid=labop --regid=users --init-groups /opt/hbd/bin/hactl move web n2 && hbd_wait_owner n2 10'
}

sc_one_link() {
    hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    lab_link_cut n1 eth1
    check "one of two links cut: no failover for 5 s" no_owner_change_for 5 n1
    check "n2 logs link n1:hb down" journal_has n2 "link n1:hb down"
    lab_link_restore n1 eth1
    check "restored: n2 logs link n1:hb up again" lab_wait_for 5 eval '[[ $(lab_journal n2 -u hbd -o cat --no-pager | grep -c "link n1:hb up") -ge 2 ]]'
}

sc_both_links() {
    hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    lab_block_hb n2 both
    check "both heartbeat paths blocked: n2 takes over (split brain)" lab_wait_for 6 eval '[[ $(count_owners) == 2 ]]'
    lab_unblock_hb n2
    check "after heal exactly one node holds the VIP" lab_wait_for 8 eval '[[ $(count_owners) == 1 ]]'
    local who n
    for n in "${LAB_NODES[@]}"; do
        lab_nsexec "$n" ip -4 addr show dev eth0 | grep -q "inet $HBD_VIP/" && who=$n
    done
    # The loser's announcements stopped with its release; the winner's
    # (its repeat burst at the latest) bring the client's ARP cache over.
    check "the client reaches the surviving owner (${who:-none})" hbd_wait_owner "${who:-none}" 7
}

sc_ipfail() {
    HBD_PING=1 hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    # The owner loses its ping host; n2 still reaches it.
    lab_nsexec n1 iptables -A OUTPUT -p icmp -d 10.77.0.1 -j DROP
    check "the group moves to the node that reaches the ping host" hbd_wait_owner n2 10
    check "the move is logged with reason ping" journal_has n2 "(ping)"
}

sc_unit_crash() {
    hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    local i
    for i in 1 2; do
        lab_exec n1 systemctl kill -s KILL web.service
        sleep 1.5
    done
    check "two crashes (below migration_threshold 3): still on n1" owner_is n1
    check "the failures are logged" eval '[[ $(hbd_events n1 unit-failure | wc -l) -ge 2 ]]'
    lab_exec n1 systemctl kill -s KILL web.service
    check "third crash: the group moves to n2" hbd_wait_owner n2 10
    check "hactl cleanup web clears the fail count" eval 'lab_hactl n2 cleanup web && status_json n1 | grep -q "\"failcount\": *0"'
}

sc_serial() {
    HBD_LINKS=serial hbd_cluster_up 2 --null-modem || return 1
    check "serial-only cluster: n1 serves" hbd_wait_owner n1 15
    check "n2 hears n1 over the null modem" journal_has n2 "link n1:null-modem up"
    lab_power_cut n1
    check "serial-only: n2 takes over" hbd_wait_owner n2 6
}

sc_wrong_key() {
    lab_up 2 || return 1
    hbd_install_all 2
    lab_exec n1 systemctl start hbd
    hbd_wait_owner n1 15 || return 1
    printf '1 %s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$(lab_node_dir n2)/etc-hbd/authkey"
    lab_exec n2 systemctl start hbd
    check "n2's frames are rejected and logged by n1" lab_wait_for 5 journal_has n1 "auth key files of the nodes differ"
    check "no takeover war: n1 keeps the group for 10 s" no_owner_change_for 10 n1
    check "only one node holds the VIP" eval '[[ $(count_owners) == 1 ]]'
    chmod 644 "$(lab_node_dir n2)/etc-hbd/authkey"
    lab_exec n2 systemctl restart hbd
    sleep 1
    check "key file mode 0644: hbd refuses to start" eval '! lab_exec n2 systemctl is-active -q hbd'
    check "systemctl status says why" eval '{ lab_exec n2 systemctl status hbd --no-pager -l 2>&1 || true; } | grep -q "mode 0644"'
}

sc_kill9() {
    hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    sleep 1
    local pid
    pid=$(web_pid n1)
    lab_exec n1 systemctl kill -s KILL hbd.service
    sleep 4
    check "systemd restarted hbd" lab_exec n1 systemctl is-active -q hbd
    check "the web unit's main PID is unchanged ($pid)" eval '[[ $(web_pid n1) == "$pid" ]]'
    check "the group never left n1" owner_is n1
    check "n2 did not take over" eval '! journal_has n2 "taking over group web"'
    check "hbd adopted the running group" journal_has n1 "is already active ("
}

sc_graceful() {
    hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    local t0
    t0=$(date +%s%3N)
    lab_exec n1 systemctl stop hbd &
    check "systemctl stop hbd on the owner: n2 serves within 1 s (deadtime 2 s)" hbd_wait_owner n2 1
    echo "  (switchover took $(ms_since "$t0") ms)"
    wait
    check "n2 logged that n1 left" journal_has n2 "node n1 left the cluster"
}

sc_reboot() {
    # An orderly shutdown of the owner (`systemctl reboot`): systemd stops
    # hbd and the group's units at the same time. The peer must take over
    # as on a graceful leave, not wait for deadtime nor find the group
    # blocked by a stop that systemd's shutdown made.
    hbd_cluster_up 2 || return 1
    hbd_wait_owner n1 15 || return 1
    # The worst order: web.service ordered after hbd, so that the shutdown
    # stops web.service before it stops hbd (any order may come when they
    # are not ordered; this one every time). hbd must not take it for a
    # failure nor try to start it again.
    lab_exec n1 mkdir -p /run/systemd/system/web.service.d
    printf '[Unit]\nAfter=hbd.service\n' | lab_exec n1 tee /run/systemd/system/web.service.d/order.conf >/dev/null
    lab_exec n1 systemctl daemon-reload
    # n1's journal does not outlive the reboot (its /run and /var are a
    # tmpfs): follow it from the host while it lasts
    local t0 log="$LAB_DIR/n1-shutdown.log" follow
    timeout 60 journalctl --root="/proc/$(lab_pid1 n1)/root" -f -n 0 -u hbd -u web.service -o short-precise --no-pager >"$log" 2>&1 &
    follow=$!
    sleep 0.5
    t0=$(date +%s%3N)
    lab_exec n1 systemctl reboot --no-block
    check "systemctl reboot on the owner: n2 serves within 1 s (deadtime 2 s)" hbd_wait_owner n2 1
    echo "  (switchover took $(ms_since "$t0") ms)"
    check "n2 logged that n1 left" lab_wait_for 3 journal_has n2 "node n1 left the cluster"
    check "... not that it died" eval '! journal_has n2 "node n1 is dead"'
    check "n2's hactl status: web started on n2" eval '[[ $(json_owner n2) == n2 ]] && status_json n2 | grep -q "\"state\": *\"started\""'
    check "n1's machine ended" lab_wait_for 30 eval '! lab_pid1 n1 >/dev/null 2>&1'
    kill "$follow" 2>/dev/null; wait "$follow" 2>/dev/null
    check "n1's journal: hbd handed web over as it stopped" grep -q "releasing group web (leave)" "$log"
    check "... stopped it cleanly, with no unit failure nor restart" \
        eval 'grep -q "group web stopped" "$log" && ! grep -Ei "fail|outside hbd|restart" "$log"'
    lab_power_cut n1 >/dev/null 2>&1
    lab_boot n1
    lab_exec n1 systemctl start hbd
    check "n1 back: it takes its group (auto_failback)" hbd_wait_owner n1 15
    check "never both: one node holds the VIP" eval '[[ $(count_owners) == 1 ]]'
}

sc_three_nodes() {
    hbd_cluster_up 3 || return 1
    check "3 nodes: n1 serves" hbd_wait_owner n1 15
    lab_power_cut n1
    check "owner dies: the VIP answers again" lab_wait_for 6 eval '[[ -n $(hbd_vip_owner 0.3) ]]'
    check "exactly one of n2, n3 holds it" eval '[[ $(count_owners) == 1 ]]'
    lab_boot n1
    lab_exec n1 systemctl start hbd
    check "n1 back: it takes its group (auto_failback)" hbd_wait_owner n1 15
    lab_block_hb n1 both
    check "n1 isolated from the others gives its group up (quorum)" lab_wait_for 6 eval '! lab_nsexec n1 ip -4 addr show dev eth0 | grep -q "inet $HBD_VIP/"'
    check "the majority runs it" lab_wait_for 6 eval '[[ $(count_owners) == 1 && -n $(hbd_vip_owner 0.3) ]]'
    check "n1 logged the lost quorum" event_has n1 quorum-lost
}

sc_daemon_duties() {
    # A respawn unit (runs on every node while hbd runs), and web.service
    # wrongly enabled in systemd on n2.
    lab_up 2 || return 1
    local n
    for n in n1 n2; do
        printf '[Service]\nExecStart=/bin/sleep infinity\n' >"$(lab_node_dir "$n")/system/probe.service"
        lab_exec "$n" systemctl daemon-reload
    done
    lab_exec n2 systemctl enable web.service 2>/dev/null
    # ... and ordered before hbd on n2 (a shutdown would hang)
    mkdir -p "$(lab_node_dir n2)/system/web.service.d"
    printf '[Unit]\nBefore=hbd.service\n' >"$(lab_node_dir n2)/system/web.service.d/order.conf"
    lab_exec n2 systemctl daemon-reload
    HBD_EXTRA=$'[[respawn]]\nunit = "probe.service"' hbd_install_all 2
    lab_exec n1 systemctl start hbd & lab_exec n2 systemctl start hbd & wait
    hbd_wait_owner n1 15 || return 1
    # The heartbeat thread runs at realtime priority with its memory locked
    # (units/hbd.service grants CAP_SYS_NICE and CAP_IPC_LOCK), and says so.
    local pid
    pid=$(lab_exec n1 systemctl show -P MainPID hbd.service)
    check "hbd runs under SCHED_RR at priority 40 (chrt -p $pid)" \
        eval '[[ $(lab_exec n1 chrt -p "$pid") == *SCHED_RR*"priority: 40"* ]]'
    check "its memory is locked (VmLck > 0 in /proc/$pid/status)" \
        eval '[[ $(lab_exec n1 grep VmLck /proc/"$pid"/status) =~ VmLck:[[:space:]]+[1-9] ]]'
    check "the journal says so" eval '[[ $(lab_journal n1 -u hbd --no-pager) == *"realtime priority 40 (SCHED_RR), memory locked"* ]]'
    check "respawn unit runs on n1" lab_wait_for 5 lab_exec n1 systemctl is-active -q probe.service
    check "respawn unit runs on n2" lab_wait_for 5 lab_exec n2 systemctl is-active -q probe.service
    lab_exec n2 systemctl kill -s KILL probe.service
    check "a dead respawn unit is started again" lab_wait_for 5 lab_exec n2 systemctl is-active -q probe.service
    check "n2 warns that web.service is also enabled" event_has n2 unit-enabled
    check "n2 warns that web.service is ordered before hbd, and says what to remove" \
        eval 'hbd_events n2 unit-order | grep -q "web.service of group web is ordered before hbd.service: .*remove the ordering"'
    check "n1 (no such ordering) does not" eval '[[ -z $(hbd_events n1 unit-order) ]]'
    check "hactl config check on n2 warns of the ordering too" \
        eval '[[ $(lab_hactl n2 config check 2>&1) == *"unit web.service of group web is ordered before hbd.service"* ]]'
    check "... and on n1 it does not" eval '[[ $(lab_hactl n1 config check 2>&1) != *"ordered before"* ]]'
    lab_nsexec n1 ip addr del "$HBD_VIP/24" dev eth0
    check "a VIP removed by hand is added back" lab_wait_for 3 eval 'lab_nsexec n1 ip -4 addr show dev eth0 | grep -q "inet $HBD_VIP/"'
    check "... with a warning in the journal" event_has n1 vip-removed
    check "... and the client still reaches n1" hbd_wait_owner n1 3
    local f
    check "the Manager interface lists Standby and GroupMoved (the comparison below is not empty)" \
        eval 'lab_exec n1 busctl introspect --list org.hbd1 /org/hbd1 org.hbd1.Manager | grep -q "^.GroupMoved" && lab_exec n1 busctl introspect --list org.hbd1 /org/hbd1 org.hbd1.Manager | grep -q "^.Standby"'
    for f in Manager Node Group; do
        local path=/org/hbd1
        [[ $f == Node ]] && path=/org/hbd1/node/n1
        [[ $f == Group ]] && path=/org/hbd1/group/web
        check "busctl introspect $path lists the members of dbus-interfaces/org.hbd1.$f.xml" \
            eval "diff <(lab_exec n1 busctl introspect --list org.hbd1 $path org.hbd1.$f | awk 'NR>1 {print \$1}' | sort) \
                       <(grep -oE '<(method|property|signal) name=\"[A-Za-z]+\"' $HBD_REPO/dbus-interfaces/org.hbd1.$f.xml | sed -E 's/.*name=\"([A-Za-z]+)\"/.\1/' | sort)"
    done
    lab_exec n1 systemctl stop hbd
    check "stopping hbd stops its respawn unit" eval '! lab_exec n1 systemctl is-active -q probe.service'
    check "... and the journal says so" eval 'hbd_events n1 respawn | grep -q "stopping respawn unit probe.service as hbd leaves"'
}

ALL=(start_both power_cut failback no_failback hactl one_link both_links ipfail unit_crash serial wrong_key kill9 graceful reboot three_nodes daemon_duties)
run_scenarios "$@"
