#!/bin/bash
# Exercise hbd::shell::{systemd,log,notify} against a real systemd 252:
# boot a throw-away nspawn machine (the host's own OS, volatile, private
# network), put test units into it, drive them with examples/unitctl.
#
# usage: tests/systemd/run.sh [PATH/TO/unitctl]
#   (without an argument: cargo build --example unitctl, then use it)
# Prints one line per check and a final "N passed, M failed"; exit 0 only if
# all passed. Needs root and systemd-nspawn (apt-get install systemd-container).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-}
if [ -z "$bin" ]; then
    (cd "$root" && cargo build -q --example unitctl) || { echo "build failed"; exit 1; }
    bin=$root/target/debug/examples/unitctl
fi
[ -x "$bin" ] || { echo "no unitctl binary at $bin"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (systemd-nspawn)"; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn: apt-get install -y systemd-container"; exit 1; }

name=hbts$$
tmp=$(mktemp -d /tmp/hbd-systemd-test.XXXXXX)
nspawn_pid=
pid1=
passed=0
failed=0

cleanup() {
    # Killing nspawn alone leaks the machine: SIGKILL its PID 1, which ends
    # the whole PID namespace, then reap nspawn.
    if [ -n "$pid1" ] && kill -0 "$pid1" 2>/dev/null; then
        kill -KILL "$pid1" 2>/dev/null
    fi
    if [ -n "$nspawn_pid" ]; then
        for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
ms_since() { echo "$(now) $1" | awk '{printf "%d", ($1-$2)*1000}'; }

ok()   { passed=$((passed+1)); echo "ok   - $*"; }
fail() { failed=$((failed+1)); echo "FAIL - $*"; }

# run inside the machine
in_m() { nsenter -t "$pid1" -a "$@"; }
# unitctl inside the machine: sets $out (stdout+stderr), $rc, $ms
uc() {
    local t0; t0=$(now)
    out=$(in_m /opt/hbdt/unitctl "$@" 2>&1); rc=$?
    ms=$(ms_since "$t0")
}
# check DESCRIPTION COND...: COND is evaluated by the shell
check() {
    local what=$1; shift
    if "$@"; then ok "$what"; else fail "$what (rc=$rc, output: $(echo "$out" | tr '\n' '|'))"; fi
}
has() { grep -qE -- "$1" <<<"$out"; }

echo 'disable *' >"$tmp/00-hbdt.preset"
t_boot=$(now)
systemd-nspawn -D / --volatile=yes --boot --register=no --keep-unit \
    --console=pipe --private-network --machine="$name" \
    --bind-ro=/etc/alternatives \
    --bind-ro=/dev/null:/etc/systemd/system/systemd-firstboot.service \
    --bind-ro="$tmp/00-hbdt.preset:/etc/systemd/system-preset/00-hbdt.preset" \
    --bind-ro="$(dirname "$bin"):/opt/hbdt" \
    </dev/null >"$tmp/console.log" 2>&1 &
nspawn_pid=$!

for _ in $(seq 200); do
    for c in $(pgrep -P "$nspawn_pid" 2>/dev/null); do
        [ "$(cat /proc/"$c"/comm 2>/dev/null)" = systemd ] && pid1=$c
    done
    [ -n "$pid1" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$pid1" ]; then
    echo "machine did not start; console:"; tail -20 "$tmp/console.log"
    echo "0 passed, 1 failed"; exit 1
fi
state=
for _ in $(seq 300); do
    state=$(in_m systemctl is-system-running 2>/dev/null)
    case $state in running|degraded) break ;; esac
    sleep 0.05
done
echo "# machine $name pid1=$pid1 is $state after $(ms_since "$t_boot") ms"
case $state in running|degraded) ;; *) echo "machine not up"; echo "0 passed, 1 failed"; exit 1 ;; esac
[ "$(basename "$bin")" = unitctl ] || in_m true   # (binary is bound as its directory)

unit() { in_m sh -c "cat > /etc/systemd/system/$1"; }
unit hbdt-ok.service <<'U'
[Service]
ExecStart=/bin/sleep infinity
U
unit hbdt-fail.service <<'U'
[Service]
Type=oneshot
ExecStart=/bin/false
U
unit hbdt-simplefail.service <<'U'
[Service]
ExecStart=/bin/sh -c 'sleep 0.3; exit 7'
U
unit hbdt-crash.service <<'U'
[Service]
ExecStart=/bin/sh -c 'sleep 1; exit 3'
Restart=on-failure
RestartSec=200ms
U
unit hbdt-hang.service <<'U'
[Service]
ExecStart=/bin/sleep infinity
ExecStop=/bin/sleep 30
TimeoutStopSec=1
U
unit hbdt-143.service <<'U'
[Service]
ExecStart=/bin/sh -c 'trap "exit 143" TERM; while :; do sleep 0.1; done'
U
unit hbdt-left.service <<'U'
[Service]
ExecStart=/bin/sleep 4242
KillMode=none
U
unit hbdt-notify.service <<'U'
[Service]
Type=notify
NotifyAccess=main
WatchdogSec=2
ExecStart=/opt/hbdt/unitctl notify-test
U
unit hbdt-enable.service <<'U'
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
U
in_m systemctl daemon-reload

# 1. a unit that works
uc start hbdt-ok.service
check "start hbdt-ok: done (${ms} ms)" test "$rc" = 0 -a "$out" = done
uc state hbdt-ok.service
check "hbdt-ok is active" test "$out" = active
uc stop hbdt-ok.service
check "stop hbdt-ok: done (${ms} ms)" test "$rc" = 0 -a "$out" = done
uc state hbdt-ok.service
check "hbdt-ok is inactive" test "$out" = inactive
uc stop hbdt-ok.service
check "stop of an inactive unit is ok" test "$rc" = 0
uc stop hbdt-nonexistent.service
check "stop of a unit that does not exist is ok" test "$rc" = 0

uc start-all hbdt-ok.service hbdt-fail.service hbdt-enable.service hbdt-nonexistent.service
check "concurrent starts on one connection each get their own result (${ms} ms)" \
    eval 'has "^hbdt-ok.service done" && has "^hbdt-fail.service error: start of hbdt-fail.service ended with result .failed." && has "^hbdt-enable.service done" && has "^hbdt-nonexistent.service error: unit hbdt-nonexistent.service not found"'
for u in hbdt-ok hbdt-fail hbdt-enable; do in_m systemctl stop $u.service; in_m systemctl reset-failed $u.service 2>/dev/null; done

# 2. a unit whose ExecStart fails (oneshot: the start job fails)
uc start hbdt-fail.service
check "start hbdt-fail: job result failed, names unit and journalctl (${ms} ms)" \
    eval 'test $rc = 1 && has "start of hbdt-fail.service ended with result .failed." && has "journalctl -u hbdt-fail.service"'
uc state hbdt-fail.service
check "hbdt-fail is failed" test "$out" = failed
uc stop hbdt-fail.service
check "stop of a failed unit is ok" test "$rc" = 0
uc start hbdt-nonexistent.service
check "start of a missing unit: not found, with a hint" \
    eval 'test $rc = 1 && has "unit hbdt-nonexistent.service not found" && has "systemctl cat"'

# 3. Type=simple exiting non-zero: the job is done at fork, the watcher sees the failure
uc watch hbdt-simplefail.service --start --until failed --timeout 10
check "watch sees simple unit fail after start (${ms} ms)" \
    eval 'test $rc = 0 && has "^started" && has "^state active" && has "^state failed" && has "^failed exit-code \(failure\)"'
in_m systemctl reset-failed hbdt-simplefail.service

# 4. a unit that crashes after a second and is restarted per Restart=on-failure
uc watch hbdt-crash.service --start --until restarted --timeout 15
check "watch sees crash + auto-restart as a failure (${ms} ms)" \
    eval 'test $rc = 0 && has "^state active" && has "^state activating auto-restart" && has "^restarted 1 exit-code"'
echo "$out" | sed 's/^/#   /'
check "one crash counts as exactly one failure" test "$(grep -c '(failure)' <<<"$out")" = 1
uc watch hbdt-crash.service --until restarted --timeout 15
check "…and again: restarted 2 (${ms} ms)" eval 'test $rc = 0 && has "^restarted 2 exit-code" && test "$(grep -c "(failure)" <<<"$out")" = 1'
uc stop hbdt-crash.service
check "stop hbdt-crash: done" test "$rc" = 0
uc state hbdt-crash.service
check "hbdt-crash is inactive after stop" test "$out" = inactive

# 5. an ExecStop that hangs past TimeoutStopSec=1: systemd kills what is
#    left, so the unit has stopped (failed, Result=timeout), not a failed stop
uc start hbdt-hang.service
check "start hbdt-hang: done" test "$rc" = 0
uc stop hbdt-hang.service
check "stop hbdt-hang: killed at TimeoutStopSec, so stopped (${ms} ms)" test "$rc" = 0
uc state hbdt-hang.service
check "hbdt-hang is failed after the timed-out stop" test "$out" = failed
# 5b. exit status 143 on SIGTERM (a JVM): failed, yet stopped
uc start hbdt-143.service
sleep 0.3
uc stop hbdt-143.service
check "stop of a unit that exits 143 on SIGTERM: ok" test "$rc" = 0
uc state hbdt-143.service
check "... and systemd calls it failed" test "$out" = failed
# 5c. processes left after the stop job (KillMode=none): that is a failed stop
uc start hbdt-left.service
uc stop hbdt-left.service
check "stop that leaves a process behind: failure naming it" \
    eval 'test $rc = 1 && has "stop of hbdt-left.service failed" && has "still in its cgroup"'
in_m pkill -f "sleep 4242"
uc reset-failed hbdt-hang.service
uc state hbdt-hang.service
check "reset-failed clears it" test "$out" = inactive

# 6. is_enabled
uc enabled hbdt-enable.service
check "hbdt-enable not enabled (preset disable *)" test "$rc" = 0 -a "$out" = false
in_m systemctl enable -q hbdt-enable.service
uc enabled hbdt-enable.service
check "hbdt-enable enabled after systemctl enable" test "$rc" = 0 -a "$out" = true
uc enabled hbdt-nonexistent.service
check "enabled of a missing unit: error naming it" eval 'test $rc = 1 && has "hbdt-nonexistent.service"'

# 7. sd_notify: READY=1 ends the start job, STATUS=, WATCHDOG=1 keeps it alive
uc start hbdt-notify.service
check "start Type=notify unit: done after READY=1 (${ms} ms)" test "$rc" = 0 -a "$out" = done
out=$(in_m systemctl show -p StatusText --value hbdt-notify.service); rc=0
check "STATUS= reached systemd" test "$out" = serving
sleep 3
uc state hbdt-notify.service
check "watchdog (2 s) kept it alive for 3 s" test "$out" = active
out=$(in_m journalctl -u hbdt-notify.service -o cat 2>/dev/null); rc=0
check "watchdog interval is half of WatchdogSec" has "watchdog interval Some\(1s\)"
uc stop hbdt-notify.service
check "stop Type=notify unit: done" test "$rc" = 0

# 8. journald fields
uc log-test testnode
check "log::init picks the journal inside the machine" test "$rc" = 0 -a "$out" = Journal
in_m journalctl --sync 2>/dev/null
out=$(in_m journalctl HBD_EVENT=test-event -o verbose 2>&1); rc=$?
check "journalctl HBD_EVENT=test-event finds the entry with its fields" \
    eval 'has "MESSAGE=log test from unitctl" && has "HBD_NODE=testnode" && has "HBD_GROUP=g1" && has "HBD_PEER=n2" && has "HBD_LINK=hb" && has "PRIORITY=6"'
out=$(HBD_LOG=warn "$bin" log-test 2>&1 </dev/null); rc=$?
check "without a journal (host): stderr backend" eval 'test "$rc" = 0 && has "^Stderr"'
out=$(env -u HBD_LOG "$bin" log-test 2>&1 </dev/null); rc=$?
check "stderr line carries the fields, no colour codes off a tty" eval 'has "HBD_EVENT=\"test-event\"" && ! has $(printf "\033")'

# 9. no system bus
out=$(DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/no-bus "$bin" start x.service 2>&1 </dev/null); rc=$?
check "no system bus: says it is unreachable" eval 'test $rc = 1 && has "system bus is unreachable"'

echo "# total $(ms_since "$t_boot") ms"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
