#!/usr/bin/env bash
# Health checks on real systemd machines: a service that answers 500, one
# that hangs, one that flaps, a oneshot check unit (one that hangs, one that
# remains active after its script), a node check that puts its node in
# standby. Each scenario in a freshly
# booted two-node cluster; the group `app` (a VIP and app.service, a small
# HTTP server whose answer is set by /run/app-health) is preferred on n1.
#   tests/lab/checks.sh            all scenarios
#   tests/lab/checks.sh NAME...    some (see the list at the end)
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lab.sh"
source "$here/hbd.sh"
source "$here/scenario_lib.sh"
SCENARIOS_LABEL="lab checks"

app_json() { # NODE FIELD: a field of group app in `hactl status --json`
    status_json "$1" | python3 -c 'import json,sys; g=[g for g in json.load(sys.stdin)["groups"] if g["name"]=="app"][0]; v=g[sys.argv[1]]; print("" if v is None else v)' "$2"
}
check_json() { # NODE FIELD: a field of app's first check
    status_json "$1" | python3 -c 'import json,sys; g=[g for g in json.load(sys.stdin)["groups"] if g["name"]=="app"][0]; print(g["checks"][0][sys.argv[1]] if g["checks"] else "")' "$2"
}
app_owner_is() { [[ $(app_json n1 owner) == "$1" && $(app_json n2 owner) == "$1" ]]; }
health() { lab_exec "$1" sh -c "echo $2 > /run/app-health"; }

# The program behind app.service (a file: an ExecStart= line cannot hold it).
APP_PY='import http.server, time, itertools
flip = itertools.cycle([200, 500])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try: mode = open("/run/app-health").read().strip()
        except OSError: mode = "200"
        if mode == "hang": time.sleep(60)
        code = next(flip) if mode == "flap" else int(mode)
        self.send_response(code); self.end_headers(); self.wfile.write(b"app\n")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", 8080), H).serve_forever()
'

# app_group CHECK [TIMEOUT]: HBD_EXTRA for group app with that check table;
# app.service's start deadline, by which its check must have risen, is
# TIMEOUT (3s: it answers at once).
app_group() {
    printf '[[group]]\nname = "app"\npreferred = "n1"\nresources = [\n  { vip = "10.77.0.61/24", interface = "eth0" },\n  { unit = "app.service", timeout = "%s", check = %s },\n]\n' "${2:-3s}" "$1"
}

hbd_before_start() {
    local n
    for n in "${LAB_NODES[@]}"; do
        printf '%s' "$APP_PY" >"$(lab_node_dir "$n")/etc-hbd/app.py"
    done
    unit app.service <<'EOF'
[Unit]
Description=lab app (health set by /run/app-health)
[Service]
ExecStart=/usr/bin/python3 /etc/hbd/app.py
EOF
    if declare -F more_units >/dev/null; then more_units; fi
}

HTTP_CHECK='{ http = "http://127.0.0.1:8080/health", interval = "300ms", timeout = "200ms", rise = 2, fall = 3 }'

# ------------------------------------------------------------------ scenarios

sc_http_500() {
    HBD_EXTRA=$(app_group "$HTTP_CHECK") hbd_cluster_up 2 || return 1
    check "app runs on n1" lab_wait_for 15 app_owner_is n1 || return 1
    check "hactl status shows the check healthy" lab_wait_for 5 eval '[[ $(check_json n1 state) == healthy ]]'
    check "... in the human form too" eval '[[ $(lab_hactl n1 status) == *"check app.service (http://127.0.0.1:8080/health): healthy"* ]]'
    local t0; t0=$(date +%s%3N)
    health n1 500
    check "app answers 500 on n1: app moves to n2 (3 failures, a restart that does not rise within 3 s)" lab_wait_for 20 app_owner_is n2
    echo "  (moved after $(ms_since "$t0") ms; interval 300ms, fall 3, restart deadline 3s)"
    check "the journal says why" journal_has n1 "check of app.service (http://127.0.0.1:8080/health) of group app failed 3 times in a row: HTTP 500 from http://127.0.0.1:8080/health (expected 200)"
    check "it was restarted in place first (failure 1 of 3)" journal_has n1 "app.service of group app: its check failed 3 times in a row (HTTP 500 from http://127.0.0.1:8080/health (expected 200)); restarting it, failure 1 of 3"
    check "... and the restart, still answering 500, did not rise by its deadline" journal_has n1 "its check did not pass 2 times in a row within 3 s of its start; last failure: HTTP 500"
    check "on n2 the check is healthy and the group started" lab_wait_for 5 eval '[[ $(check_json n2 state) == healthy && $(app_json n2 state) == started ]]'
    check "app.service no longer runs on n1" eval '! lab_exec n1 systemctl is-active -q app.service'
}

sc_http_hang() {
    HBD_EXTRA=$(app_group "$HTTP_CHECK") hbd_cluster_up 2 || return 1
    check "app runs on n1" lab_wait_for 15 app_owner_is n1 || return 1
    health n1 hang
    check "app hangs on n1 (no answer): app moves to n2" lab_wait_for 20 app_owner_is n2
    check "the journal names the timeout" journal_has n1 "no answer within 200ms"
    check "the heartbeats went on: n2 never saw n1 late" eval '[[ -z $(hbd_events n2 peer-late) ]]'
}

sc_http_flap() {
    HBD_EXTRA=$(app_group "$HTTP_CHECK") hbd_cluster_up 2 || return 1
    check "app runs on n1" lab_wait_for 15 app_owner_is n1 || return 1
    check "the check is healthy" lab_wait_for 5 eval '[[ $(check_json n1 state) == healthy ]]'
    health n1 flap
    check "a check that flaps (rise 2, fall 3) moves nothing for 8 s" eval 'no_flap_move 8'
    check "... and counted no failure" eval '[[ $(app_json n1 failcount) == 0 ]]'
    check "no check-failed event" eval '[[ -z $(hbd_events n1 check-failed) ]]'
}
no_flap_move() {
    local end=$((SECONDS + $1))
    while ((SECONDS < end)); do
        app_owner_is n1 || return 1
        sleep 0.5
    done
}

sc_unit_check() {
    more_units() {
        unit app-check.service <<'EOF'
[Unit]
Description=lab check of app (a script, as pg-check would be)
[Service]
Type=oneshot
TimeoutStartSec=1s
ExecStart=/bin/sh -c 'test ! -e /run/app-check-hang || sleep 60; test ! -e /run/app-check-fail'
EOF
    }
    HBD_EXTRA=$(app_group '{ unit = "app-check.service", interval = "500ms", timeout = "400ms", rise = 1, fall = 2 }') hbd_cluster_up 2 || return 1
    check "app runs on n1" lab_wait_for 15 app_owner_is n1 || return 1
    check "the unit check passes" lab_wait_for 5 eval '[[ $(check_json n1 state) == healthy ]]'
    lab_exec n1 touch /run/app-check-fail
    check "the check script fails on n1: app moves to n2" lab_wait_for 20 app_owner_is n2
    check "the journal names the unit's result" journal_has n1 "app-check.service ended with result 'exit-code', exit status 1"
    # 6 failed runs (fall 2 × migration_threshold 3) in about 5 s: past
    # systemd's start limit (5 starts in 10 s) for a unit left failed
    check "no probe was refused by systemd's start limit" eval '! journal_has n1 start-limit-hit && ! lab_journal n1 -u app-check.service -o cat | grep -q "repeated too quickly"'
    check "on n2 the unit check passes" lab_wait_for 5 eval '[[ $(check_json n2 state) == healthy ]]'
    lab_exec n2 touch /run/app-check-hang
    check "a check script that hangs on n2 fails by the check's timeout" lab_wait_for 10 journal_has n2 "app-check.service: no answer within 400ms"
    check "systemd ends the hung script at its own TimeoutStartSec (1s)" lab_wait_for 5 eval 'lab_journal n2 -u app-check.service -o cat | grep -q "timed out"'
    check "after 3 failures on n2 too, app runs nowhere and says why" lab_wait_for 20 eval '[[ -z $(app_json n2 owner) ]] && [[ $(app_json n2 note) == *"hactl cleanup"* ]]'
    lab_exec n1 rm -f /run/app-check-fail
    check "fixed on n1 and cleaned up: app runs on n1 again" eval 'lab_hactl n1 cleanup app >/dev/null && lab_wait_for 15 app_owner_is n1'
}

# A check unit written as many oneshots are, with RemainAfterExit=yes: it
# stays active after its script, and a plain start would not run the script
# again. Each probe must run it all the same.
sc_unit_check_remains() {
    more_units() {
        unit app-check.service <<'EOF'
[Unit]
Description=lab check of app (a oneshot that remains active after its script)
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo run >>/run/app-check-runs; test ! -e /run/app-check-fail'
EOF
    }
    HBD_EXTRA=$(app_group '{ unit = "app-check.service", interval = "500ms", timeout = "400ms", rise = 1, fall = 2 }') hbd_cluster_up 2 || return 1
    check "app runs on n1" lab_wait_for 15 app_owner_is n1 || return 1
    check "the unit check passes" lab_wait_for 5 eval '[[ $(check_json n1 state) == healthy ]]'
    local runs; runs=$(lab_exec n1 sh -c 'wc -l </run/app-check-runs')
    check "each probe runs the script again (more runs 2 s later than $runs)" \
        eval 'sleep 2; (( $(lab_exec n1 sh -c "wc -l </run/app-check-runs") >= runs + 3 ))'
    lab_exec n1 touch /run/app-check-fail
    check "the check script fails on n1: app moves to n2" lab_wait_for 20 app_owner_is n2
    check "the journal names the unit's result" journal_has n1 "app-check.service ended with result 'exit-code', exit status 1"
    check "on n2 the unit check passes" lab_wait_for 5 eval '[[ $(check_json n2 state) == healthy ]]'
}

sc_node_check() {
    more_units() {
        # The "uplink" each node checks: a TCP listener of its own.
        unit uplink.service <<'EOF'
[Service]
ExecStart=/usr/bin/socat TCP-LISTEN:8053,bind=127.0.0.1,fork,reuseaddr /dev/null
EOF
        local n
        for n in "${LAB_NODES[@]}"; do lab_exec "$n" systemctl start uplink.service; done
    }
    HBD_EXTRA=$(printf '%s\n[[node_check]]\nname = "uplink"\ncheck = { tcp = "127.0.0.1:8053", interval = "300ms", timeout = "200ms", rise = 2, fall = 2 }\n' "$(app_group "$HTTP_CHECK")") \
        hbd_cluster_up 2 || return 1
    check "web and app run on n1" eval 'hbd_wait_owner n1 15 && lab_wait_for 5 app_owner_is n1' || return 1
    lab_exec n1 systemctl stop uplink.service
    check "n1's node check fails: web and app move to n2" eval 'hbd_wait_owner n2 10 && lab_wait_for 10 app_owner_is n2'
    check "n1 says it is in standby" eval '[[ $(lab_hactl n2 status) == *"node n1: standby"* ]]'
    check "the journal says why" journal_has n1 "node check uplink (tcp 127.0.0.1:8053) failed 2 times in a row: connection to 127.0.0.1:8053 refused; this node is in standby until it passes again"
    lab_exec n1 systemctl start uplink.service
    check "the check passes again: n1 leaves standby and web fails back (auto_failback)" hbd_wait_owner n1 15
    check "... and app too" lab_wait_for 10 app_owner_is n1
}

# A service that refuses connections for 4 s after systemd has started it
# (a Java server, a database in recovery): coming up, not sick. Its check's
# failures until it first rises restart nothing; its start deadline (15 s
# here) bounds the wait.
sc_slow_start() {
    more_units() {
        local n
        for n in "${LAB_NODES[@]}"; do
            mkdir -p "$(lab_node_dir "$n")/system/app.service.d"
            printf '[Service]\nExecStart=\nExecStart=/bin/sh -c "sleep 4; exec /usr/bin/python3 /etc/hbd/app.py"\n' \
                >"$(lab_node_dir "$n")/system/app.service.d/slow.conf"
        done
    }
    HBD_EXTRA=$(app_group "$HTTP_CHECK" 15s) hbd_cluster_up 2 || return 1
    check "app is starting on n1 while app.service refuses connections" \
        lab_wait_for 5 eval '[[ $(app_json n1 state) == starting && $(check_json n1 state) == rising && $(check_json n1 failures) -ge 4 ]]'
    check "it rises once app.service answers: started on n1" lab_wait_for 10 eval '[[ $(app_json n1 state) == started && $(check_json n1 state) == healthy ]]'
    check "nothing was restarted or moved: fail count 0, owner n1" eval '[[ $(app_json n1 failcount) == 0 ]] && app_owner_is n1'
    check "no check-failed event" eval '[[ -z $(hbd_events n1 check-failed) ]]'
}

ALL=(http_500 http_hang http_flap unit_check unit_check_remains slow_start node_check)

run_scenarios "$@"
