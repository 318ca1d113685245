#!/usr/bin/env bash
# The supervision contract on real systemd machines: what hbd says is what
# runs. Units stopped or restarted behind hbd's back, units started behind its back where
# the group does not run, units that exit 143 on SIGTERM,
# jobs that hang, a unit found activating when hbd starts, a fence unit
# that is not a oneshot, systemd's start limit after cleanup, a reload that
# adds ping hosts, dbus restarting under hbd, systemd re-executing itself. Each scenario in a freshly booted two-node cluster.
#   tests/lab/supervision.sh            all scenarios
#   tests/lab/supervision.sh NAME...    some (see the list at the end)
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lab.sh"
source "$here/hbd.sh"
source "$here/scenario_lib.sh"
SCENARIOS_LABEL="lab supervision"

# group_json NODE GROUP FIELD: a field of a group in `hactl status --json`.
group_json() {
    status_json "$1" | python3 -c 'import json,sys; g=[g for g in json.load(sys.stdin)["groups"] if g["name"]==sys.argv[1]][0]; print(g[sys.argv[2]])' "$2" "$3"
}
# unit_json NODE GROUP UNIT: that unit's state in `hactl status --json`.
unit_json() {
    status_json "$1" | python3 -c 'import json,sys; g=[g for g in json.load(sys.stdin)["groups"] if g["name"]==sys.argv[1]][0]; print([r["state"] for r in g["resources"] if r["name"]==sys.argv[2]][0])' "$2" "$3"
}
is_active() { lab_exec "$1" systemctl is-active -q "$2"; }
# unit_group NAME UNIT [OPTIONS]: a group of one unit, preferred on n1, as
# TOML for HBD_EXTRA (OPTIONS: more keys of the resource, e.g. timeout)
unit_group() {
    printf '[[group]]\nname = "%s"\npreferred = "n1"\nresources = [{ unit = "%s"%s }]\n' "$1" "$2" "${3:+, $3}"
}
active_state() { lab_exec "$1" systemctl show -P ActiveState "$2"; }
# shows_activating NODE GROUP UNIT SECONDS: NODE's hactl shows UNIT
# activating within SECONDS, and nothing it shows before is started or active
shows_activating() {
    local end=$((SECONDS + $4)) shown
    while ((SECONDS <= end)); do
        shown=$(unit_json "$1" "$2" "$3")
        case $shown in
            activating*) return 0 ;;
            started | active*) echo "    hactl status showed $3 $shown" >&2; return 1 ;;
        esac
        sleep 0.1
    done
    echo "    hactl status still shows $3 $shown" >&2
    return 1
}
# unit_time NODE TEXT [last]: the time (µs since the epoch) of the first
# (or last) line of NODE's journal containing TEXT
unit_time() {
    lab_journal "$1" -o short-unix --no-pager 2>/dev/null | grep -F -- "$2" | { [[ ${3:-} == last ]] && tail -1 || head -1; } |
        awk '{ split($1, a, "."); printf "%d%06d\n", a[1], substr(a[2] "000000", 1, 6) }'
}
# status_truthful NODE GROUP UNIT [SECONDS]: NODE's hactl never shows the
# unit active while systemd says it is not (sampled for SECONDS, default 3).
# A unit of a group another node runs is shown "… on OWNER": then OWNER's
# systemd is the one asked.
status_truthful() {
    local end=$((SECONDS + ${4:-3})) shown real
    while ((SECONDS < end)); do
        if ! truthful_now "$@"; then
            # the state may have changed between the two reads: read again
            sleep 0.3
            truthful_now "$@" || { echo "  (on $1, $shown; systemd there says '$real')"; return 1; }
        fi
        sleep 0.2
    done
}
truthful_now() {
    local where=$1
    shown=$(unit_json "$1" "$2" "$3")
    [[ $shown == *" on "* ]] && where=${shown##* on }
    real=$(active_state "$where" "$3")
    shown="hactl says $3 is '$shown'"
    ! [[ $shown == *"'active"* || $shown == *"'started"* ]] || [[ $real == active ]]
}
# truthful_everywhere GROUP UNIT [SECONDS]: status_truthful on n1 and n2 at once.
truthful_everywhere() {
    local rc=0
    status_truthful n1 "$@" &
    local p1=$!
    status_truthful n2 "$@" || rc=1
    wait "$p1" || rc=1
    return $rc
}

# ------------------------------------------------------------------ scenarios

sc_stop_outside() {
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    local i
    for i in 1 2; do
        lab_exec n1 systemctl stop web.service
        check "stop $i: hactl status on n1 and n2 tells the truth while web.service is down" truthful_everywhere web web.service 2
        check "stop $i: web.service runs again on n1 within 10 s" lab_wait_for 10 is_active n1 web.service
        check "stop $i: the VIP answers from n1 again" hbd_wait_owner n1 10
    done
    check "the journal says it plainly" journal_has n1 "web.service of group web: it was stopped outside hbd (by systemctl or a dependency); restarting it, failure 2 of 3"
    check "hactl status shows systemd's state: active (running)" eval '[[ $(unit_json n1 web web.service) == "active (running)" ]]'
    check "n2's hactl status shows n1's: active (running) on n1" \
        lab_wait_for 3 eval '[[ $(unit_json n2 web web.service) == "active (running) on n1" ]]'
    lab_exec n1 systemctl stop web.service
    check "third stop (migration_threshold 3): web moves to n2" hbd_wait_owner n2 10
    check "web.service is not running on n1" eval '! is_active n1 web.service'
    check "n1's hactl status shows n2's: active (running) on n2" \
        lab_wait_for 5 eval '[[ $(unit_json n1 web web.service) == "active (running) on n2" ]]'
    check "hactl status on n1 and n2 tells the truth after the move" truthful_everywhere web web.service 2
}

sc_restart_outside() {
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    local i
    # More restarts than migration_threshold (3): an operator's restart
    # after a change of the service's configuration is not a failure.
    for i in 1 2 3 4; do
        check "systemctl restart web.service $i on n1 succeeds (hbd cancels nothing)" lab_exec n1 systemctl restart web.service
        check "restart $i: hactl status on n1 and n2 tells the truth" truthful_everywhere web web.service 1
        check "restart $i: web stays on n1 with fail count 0, and the VIP answers from n1" \
            eval '[[ $(group_json n1 web owner) == n1 && $(group_json n1 web failcount) == 0 ]] && hbd_wait_owner n1 5'
    done
    check "the journal says it was restarted, not that it failed" journal_has n1 \
        "web.service of group web was restarted outside hbd (systemctl restart, or a restart of a unit it depends on); not a failure"
    check "... and n1 logged no failure of the unit" eval '[[ -z $(hbd_events n1 unit-failure) ]]'
    check "hactl status shows web.service active (running) on n1" eval '[[ $(unit_json n1 web web.service) == "active (running)" ]]'
    # A restart whose start fails is a failure (and hbd's own start of it
    # fails too: the group moves).
    local restarts; restarts=$(hbd_events n1 unit-restarted | wc -l)
    lab_exec n1 mkdir -p /run/systemd/system/web.service.d
    printf '[Service]\nExecStartPre=/bin/false\n' | lab_exec n1 tee /run/systemd/system/web.service.d/broken.conf >/dev/null
    lab_exec n1 systemctl daemon-reload
    lab_exec n1 systemctl restart web.service 2>/dev/null
    check "a restart whose start fails is a failure: the journal says how it failed" lab_wait_for 5 eval \
        'hbd_events n1 unit-failure | grep -q "web.service of group web: it was restarted outside hbd, and the restart left it failed (exit-code); restarting it, failure 1 of 3"'
    check "... and not said to be a restart" eval '[[ $(hbd_events n1 unit-restarted | wc -l) == "$restarts" ]]'
    check "... and web moves to n2" hbd_wait_owner n2 15
    lab_exec n1 rm -rf /run/systemd/system/web.service.d
    lab_exec n1 systemctl daemon-reload
}

sc_restart_slow_start() {
    hbd_before_start() {
        # Its start takes 3 s: long enough to read hactl status meanwhile.
        unit slowstart.service <<'EOF'
[Service]
ExecStartPre=/bin/sleep 3
ExecStart=/bin/sleep infinity
EOF
    }
    HBD_EXTRA=$(unit_group slow slowstart.service) hbd_cluster_up 2 || return 1
    check "slowstart runs on n1" lab_wait_for 20 eval '[[ $(group_json n1 slow state) == started ]] && is_active n1 slowstart.service' || return 1
    lab_exec n1 systemctl restart --no-block slowstart.service
    check "while systemctl restart is under way (systemd: activating), hactl status says starting, and why" lab_wait_for 2 eval \
        '[[ $(active_state n1 slowstart.service) == activating && $(group_json n1 slow state) == starting && $(group_json n1 slow note) == "slowstart.service went down within a job of systemd'"'"'s (systemctl restart?); waiting for the job to bring it back" ]]'
    check "... and n1 issued no job of its own (no failure logged)" eval '[[ -z $(hbd_events n1 unit-failure) ]]'
    check "once active again: started, no note, fail count 0, said in the journal" lab_wait_for 8 eval \
        '[[ $(group_json n1 slow state) == started && -z $(group_json n1 slow note) && $(group_json n1 slow failcount) == 0 ]] && event_has n1 unit-restarted'
    check "hactl status on n1 and n2 tells the truth" truthful_everywhere slow slowstart.service 2
}

sc_systemd_reexec() {
    # What an upgrade of the systemd package does (systemctl daemon-reexec):
    # PID 1 executes itself again and comes back on the bus under a new
    # name. hbd must go on following its units and finishing its jobs.
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    lab_exec n1 systemctl daemon-reexec
    check "after daemon-reexec on n1: n1 still serves, fail count 0" \
        eval 'hbd_wait_owner n1 5 && [[ $(group_json n1 web failcount) == 0 ]]'
    lab_exec n1 systemctl stop web.service
    check "a stop outside hbd after the reexec is seen: web.service runs again on n1" lab_wait_for 10 is_active n1 web.service
    check "... and the journal says so" journal_has n1 "web.service of group web: it was stopped outside hbd (by systemctl or a dependency); restarting it, failure 1 of 3"
    lab_exec n1 sh -c '/opt/hbd/bin/hactl move web n2 >/dev/null & sleep 0.05; systemctl daemon-reexec; wait'
    check "a move with a daemon-reexec on n1 in its midst completes: n2 serves" hbd_wait_owner n2 20
    check "web.service stopped on n1, runs on n2" eval '! is_active n1 web.service && is_active n2 web.service'
    check "hactl status on n1 and n2 tells the truth" truthful_everywhere web web.service 2
}

sc_start_outside() {
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    check "no stray so far: hbd's own start is not one" eval '[[ -z $(hbd_events n1 unit-stray) && -z $(hbd_events n2 unit-stray) ]]'
    local i
    for i in 1 2; do
        lab_exec n2 systemctl start web.service
        check "start $i on n2 behind hbd's back: n2's hbd stops it within 5 s" lab_wait_for 5 eval '! is_active n2 web.service'
        check "start $i: n1 still serves the VIP" hbd_wait_owner n1 5
    done
    check "the journal says why" journal_has n2 "web.service of group web came up here outside hbd, but this node does not run web (n1 runs it); stopping it"
    check "not a failure of the group: started on n1, fail count 0" \
        eval '[[ $(group_json n1 web state) == started && $(group_json n1 web owner) == n1 && $(group_json n1 web failcount) == 0 ]]'
    check "hactl status on n1 and n2 tells the truth" truthful_everywhere web web.service 2
    check "a move afterwards is no stray either" eval 'lab_hactl n1 move web n2 --wait >/dev/null && hbd_wait_owner n2 10'
    check "... and n1 reported none" eval '[[ -z $(hbd_events n1 unit-stray) ]]'
    check "... and n2 only its two" eval '[[ $(hbd_events n2 unit-stray | wc -l) == 2 ]]'
}

sc_stray_shown() {
    hbd_before_start() {
        # Takes 3 s to stop: long enough to read hactl status meanwhile.
        # (ExecStop=, not a trap of SIGTERM: hbd stops the stray within
        # milliseconds, often before a shell has set its trap.)
        unit slowstop.service <<'EOF'
[Service]
ExecStart=/bin/sleep infinity
ExecStop=/bin/sleep 3
EOF
    }
    HBD_EXTRA=$(unit_group slow slowstop.service) hbd_cluster_up 2 || return 1
    check "slowstop runs on n1" lab_wait_for 15 is_active n1 slowstop.service || return 1
    lab_exec n2 systemctl start slowstop.service
    check "started on n2 behind hbd's back: while hbd stops it there, hactl status on n2 says so" lab_wait_for 2 eval \
        '[[ $(group_json n2 slow note) == "slowstop.service came up on this node outside hbd; stopping it here, so that it runs in one place only" ]]'
    check "... and the unit is still deactivating on n2 (the status is not ahead of systemd)" eval '[[ $(active_state n2 slowstop.service) == deactivating ]]'
    check "once it has stopped, the note is gone" lab_wait_for 8 eval '! is_active n2 slowstop.service && [[ -z $(group_json n2 slow note) ]]'
    check "slow still runs on n1, fail count 0" eval '[[ $(group_json n1 slow owner) == n1 && $(group_json n1 slow failcount) == 0 ]] && is_active n1 slowstop.service'
}

# A unit of the group started by hand on the node that is starting the
# group, whose start then fails: that node stops the unit before it gives
# the group up, so the node that takes the group back never runs it beside
# the one still stopping (the simulator found this with five nodes).
sc_stray_during_failed_start() {
    hbd_before_start() {
        # Its start takes 2 s, and fails on n2.
        unit failstart.service <<'EOF'
[Service]
ExecStartPre=/bin/sh -c 'sleep 2; [ "$(hostname)" != n2 ]'
ExecStart=/bin/sleep infinity
EOF
        # Takes 4 s to stop: longer than the group's start on n1.
        unit after.service <<'EOF'
[Service]
ExecStart=/bin/sleep infinity
ExecStop=/bin/sleep 4
EOF
    }
    HBD_EXTRA=$(printf '[[group]]\nname = "pair"\npreferred = "n1"\nresources = [{ unit = "failstart.service" }, { unit = "after.service" }]\n') \
        hbd_cluster_up 2 || return 1
    check "pair runs on n1" lab_wait_for 20 eval 'is_active n1 after.service' || return 1
    lab_hactl n1 move pair n2 >/dev/null
    check "n2 is starting failstart.service" lab_wait_for 15 eval '[[ $(active_state n2 failstart.service) == activating ]]' || return 1
    lab_exec n2 systemctl start --no-block after.service
    # Sample both nodes until n1 runs the pair again: never both at once.
    local both=0 end=$((SECONDS + 30)) a1 a2
    while ((SECONDS < end)); do
        a1=$(active_state n1 after.service); a2=$(active_state n2 after.service)
        [[ $a1 != inactive && $a1 != failed && $a2 != inactive && $a2 != failed ]] && { both=1; echo "    n1 $a1, n2 $a2"; }
        [[ $a1 == active && $a2 == inactive ]] && break
        sleep 0.1
    done
    check "the pair's start failed on n2 and it is back on n1" eval '[[ $(group_json n1 pair owner) == n1 ]] && is_active n1 after.service'
    check "after.service never ran on n1 and n2 at once" eval '((both == 0))'
    check "n2's journal says it stopped the unit started by hand" journal_has n2 "after.service of group pair came up here outside hbd"
    # systemd says `failed` just before it ends the failed start job
    check "the failed start is one start failure, not also a unit failing while it ran" \
        eval '[[ -z $(hbd_events n2 unit-failure) && $(hbd_events n2 start-failed | wc -l) == 1 ]]'
    check "n2 stopped it before n1 started it (journals)" eval '(( $(unit_time n2 "Stopped after.service") <= $(unit_time n1 "Started after.service" last) ))'
    check "hactl status on both nodes tells the truth" truthful_everywhere pair after.service 2
}

sc_odd_units() {
    hbd_before_start() {
        unit once.service <<'EOF'
[Service]
Type=oneshot
ExecStart=/bin/true
EOF
        unit kept.service <<'EOF'
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
EOF
        unit boot.service <<'EOF'
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
EOF
    }
    hbd_cluster_up 2 || return 1
    lab_exec n1 systemctl enable boot.service 2>/dev/null
    local dir; dir=$(lab_node_dir n1)/etc-hbd
    { cat "$dir/hbd.toml"; for u in once kept boot ghost; do unit_group "g-$u" "$u.service"; done; } >"$dir/odd.toml"
    local out; out=$(lab_hactl n1 config check /etc/hbd/odd.toml 2>&1)
    echo "$out" | sed -n 's/^/  | /p'
    check "hactl config check passes the file (warnings are not errors)" eval '[[ $out == *"odd.toml: ok"* ]]'
    check "... warns of a oneshot without RemainAfterExit=yes" eval '[[ $out == *"unit once.service of group g-once is Type=oneshot without RemainAfterExit=yes"* ]]'
    check "... warns of a unit enabled in systemd" eval '[[ $out == *"unit boot.service of group g-boot is enabled in systemd"*"systemctl disable boot.service"* ]]'
    check "... warns of a unit not installed" eval '[[ $out == *"unit ghost.service of group g-ghost is not-found on this machine"* ]]'
    check "... and of nothing else" eval '[[ $(grep -c "warning: unit" <<<"$out") == 3 && $out != *kept.service* && $out != *web.service* ]]'
}

sc_exit_143() {
    hbd_before_start() {
        # As a JVM does: exit status 143 on SIGTERM.
        unit app.service <<'EOF'
[Service]
ExecStart=/bin/sh -c 'trap "exit 143" TERM; while :; do sleep 0.1; done'
EOF
    }
    HBD_EXTRA=$(unit_group app app.service) hbd_cluster_up 2 || return 1
    check "app runs on n1" lab_wait_for 15 is_active n1 app.service || return 1
    check "hactl move app n2 --wait succeeds" eval 'lab_hactl n1 move app n2 --wait >/dev/null'
    check "app.service runs on n2" lab_wait_for 5 is_active n2 app.service
    check "on n1 systemd says failed (exit 143) ..." eval '[[ $(active_state n1 app.service) == failed ]]'
    check "... and hbd took it as stopped: the group is started on n2, not blocked" eval '[[ $(group_json n2 app state) == started && $(group_json n2 app owner) == n2 ]]'
    check "n1 logged no failed stop" eval '[[ -z $(hbd_events n1 stop-failed) ]]'
    check "it moves back just as well" eval 'lab_hactl n1 move app n1 --wait >/dev/null && is_active n1 app.service'
}

sc_ends_on_its_own() {
    hbd_before_start() {
        # A service whose main process ends by itself, cleanly.
        unit ends.service <<'EOF'
[Service]
ExecStart=/bin/sh -c 'sleep 4; exit 0'
EOF
    }
    HBD_EXTRA=$(unit_group ends ends.service) hbd_cluster_up 2 || return 1
    check "ends runs on n1" lab_wait_for 15 is_active n1 ends.service || return 1
    check "when it exits 0 by itself, the journal says how it ended, not that systemctl stopped it" lab_wait_for 10 journal_has n1 \
        "ends.service of group ends: it went down outside hbd: its main process exited with status 0 (it ended on its own, or it was stopped by systemctl or a dependency); restarting it, failure 1 of 3"
    check "hbd restarted it in place" lab_wait_for 5 is_active n1 ends.service
    lab_exec n1 systemctl kill -s HUP ends.service
    check "killed by SIGHUP (a clean end for systemd): the journal names the signal" lab_wait_for 5 journal_has n1 \
        "ends.service of group ends: it went down outside hbd: its main process was killed by SIGHUP; restarting it, failure 2 of 3"
}

sc_hung_start() {
    hbd_before_start() {
        # Never says READY=1; systemd itself would wait forever.
        unit slow.service <<'EOF'
[Service]
Type=notify
TimeoutStartSec=infinity
ExecStart=/bin/sleep infinity
EOF
    }
    HBD_EXTRA=$(unit_group slow slow.service 'timeout = "3s"') hbd_cluster_up 2 || return 1
    check "slow.service is activating on n1" lab_wait_for 15 eval '[[ $(active_state n1 slow.service) == activating ]]' || return 1
    # systemd answers a property read with the new state before it sends
    # the signal hbd follows, so hbd may show it a moment later: until then
    # it shows its own start under way (starting), never started.
    check "hactl status says so (activating), never started" shows_activating n1 slow slow.service 3
    check "after its 3 s deadline n1 logs the start as failed" lab_wait_for 8 eval 'hbd_events n1 start-failed | grep -q "did not finish within 3 s"'
    check "n1 stopped it (systemd cancels the start job)" lab_wait_for 5 eval '[[ $(active_state n1 slow.service) == inactive ]]'
    check "n2 tries next and gives up at its deadline too" lab_wait_for 12 eval 'hbd_events n2 start-failed | grep -q "did not finish"'
    check "the group runs nowhere and status says why" lab_wait_for 8 eval '[[ $(group_json n1 slow state) != started && $(group_json n1 slow note) == *"hactl cleanup"* ]]'
    check "web was not disturbed" hbd_wait_owner n1 3
}

sc_hung_stop() {
    hbd_before_start() {
        unit stuck.service <<'EOF'
[Service]
ExecStart=/bin/sleep infinity
ExecStop=/bin/sleep infinity
TimeoutStopSec=infinity
EOF
    }
    HBD_EXTRA=$(unit_group stuck stuck.service 'timeout = "3s"') hbd_cluster_up 2 || return 1
    check "stuck runs on n1" lab_wait_for 15 is_active n1 stuck.service || return 1
    lab_hactl n1 move stuck n2 >/dev/null
    check "after its 3 s deadline the stop counts as failed" lab_wait_for 8 eval '[[ -n $(hbd_events n1 stop-failed) ]]'
    check "the group is blocked, with what to do" eval '[[ $(group_json n2 stuck state) == blocked && $(group_json n2 stuck note) == *"hactl cleanup stuck"* ]]'
    check "it is never started on n2 while n1 may run it" eval '! is_active n2 stuck.service && sleep 3 && ! is_active n2 stuck.service'
    check "hbd on n1 still answers and heartbeats: n2 sees n1 up" eval 'status_json n2 | grep -q "\"name\": *\"n1\"" && [[ $(lab_hactl n2 status) == *"n1"*"up"* ]]'
    # The operator ends the stuck stop, then cleans up.
    lab_exec n1 systemctl kill -s KILL stuck.service
    check "after the operator's fix and hactl cleanup the move completes" eval 'lab_wait_for 5 eval "[[ \$(active_state n1 stuck.service) != active && \$(active_state n1 stuck.service) != deactivating ]]" && lab_hactl n1 cleanup stuck && lab_wait_for 10 is_active n2 stuck.service'
}

sc_adopt_activating() {
    hbd_before_start() {
        # Takes 4 s to become ready.
        unit late.service <<'EOF'
[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'sleep 4; systemd-notify --ready; exec sleep infinity'
EOF
    }
    HBD_EXTRA=$(unit_group late late.service) hbd_cluster_up 2 || return 1
    check "late runs on n1" lab_wait_for 20 is_active n1 late.service || return 1
    # hbd dies and, while it is away, the unit is restarting: the new hbd
    # finds it activating.
    lab_exec n1 systemctl kill -s KILL hbd.service
    lab_exec n1 systemctl restart --no-block late.service
    check "the new hbd adopts the activating unit" lab_wait_for 10 journal_has n1 "late.service of group late is already activating (start); adopting it"
    check "late.service becomes active on n1" lab_wait_for 10 is_active n1 late.service
    check "hactl status agrees: active (running)" lab_wait_for 3 eval '[[ $(unit_json n1 late late.service) == "active (running)" ]]'
    check "it never ran on n2" eval '[[ $(active_state n2 late.service) == inactive ]] && [[ -z $(lab_journal n2 -u late.service -o cat --no-pager 2>/dev/null | grep -i started) ]]'
}

sc_fence_not_oneshot() {
    hbd_before_start() {
        # A fence agent written as a simple service: its start job ends as
        # soon as it forks, which proves nothing.
        unit hbd-fence@.service <<'EOF'
[Service]
Type=simple
ExecStart=/bin/sleep 30
EOF
    }
    HBD_FENCING=required hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 20 || return 1
    check "hactl config check warns that the fence unit is not a oneshot" eval '[[ $(lab_hactl n2 config check 2>&1) == *"hbd-fence@"*"Type=oneshot"* ]]'
    lab_block_hb n1 both
    check "n2 refuses the fence (fence-failed)" lab_wait_for 10 event_has n2 fence-failed
    check "... saying it must be Type=oneshot" eval 'lab_journal n2 -u hbd -o cat --no-pager | grep -q "must be Type=oneshot"'
    check "n2 does not take the VIP unfenced" eval '[[ $(count_owners) == 1 ]] && sleep 3 && ! lab_nsexec n2 ip -4 addr show dev eth0 | grep -q "inet $HBD_VIP/"'
}

sc_cleanup_start_limit() {
    hbd_before_start() {
        local n
        for n in "${LAB_NODES[@]}"; do
            mkdir -p "$(lab_node_dir "$n")/system/web.service.d"
            printf '[Unit]\nStartLimitIntervalSec=120\nStartLimitBurst=2\n' >"$(lab_node_dir "$n")/system/web.service.d/limit.conf"
            lab_exec "$n" systemctl daemon-reload
        done
    }
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    local i
    for i in 1 2 3; do
        lab_exec n1 systemctl kill -s KILL web.service
        sleep 1.5
    done
    check "crashes past systemd's start limit: web moves to n2" hbd_wait_owner n2 10
    check "systemd's start limit refused web.service on n1" eval 'lab_journal n1 -u web.service -o cat | grep -q "Start request repeated too quickly"'
    check "hactl cleanup web" eval 'lab_hactl n2 cleanup web'
    check "cleanup reset systemd's failed state on n1" lab_wait_for 5 eval '[[ $(active_state n1 web.service) != failed ]]'
    check "auto_failback: web runs on n1 again" hbd_wait_owner n1 15
}

sc_reload_ping() {
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    local n f
    for n in n1 n2; do
        f=$(lab_node_dir "$n")/etc-hbd/hbd.toml
        printf '\n[ping]\nhosts = ["10.77.0.1"]\ninterval = "500ms"\ntimeout = "500ms"\n' >>"$f"
        check "hactl reload on $n with a [ping] section added" eval "lab_hactl $n reload >/dev/null"
    done
    check "the ping monitor runs: n2 reaches 1 ping host" lab_wait_for 10 eval 'status_json n2 | python3 -c "import json,sys; d=json.load(sys.stdin); exit(0 if [n for n in d[\"nodes\"] if n[\"name\"]==\"n2\"][0][\"ping_hosts\"]==1 else 1)"'
    local t0; t0=$(date +%s%3N)
    lab_power_cut n1
    check "n1 power cut: n2 takes over" hbd_wait_owner n2 6
    echo "  (failover took $(ms_since "$t0") ms)"
}

sc_dbus_restart() {
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    local since; since=$(lab_exec n1 date '+%Y-%m-%d %H:%M:%S')
    lab_exec n1 systemctl restart dbus
    check "after systemctl restart dbus: hactl status answers on n1 within 5 s" lab_wait_for 5 eval 'status_json n1 >/dev/null'
    check "... and says n1 still runs web" eval '[[ $(json_owner n1) == n1 ]]'
    check "hbd re-subscribed: web.service stopped outside hbd runs again within 10 s" eval 'lab_exec n1 systemctl stop web.service && lab_wait_for 10 is_active n1 web.service'
    # A unit that stops while there is no bus: root's systemctl talks to
    # systemd over its private socket, not the bus.
    lab_exec n1 systemctl stop dbus.socket dbus.service
    lab_exec n1 systemctl stop web.service
    sleep 1
    lab_exec n1 systemctl start dbus.socket dbus.service
    check "web.service stopped while dbus was down: hbd sees it once the bus is back and restarts it" lab_wait_for 10 is_active n1 web.service
    check "the journal says the unit was stopped outside hbd" journal_has n1 "web.service of group web: it was stopped outside hbd"
    check "the VIP never left n1 (no failover for a bus restart)" eval '[[ -z $(hbd_events n2 failover) ]] && lab_wait_for 5 owner_is n1'
    check "hactl move web n2 --wait works over the new bus" eval 'lab_hactl n1 move web n2 --wait >/dev/null && hbd_wait_owner n2 5'
    local lines
    lines=$(lab_journal n1 -u hbd --since "$since" -o cat --no-pager | wc -l)
    echo "  ($lines journal lines from hbd since the first restart)"
    check "the journal was not flooded (under 60 lines for two bus restarts)" eval '((lines < 60))'
    check "it says when the bus went and came back" eval 'journal_has n1 "lost the system bus" && journal_has n1 "the system bus is back after"'
}

sc_bus_late() {
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    # hbd started while there is no bus (dbus late at boot, or failed and
    # being fixed): it waits instead of burning systemd's start limit.
    lab_exec n2 systemctl stop hbd
    lab_exec n2 systemctl mask --runtime -q dbus.socket dbus.service
    lab_exec n2 systemctl stop dbus.socket dbus.service
    lab_exec n2 systemctl start --no-block hbd
    sleep 3
    check "without a bus hbd waits (activating, not failed) and says so" eval '[[ $(active_state n2 hbd) == activating ]] && journal_has n2 "waiting for the system bus"'
    lab_exec n2 systemctl unmask --runtime -q dbus.socket dbus.service
    lab_exec n2 systemctl start dbus.socket
    check "once dbus is there hbd is up within 5 s, with no restart" eval 'lab_wait_for 5 eval "[[ \$(active_state n2 hbd) == active ]]" && [[ $(lab_exec n2 systemctl show -P NRestarts hbd) == 0 ]]'
    check "hactl status on n2 answers and sees n1 own web" lab_wait_for 5 eval '[[ $(json_owner n2) == n1 ]]'
}

sc_stalled_standby() {
    # hbd on the standby n2 is stopped (SIGSTOP: descheduled, a stalled
    # disk, a VM paused) for longer than deadtime while n1 runs web. When it
    # runs again, what n1 sent meanwhile waits in its sockets: that is read
    # before any deadline is judged, so n2 does not take n1 for dead nor
    # start web beside it.
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    local pid i twice=0
    pid=$(lab_exec n2 systemctl show -P MainPID hbd.service)
    lab_exec n2 kill -STOP "$pid"
    sleep 2.6
    lab_exec n2 kill -CONT "$pid"
    for ((i = 0; i < 30; i++)); do
        is_active n2 web.service && twice=1
        sleep 0.1
    done
    check "web never ran on n2 after its hbd resumed" eval '((twice == 0))'
    check "n2 did not declare n1 dead" eval '! event_has n2 peer-dead'
    check "n1 still serves the VIP" hbd_wait_owner n1 5
}

ALL=(stop_outside restart_outside restart_slow_start systemd_reexec start_outside stray_shown stray_during_failed_start odd_units exit_143 ends_on_its_own hung_start hung_stop adopt_activating fence_not_oneshot cleanup_start_limit reload_ping dbus_restart bus_late stalled_standby)
run_scenarios "$@"
