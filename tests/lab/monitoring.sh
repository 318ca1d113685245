#!/usr/bin/env bash
# Operating hbd on real systemd machines: a real Prometheus (Debian's
# package) scraping hbd's /metrics through a power cut, and Pacemaker's own
# alert agents (Debian's pacemaker-common, unmodified: file, SMTP, SNMP) run
# by hbd as transient units, in order, one at a time.
#   tests/lab/monitoring.sh            all scenarios
#   tests/lab/monitoring.sh NAME...    some (see the list at the end)
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lab.sh"
source "$here/hbd.sh"
source "$here/scenario_lib.sh"
SCENARIOS_LABEL="lab monitoring"

# What these scenarios need beyond the lab: the real Prometheus and
# Pacemaker's sample agents (the machines see the host's /usr).
need=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
[[ -x /usr/share/pacemaker/alerts/alert_file.sh.sample ]] || need+=(pacemaker-common)
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
        echo "cannot install ${need[*]}"
        exit 1
    }
fi

AGENT=/usr/share/pacemaker/alerts/alert_file.sh.sample
PROM_PID=

# Prometheus runs in the client's namespace (it reaches the nodes on the
# LAN); it goes before the lab does.
eval "$(declare -f lab_on_down | sed '1s/lab_on_down/_journals_on_down/')"
lab_on_down() {
    if [[ -n $PROM_PID ]]; then
        kill "$PROM_PID" 2>/dev/null
        local i
        for ((i = 0; i < 50; i++)); do
            # gone, or exited and waiting to be reaped (state Z)
            [[ $(awk '{print $3}' "/proc/$PROM_PID/stat" 2>/dev/null) == [!Z]* ]] || break
            sleep 0.1
        done
        kill -9 "$PROM_PID" 2>/dev/null
        wait "$PROM_PID" 2>/dev/null
        PROM_PID=
    fi
    _journals_on_down
    return 0
}

prometheus_start() { # TARGET...
    local dir=$LAB_DIR/prometheus t targets=""
    mkdir -p "$dir/data"
    for t in "$@"; do targets+="'$t', "; done
    cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: hbd
    static_configs:
      - targets: [${targets%, }]
EOF
    # Started as a plain command (not through the lab_client function), so
    # that $! is prometheus itself: `ip netns exec` execs it.
    ip netns exec "$LAB_RUN-cl" prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address=127.0.0.1:9090 --log.level=warn </dev/null >"$dir/log" 2>&1 &
    PROM_PID=$!
    lab_wait_for 30 eval 'lab_client curl -sf -o /dev/null http://127.0.0.1:9090/-/ready'
}

# promql QUERY: the values of label `node` in the result, sorted, one line.
promql_nodes() {
    lab_client curl -sf http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(" ".join(sorted(x["metric"].get("node","") for x in r)))'
}
prom_owner_is() { [[ $(promql_nodes 'max by (node) (hbd_group_owner{group="web"} == 1)') == "$1" ]]; }
prom_target_down() {
    [[ $(lab_client curl -sf http://127.0.0.1:9090/api/v1/query --data-urlencode "query=up{instance=\"$1\"} == 0" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))') == 1 ]]
}
scrape() { lab_client curl -sf --max-time 3 "http://$1:9694/metrics"; }
metric() { scrape "$1" | grep -F "$2" | awk '{print $NF}'; }

# ------------------------------------------------------------------ scenarios

sc_prometheus() {
    HBD_EXTRA='[metrics]
listen = "0.0.0.0:9694"'
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    check "a listen address that is not loopback is logged as a warning" event_has n1 metrics-exposed
    check "promtool check metrics passes on n1's /metrics" eval 'scrape 10.77.0.11 | promtool check metrics'
    local m
    m=$(scrape 10.77.0.12)
    check "one-hot states: n2 sees n1 up, web started" eval '[[ $m == *"hbd_node_state{node=\"n1\",state=\"up\"} 1"* && $m == *"hbd_group_state{group=\"web\",state=\"started\"} 1"* && $m == *"hbd_group_state{group=\"web\",state=\"stopped\"} 0"* ]]'
    check "hbd_link_up and a heartbeat age per peer and link" eval '[[ $m == *"hbd_link_up{peer=\"n1\",link=\"hb\"} 1"* && $m == *"hbd_link_heartbeat_age_seconds{peer=\"n1\",link=\"lan\"} "* ]]'
    check "frames are counted on both links" lab_wait_for 5 eval '(( $(metric 10.77.0.12 "hbd_frames_received_total{link=\"hb\"}") > 10 && $(metric 10.77.0.12 "hbd_frames_sent_total{link=\"lan\"}") > 10 ))'
    lab_client python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(b"not a frame", ("10.77.0.12", 694)) for _ in range(3)]'
    check "a datagram that is not a frame is counted as rejected (malformed)" lab_wait_for 3 eval '(( $(metric 10.77.0.12 "hbd_frames_rejected_total{reason=\"malformed\"}") == 3 ))'
    check "hbd_build_info carries the version" eval '[[ $m == *"hbd_build_info{version=\"$(lab_exec n1 /opt/hbd/bin/hactl version | sed -n "s/^hactl //p")\"} 1"* ]]'

    # A second, independent validator of docs/hactl-status.schema.json, where
    # Python's jsonschema is installed.
    if python3 -c 'import jsonschema' 2>/dev/null; then
        check "hactl status --json on n2 validates against the schema (python3 jsonschema)" eval \
            'status_json n2 | python3 -c "import json,sys,jsonschema; jsonschema.validate(json.load(sys.stdin), json.load(open(sys.argv[1])))" "$HBD_REPO/docs/hactl-status.schema.json"'
    fi
    prometheus_start 10.77.0.11:9694 10.77.0.12:9694 || {
        echo "  (prometheus did not become ready:)"
        tail -5 "$LAB_DIR/prometheus/log"
        return 1
    }
    check "PromQL: the owner of web is n1" lab_wait_for 15 prom_owner_is n1

    # A scraper that connects and says nothing holds no more than its slots,
    # and only until the read timeout.
    lab_client python3 - <<'EOF' &
import socket, time
s = [socket.create_connection(("10.77.0.11", 9694)) for _ in range(20)]
time.sleep(8)
EOF
    local idle=$!
    sleep 0.5
    check "a request head over the size limit is refused (431)" eval '[[ $(lab_client curl -s -o /dev/null -w "%{http_code}" -H "X-Pad: $(head -c 9000 /dev/zero | tr "\0" a)" http://10.77.0.12:9694/metrics) == 431 ]]'
    check "idle connections delay no heartbeat: n2 heard n1 within the last second" python3 -c "import sys; sys.exit(0 if float('$(metric 10.77.0.12 'hbd_link_heartbeat_age_seconds{peer="n1",link="hb"}')' or 9) < 1 else 1)"
    check "and hactl status on n1 answers" eval 'lab_hactl n1 status >/dev/null'
    check "idle connections are closed at the read timeout: n1 answers scrapes again" lab_wait_for 8 eval 'scrape 10.77.0.11 >/dev/null'
    kill "$idle" 2>/dev/null
    wait "$idle" 2>/dev/null

    lab_power_cut n1
    check "n2 takes the VIP" hbd_wait_owner n2 6
    check "Prometheus sees n1's target down" lab_wait_for 10 prom_target_down 10.77.0.11:9694
    check "PromQL: the owner of web is now n2" lab_wait_for 10 prom_owner_is n2
    check "n2's view: n1 is dead" eval '[[ $(metric 10.77.0.12 "hbd_node_state{node=\"n1\",state=\"dead\"}") == 1 ]]'
    check "the failover is counted: hbd_group_moves_total{reason=\"failover\"} 1" eval '[[ $(metric 10.77.0.12 "hbd_group_moves_total{group=\"web\",reason=\"failover\"}") == 1 ]]'
    local d
    d=$(metric 10.77.0.12 'hbd_last_failover_duration_seconds{group="web"}')
    echo "  (hbd_last_failover_duration_seconds: ${d:-none})"
    check "failover duration, detection to started, is there and under 5 s" python3 -c "import sys; d=float('${d:-nan}'); sys.exit(0 if 0 < d < 5 else 1)"
    check "promtool check metrics passes on n2 after the failover" eval 'scrape 10.77.0.12 | promtool check metrics'
}

sc_metrics_socket() {
    HBD_EXTRA='[metrics]
listen = "/run/hbd/metrics.sock"'
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    local sock='curl -sf --max-time 3 --unix-socket /run/hbd/metrics.sock http://hbd/metrics'
    check "the unix socket answers (in hbd's RuntimeDirectory)" eval 'lab_exec n1 $sock | grep -q "^hbd_group_owner{group=\"web\",node=\"n1\"} 1$"'
    check "reading is open to all: an unprivileged user scrapes it" eval 'lab_exec n1 setpriv --reuid=labuser --regid=users --clear-groups $sock | promtool check metrics'
    check "no exposure warning for a unix socket" eval '! event_has n1 metrics-exposed'
    # [metrics] is read at start only: a reload that changes it is accepted,
    # says so, and the socket in use stays.
    sed -i 's|/run/hbd/metrics.sock|/run/hbd/metrics-new.sock|' "$(lab_node_dir n1)/etc-hbd/hbd.toml"
    check "a reload that changes [metrics] is accepted" eval 'lab_hactl n1 reload >/dev/null'
    check "... the journal says it takes effect at restart" eval 'hbd_events n1 reload | grep -q "\[metrics\] changed in .*takes effect when hbd restarts"'
    check "... and the socket in use still answers" eval 'lab_exec n1 $sock >/dev/null'
    sed -i 's|/run/hbd/metrics-new.sock|/run/hbd/metrics.sock|' "$(lab_node_dir n1)/etc-hbd/hbd.toml"
    lab_exec n1 systemctl restart hbd
    check "after a restart of hbd the socket is served again" lab_wait_for 10 eval 'lab_exec n1 $sock >/dev/null'
}

# The agent's log on NODE.
alert_log() { lab_exec "$1" cat /var/log/hbd-alerts.log 2>/dev/null; }
# in_order NODE LINE...: each line is in the log, after the one before.
in_order() {
    local node=$1
    shift
    alert_log "$node" | python3 -c '
import sys
log = sys.stdin.read().splitlines()
at = -1
for want in sys.argv[1:]:
    hits = [i for i, l in enumerate(log) if want in l and i > at]
    if not hits:
        print("  (not found after line %d: %s)" % (at + 1, want)); sys.exit(1)
    at = hits[0]
' "$@"
}

sc_alerts() {
    # A second agent of our own shows the ordering: it logs the sequence
    # number at its start and end, takes its time, and hangs on node
    # events (killed at its timeout).
    hbd_before_start() {
        cat >"$LAB_DIR/slow-agent" <<'EOF'
#!/bin/sh
echo "start $CRM_alert_node_sequence $CRM_alert_kind" >>"$CRM_alert_recipient"
if [ "$CRM_alert_kind" = node ] && [ "$CRM_alert_desc" = lost ]; then sleep 600; fi
sleep 0.3
echo "end $CRM_alert_node_sequence" >>"$CRM_alert_recipient"
EOF
        chmod 755 "$LAB_DIR/slow-agent"
        lab_install_bin "$LAB_DIR/slow-agent"
    }
    HBD_EXTRA="[[alert]]
path = \"$AGENT\"
recipient = \"/var/log/hbd-alerts.log\"

[[alert]]
path = \"/opt/hbd/bin/slow-agent\"
recipient = \"/var/log/slow-agent.log\"
timeout = \"2s\""
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    check "n2's agent log: n1 became a member" lab_wait_for 10 in_order n2 "Node 'n1' is now 'member'"
    check "n1's agent log: the VIP, then web.service started on n1" lab_wait_for 10 in_order n1 \
        "Resource operation 'start' for '$HBD_VIP/24' on 'n1': ok" "Resource operation 'start' for 'web.service' on 'n1': ok"
    local t0
    t0=$(date +%s%3N)
    lab_power_cut n1
    check "n2 takes the VIP (the hanging agent delays nothing)" hbd_wait_owner n2 4
    echo "  (failover took $(ms_since "$t0") ms)"
    check "after the failover, n2's agent log holds node-lost, then the resource starts, in order" lab_wait_for 10 in_order n2 \
        "Node 'n1' is now 'member'" "Node 'n1' is now 'lost'" \
        "Resource operation 'start' for '$HBD_VIP/24' on 'n2': ok" "Resource operation 'start' for 'web.service' on 'n2': ok"
    check "the hanging run was killed at its timeout and the next events followed" lab_wait_for 15 eval \
        'lab_exec n2 grep -q "^end" /var/log/slow-agent.log && [[ $(lab_exec n2 tail -1 /var/log/slow-agent.log) == end* ]] && (( $(lab_exec n2 grep -c "^start" /var/log/slow-agent.log) >= 4 ))'
    echo "  (n2's /var/log/hbd-alerts.log, written by Pacemaker's alert_file.sh.sample:)"
    alert_log n2 | sed 's/^/  | /'
    local slow
    slow=$(lab_exec n2 cat /var/log/slow-agent.log)
    check "one event at a time, in sequence order: each run ends before the next starts" python3 -c '
import sys
lines = sys.argv[1].splitlines()
last, open_, killed = 0, None, 0
for l in lines:
    w = l.split()
    n = int(w[1])
    if w[0] == "start":
        if open_ is not None:
            # Only the node-lost run hangs (and is killed): no end for it.
            killed += 1
            if open_[1] != "node" or killed > 1:
                print("  (%d started while %d ran)" % (n, open_[0])); sys.exit(1)
        if n <= last:
            print("  (%d after %d)" % (n, last)); sys.exit(1)
        last, open_ = n, (n, w[2])
    else:
        if open_ is None or open_[0] != n:
            print("  (end %d without its start)" % n); sys.exit(1)
        open_ = None
' "$slow"
    check "the journal says the hanging agent was killed at its timeout" journal_has n2 "did not finish within 2s and was killed"
    # (the last run wrote "end" a moment before its unit is collected)
    check "the agents' runs are gone from systemd (transient, collected)" lab_wait_for 5 eval '[[ -z $(lab_exec n2 systemctl list-units --all --no-legend "hbd-alert-*") ]]'
    lab_exec n2 systemctl stop hbd
    check "systemctl stop hbd: the stops, in reverse order, reach the agent before hbd exits" in_order n2 \
        "Resource operation 'stop' for 'web.service' on 'n2': ok" "Resource operation 'stop' for '$HBD_VIP/24' on 'n2': ok"
}

sc_alerts_fencing() {
    # A fence unit that always succeeds: the order of the alerts is the point.
    hbd_before_start() {
        printf '[Unit]\nDescription=lab fence of %%i\n[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$LAB_DIR/hbd-fence@.service"
        lab_install_unit "$LAB_DIR/hbd-fence@.service"
    }
    HBD_FENCING=required HBD_EXTRA="[[alert]]
path = \"$AGENT\"
recipient = \"/var/log/hbd-alerts.log\"
select = [\"node\", \"fencing\"]" hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    lab_power_cut n1
    check "n2 fences n1 and takes the VIP" hbd_wait_owner n2 10
    check "n2's agent log: n1 lost, then fenced" lab_wait_for 10 in_order n2 \
        "Node 'n1' is now 'lost'" "Fencing Operation off of n1 by n2 for hbd-fence@n1.service: OK"
    check "select = [node, fencing]: no resource events reach the agent" eval '! alert_log n2 | grep -q "Resource operation"'
    alert_log n2 | sed 's/^/  | /'
}

sc_alert_options() {
    # Pacemaker's own e-mail agent, set up as `pcs alert create ... options
    # email_sender=... meta timestamp-format=...` would: the agent calls
    # `sendmail` from its PATH, here a stand-in that logs what it is given.
    hbd_before_start() {
        cat >"$LAB_DIR/sendmail" <<'EOF'
#!/bin/sh
{ echo "sendmail $*"; cat; echo "."; } >>/var/log/hbd-mail.log
EOF
        chmod 755 "$LAB_DIR/sendmail"
        lab_install_bin "$LAB_DIR/sendmail"
        # Debian's snmptrap cannot load Pacemaker's MIB without the IETF
        # MIBs (non-free snmp-mibs-downloader): a stand-in logs the trap
        # the agent builds, argument by argument.
        cat >"$LAB_DIR/snmptrap" <<'EOF'
#!/bin/sh
for a in "$@"; do printf '[%s] ' "$a"; done >>/var/log/hbd-traps.log
echo >>/var/log/hbd-traps.log
EOF
        chmod 755 "$LAB_DIR/snmptrap"
        lab_install_bin "$LAB_DIR/snmptrap"
    }
    HBD_EXTRA="[[alert]]
path = \"/usr/share/pacemaker/alerts/alert_smtp.sh.sample\"
recipient = \"ops@example.com\"
select = [\"node\"]
options = { email_sender = \"ha-alerts\", PATH = \"/opt/hbd/bin:/usr/sbin:/usr/bin:/sbin:/bin\" }
timestamp_format = \"%Y-%m-%d %H:%M:%S.%03N\"

[[alert]]
path = \"/usr/share/pacemaker/alerts/alert_snmp.sh.sample\"
recipient = \"192.0.2.162\"
options = { trap_binary = \"/opt/hbd/bin/snmptrap\", trap_community = \"hbd-lab\", trap_node_states = \"member,lost\" }
timestamp_format = \"%Y-%m-%d,%H:%M:%S.%01N\"" hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    mail_log() { lab_exec n2 cat /var/log/hbd-mail.log 2>/dev/null; }
    check "n2's agent mailed that n1 became a member" lab_wait_for 10 eval 'mail_log | grep -q "^Subject: .*Node .n1. is now .member."'
    mail_log | sed 's/^/  | /'
    check "the sender from options reached the agent (sendmail -t -r ha-alerts@n2)" eval 'mail_log | grep -q "^sendmail -t -r ha-alerts@n2$"'
    check "CRM_alert_timestamp is in timestamp_format (date first, milliseconds)" eval \
        'mail_log | grep -Eq "^Subject: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} .*Node .n1. is now .member."'
    check "the recipient is the alert's" eval 'mail_log | grep -q "^To: ops@example.com$"'
    check "no failed run of the agent in the journal" eval '[[ -z $(hbd_events n2 alert-failed) ]]'
    # Pacemaker's SNMP agent, as its own sample configuration sets it up.
    trap_log() { lab_exec "$1" cat /var/log/hbd-traps.log 2>/dev/null; }
    local p='PACEMAKER-MIB::pacemakerNotification'
    check "n2's SNMP agent sent a trap that n1 became a member, to the recipient with the community from options" lab_wait_for 10 eval \
        'trap_log n2 | grep -F "[-c] [hbd-lab] [192.0.2.162] [] [${p}Trap] [${p}Node] [s] [n1] " | grep -Fq "[${p}Description] [s] [member]"'
    check "n1's SNMP agent sent a trap that web.service started on n1 (rsc, start, rc 0)" lab_wait_for 10 eval \
        'trap_log n1 | grep -F "[${p}Node] [s] [n1] [${p}Resource] [s] [web.service] [${p}Operation] [s] [start]" | grep -Fq "[${p}ReturnCode] [i] [0]"'
    check "the trap carries the event's time (HOST-RESOURCES-MIB::hrSystemDate, from CRM_alert_timestamp_epoch)" eval \
        'trap_log n1 | grep -Eq "\[HOST-RESOURCES-MIB::hrSystemDate\] \[s\] \[[0-9]{4}-[0-9]{2}-[0-9]{2},[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]\]"'
    trap_log n1 | head -3 | sed 's/^/  | /'
    check "no failed run of an agent on n1 either" eval '[[ -z $(hbd_events n1 alert-failed) ]]'
}

ALL=(prometheus metrics_socket alerts alerts_fencing alert_options)
run_scenarios "$@"
