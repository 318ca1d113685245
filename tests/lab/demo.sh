#!/usr/bin/env bash
# The demo: a two-node hbd cluster on this machine (two real systemd
# machines), a web page on a floating IP, a power cut of the owner, and the
# failover as the client sees it. Tears everything down at the end.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
say() { printf '\n\033[1m>> %s\033[0m\n' "$*"; }

say "Installing what the demo needs and building hbd (release)"
bash "$repo/tests/deps.sh" || exit 1
export PATH=$HOME/.cargo/bin:$PATH
(cd "$repo" && cargo build --release --bins -q) || exit 1
export HBD_BIN=$repo/target/release

source "$here/lab.sh"
source "$here/hbd.sh"
# On failure: what a user needs to see why, from the machines themselves
# (their journals go with the teardown), and how to try again.
demo_failed() { # WHY
    echo
    echo "DEMO FAILED: $1"
    local n
    for n in "${LAB_NODES[@]}"; do
        lab_pid1 "$n" >/dev/null 2>&1 || { echo "--- $n: powered off"; continue; }
        echo "--- $n: systemctl status hbd"
        lab_exec "$n" systemctl status hbd --no-pager -n 0 2>&1 | sed 's/^/    /'
        echo "--- $n: journalctl -u hbd (last 25 lines)"
        lab_journal "$n" -b -u hbd -n 25 -o short-precise 2>&1 | sed 's/^/    /'
        echo "--- $n: warnings of dbus and systemd-sysusers (the bus hbd needs)"
        lab_journal "$n" -b -u dbus -u systemd-sysusers -p warning -n 10 -o short-precise 2>&1 | sed 's/^/    /'
        echo "--- $n: failed units"
        lab_exec "$n" systemctl --failed --no-legend --no-pager 2>&1 | sed 's/^/    /'
    done
    echo
    echo "To try again: bash tests/lab/demo.sh   (the lab is torn down; nothing is left behind)"
    lab_down >/dev/null 2>&1
    exit 1
}
t_start=$SECONDS
say "Booting two machines, n1 and n2 (LAN 10.77.0.0/24, heartbeat network 10.78.0.0/24)"
lab_up 2 >/dev/null || demo_failed "the two machines did not boot (see the lab's messages above)"
hbd_install_all 2 >/dev/null
echo "/etc/hbd/hbd.toml on both nodes:"
hbd_config 2 | sed 's/^/    /'
say "systemctl start hbd (on both nodes)"
lab_exec n1 systemctl start hbd & lab_exec n2 systemctl start hbd & wait
hbd_wait_owner n1 20 || demo_failed "the VIP did not come up on n1 within 20 s"
say "hactl status (on n1)"
lab_hactl n1 status
say "The client (10.77.0.100) asks http://$HBD_VIP/ : $(hbd_vip_owner 1)"

say "Power cut of n1 (links down, machine killed) while the client probes every 10 ms"
probe_log=$(mktemp)
probe_pid=$(mktemp)
# The loop writes its own PID: killing the backgrounded wrapper would leave it running.
lab_client bash -c "echo \$\$ >$probe_pid; while :; do r=\$(curl -s --max-time 0.05 http://$HBD_VIP/); echo \"\$(date +%s%3N) \${r:-none}\"; sleep 0.01; done" >"$probe_log" 2>/dev/null </dev/null &
lab_on_down() { [[ -s $probe_pid ]] && kill "$(cat "$probe_pid")" 2>/dev/null; return 0; }
sleep 1
cut=$(date +%s%3N)
lab_power_cut n1 >/dev/null
if ! hbd_wait_owner n2 15; then
    kill "$(cat "$probe_pid")" 2>/dev/null
    rm -f "$probe_log" "$probe_pid"
    demo_failed "n2 did not take over within 15 s of the power cut"
fi
sleep 0.3
kill "$(cat "$probe_pid")" 2>/dev/null
wait 2>/dev/null
first=$(awk -v c="$cut" '$1 > c && $2 == "n2" {print $1; exit}' "$probe_log")
last=$(awk -v c="$cut" '$1 <= c && $2 == "n1" {t=$1} END {print t}' "$probe_log")
rm -f "$probe_log"
echo "last answer from n1 before the cut: ${last:-?}; first answer from n2: ${first:-?}"
[[ -n $first ]] && echo "service was gone for $((first - cut)) ms after the power cut (deadtime 2 s)"
say "hactl status (on n2)"
lab_hactl n2 status
say "journalctl -u hbd HBD_EVENT=failover (on n2)"
lab_journal n2 -u hbd HBD_EVENT=failover --no-pager -o short-precise | tail -3
say "Tearing down"
lab_down
rm -f "$probe_pid"
echo "demo done in $((SECONDS - t_start)) s after the build"
