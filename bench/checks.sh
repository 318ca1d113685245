# shellcheck shell=bash
# Health-check benchmark (bench/run.sh --checks; also part of the full and
# the quick run). Sourced by bench/run.sh after systems.sh.
#
# 1. Sick service -> first good answer from the peer on the VIP. The web
#    unit is a small HTTP server answering with the node's name and the
#    status code in /run/web-health (200 unless set). Per run: the client
#    probes the VIP every 5 ms (only 200 answers count), `echo 500 >
#    /run/web-health` on the owner n1, time until the first 200 answer from
#    n2; then n1 is made healthy again and the group brought back.
#    Cells (fastest heartbeat setting of each system):
#      hbd  interval 200ms, timeout 150ms, fall 3, rise 1, migration_threshold 1
#           (fails over at the first failed check sequence: like keepalived)
#      hbd  the same with migration_threshold 3 (the default) and timeout 2s
#           on web.service: restarted in place once; the restart, still
#           sick, has not risen by its start deadline (2s), then the move
#      hbd  interval 1s, timeout 500ms, fall 3, rise 1, migration_threshold 1
#           (keepalived's shortest vrrp_script interval)
#      keepalived  vrrp_script curl, interval 1, timeout 1, fall 3, rise 1,
#           track_script without weight (a failing script puts the instance in
#           FAULT; the peer takes over). keepalived 2.2.7 refuses a
#           sub-second interval ("invalid number '0.2'", the parser reads an
#           integer): interval 1 is its fastest. web.service runs on both
#           nodes (keepalived's usual set-up: its check runs on the backup
#           too, and a backup without the service would go FAULT as well).
# 2. CPU cost of 100 HTTP checks at 1 s interval on one node: CPU time of
#    hbd's unit (usage_usec of its cgroup) over CHK_COST_S with 100
#    [[node_check]] http checks against a local server, and over the same
#    window without them, same cluster; then HAProxy's 100 checks of the
#    same server, measured the same way; then the floor under both (the
#    same probes made the barest way, see chk_bare_cost).

CHK_HTTP_PORT=80
# The program of the bench's web.service (a file: too long for ExecStart=).
CHK_WEB_PY='import http.server, socket, sys
name = (socket.gethostname() + "\n").encode()
port = int(sys.argv[1]) if len(sys.argv) > 1 else 80
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        try: code = int(open("/run/web-health").read().strip() or 200)
        except (OSError, ValueError): code = 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    # 100 checks connect within the same few ms: the default backlog of 5
    # drops most of their SYNs (only 25 of 100 passed with it)
    request_queue_size = 1024
    daemon_threads = True
S(("0.0.0.0", port), H).serve_forever()
'

chk_install_web() { # the bench's web.service (and chk-target.service) on every node
    local n d
    for n in "${LAB_NODES[@]}"; do
        d=$(lab_node_dir "$n")
        printf '%s' "$CHK_WEB_PY" >"$d/etc-hbd/bench-web.py"
        cat >"$d/system/web.service" <<'EOF'
[Unit]
Description=bench web server (answers with the node name; HTTP status from /run/web-health)
After=network.target
[Service]
Type=simple
Restart=on-failure
RestartSec=200ms
ExecStart=/usr/bin/python3 /etc/hbd/bench-web.py 80
EOF
        # the target of the cost measurement's 100 checks (always healthy:
        # the same server on port 8081; nothing writes its health file)
        cat >"$d/system/chk-target.service" <<'EOF'
[Unit]
Description=bench: the target of 100 HTTP node checks
[Service]
ExecStart=/usr/bin/python3 /etc/hbd/bench-web.py 8081
EOF
        lab_exec "$n" systemctl daemon-reload
    done
}
chk_health() { lab_exec "$1" sh -c "echo $2 > /run/web-health"; }

# cell ids: hbd-200ms-mt1 hbd-200ms-mt3 hbd-1s-mt1 keepalived-1s
chk_cell_label() {
    case $1 in
    hbd-200ms-mt1) echo "hbd: interval 200ms, timeout 150ms, fall 3, migration_threshold 1 (moves at once)" ;;
    hbd-200ms-mt3) echo "hbd: interval 200ms, timeout 150ms, fall 3, migration_threshold 3 (default: restarted in place, the restart does not rise within web.service's timeout 2s, then moves)" ;;
    hbd-1s-mt1) echo "hbd: interval 1s, timeout 500ms, fall 3, migration_threshold 1" ;;
    keepalived-1s) echo "keepalived: vrrp_script curl, interval 1, timeout 1, fall 3 (FAULT)" ;;
    esac
}

chk_hbd_config() { # INTERVAL TIMEOUT MT [EXTRA_TOML [UNIT_TIMEOUT]]
    setting_vars hbd fast
    local tmp unit_timeout=""; tmp=$(mktemp)
    [[ -n ${5:-} ]] && unit_timeout="timeout = \"$5\", "
    HBD_KEEPALIVE=$KA HBD_DEADTIME=$DT HBD_WARNTIME=$WT HBD_INITDEAD=$ID HBD_LINKS="ucast bcast" \
        HBD_AUTO_FAILBACK=true HBD_MIGRATION_THRESHOLD=$3 HBD_EXTRA=${4:-} hbd_config 2 |
        sed "s#{ unit = \"web.service\" }#{ unit = \"web.service\", ${unit_timeout}check = { http = \"http://127.0.0.1:$CHK_HTTP_PORT/health\", expect = 200, interval = \"$1\", timeout = \"$2\", rise = 1, fall = 3 } }#" >"$tmp"
    lab_install_config "$tmp" hbd.toml
    rm -f "$tmp"
}

chk_keepalived_config() {
    setting_vars keepalived fast
    local n prio
    for n in "${LAB_NODES[@]}"; do
        prio=100; [[ $n == n1 ]] && prio=150
        mkdir -p "$BENCH_WORK/ka/$n"
        cat >"$BENCH_WORK/ka/$n/keepalived.conf" <<EOF
global_defs {
    router_id $n
    script_user root
    enable_script_security
    vrrp_version 3
}
vrrp_script chk_web {
    script "/usr/bin/curl -sf -o /dev/null --max-time 0.5 http://127.0.0.1:$CHK_HTTP_PORT/health"
    interval 1
    timeout 1
    fall 3
    rise 1
}
vrrp_instance web {
    state BACKUP
    interface eth0
    virtual_router_id 60
    priority $prio
    advert_int $KA
    virtual_ipaddress {
        $VIP/24 dev eth0
    }
    track_script {
        chk_web
    }
}
EOF
        sys_keepalived_prepare "$n"
    done
}

# the cluster of one cell, up and serving from n1
chk_cluster_up() { # CELL
    local c=$1
    BENCH_SYSTEM=${c%%-*}
    lab_up 2 >/dev/null 2>&1 || { log "lab_up failed"; return 1; }
    echo "$LAB_RUN" >>"$BENCH_RUNS"
    chk_install_web
    case $c in
    hbd-*)
        sys_hbd_config fast
        case $c in
        hbd-200ms-mt1) chk_hbd_config 200ms 150ms 1 ;;
        hbd-200ms-mt3) chk_hbd_config 200ms 150ms 3 "" 2s ;;
        hbd-1s-mt1) chk_hbd_config 1s 500ms 1 ;;
        esac
        sys hbd start n1 & sys hbd start n2 & wait
        ;;
    keepalived-*)
        chk_keepalived_config
        lab_exec n1 systemctl start web.service; lab_exec n2 systemctl start web.service
        sys keepalived start n1 & sys keepalived start n2 & wait
        ;;
    esac
    wait_owner n1 60 || { log "$c: the VIP never came up on n1"; return 1; }
    sleep 2
}

# restore after a run: n1 healthy again and the owner
chk_restore() { # CELL
    chk_health n1 200
    case $1 in
    hbd-*) lab_hactl n1 cleanup web >/dev/null 2>&1 ;;
    esac
    wait_owner n1 60 || { log "$1: n1 did not get the VIP back"; return 1; }
    [[ $1 == hbd-* ]] && { lab_wait_for 20 web_inactive n2 || log "$1: web.service still active on n2"; }
    sleep 1.5
}

chk_one_run() { # CELL RUN
    local c=$1 r=$2 pf="$BENCH_WORK/chk-probe-$1-$2" t pp res ms outcome gap det
    owner_is n1 || wait_owner n1 30 || { echo "$c,$r,,not-ready," >>"$CHKCSV"; return 1; }
    probe --vip "$VIP" --out "$pf" --period 5 --timeout 0.3 --max 25 --until-other 3 --linger 0.2 &
    pp=$!
    _chk_probe_ready() { [[ -s $pf ]] && (( $(wc -l <"$pf") >= 5 )) && [[ $(tail -n 5 "$pf" | awk '{ print $2 }' | sort -u) == n1 ]]; }
    if ! lab_wait_for 5 _chk_probe_ready; then
        kill "$pp" 2>/dev/null; wait "$pp"
        echo "$c,$r,,not-ready," >>"$CHKCSV"; return 1
    fi
    # the service turns sick at a random point of the check's interval (see
    # one_run in run.sh: the steps before take the same time in every run)
    lab_random_phase
    t=$(now_ms)
    chk_health n1 500
    wait "$pp"
    res=$("$PY" "$here/report.py" probe "$pf" "$t" n1)
    read -r ms outcome gap <<<"$res"
    # when n1 declared the service sick (hbd: "failed 3 times in a row";
    # keepalived: the script's failure / FAULT)
    case $c in
    hbd-*) det=$(journal_delay n1 "$t" 'failed [0-9]+ times in a row') ;;
    keepalived-*) det=$(journal_delay n1 "$t" 'Entering FAULT STATE|chk_web.* failed') ;;
    esac
    echo "$c,$r,$ms,$outcome,detect=${det}" >>"$CHKCSV"
    log "checks $c #$r: ${ms:-none} ms ($outcome; n1 saw it sick after ${det:-?} ms)"
    if [[ $outcome != failover ]]; then
        journal_after n1 "$(( t - 1000 ))" >"$RAW_DIR/failed-checks-$c-$r-n1.txt"
        journal_after n2 "$(( t - 1000 ))" >"$RAW_DIR/failed-checks-$c-$r-n2.txt"
        cp "$pf" "$RAW_DIR/failed-checks-$c-$r-probe.txt"
    fi
    # one timeline per cell (the last run's)
    journal_after n1 "$(( t - 500 ))" >"$BENCH_WORK/journal-checks-$c-n1.txt"
    journal_after n2 "$(( t - 500 ))" >"$BENCH_WORK/journal-checks-$c-n2.txt"
    echo "$t" >"$BENCH_WORK/journal-checks-$c.t"
    chk_restore "$c"
}

chk_cells() {
    local only=$1 c out=()
    for c in ${CHK_ONLY_CELLS:-hbd-200ms-mt1 hbd-200ms-mt3 hbd-1s-mt1 keepalived-1s}; do
        [[ ",$only," == *",${c%%-*},"* ]] && out+=("$c")
    done
    echo "${out[*]}"
}

# CPU of 100 HTTP checks at 1 s interval: hbd's cgroup on n1, CHK_COST_S
# without node checks, then CHK_COST_S with 100 (same cluster, reloaded).
chk_hundred() {
    local i
    for ((i = 0; i < 100; i++)); do
        printf '[[node_check]]\nname = "http-%03d"\ncheck = { http = "http://127.0.0.1:8081/check/%03d", interval = "1s", timeout = "500ms", rise = 1, fall = 3 }\n\n' "$i" "$i"
    done
}
chk_node_checks_healthy() { # NODE -> count of healthy node checks
    lab_hactl "$1" status --json 2>/dev/null | "$PY" -c 'import json,sys
d = json.load(sys.stdin)
me = [n for n in d["nodes"] if n.get("local")]
print(sum(1 for c in (me[0].get("checks") or []) if c.get("state") == "healthy") if me else 0)' 2>/dev/null || echo 0
}
# CPU time of UNIT's cgroup on NODE in µs: cgroup v2's usage_usec, exact
# and counting processes that have exited, where /proc's utime+stime count
# in 10 ms ticks (a twentieth of a percent of a 20 s window per reading).
chk_cpu_us() { # NODE UNIT
    lab_exec "$1" sh -c 'cg=$(systemctl show -P ControlGroup '"$2"')
        for d in /sys/fs/cgroup/unified /sys/fs/cgroup; do
            [ -n "$cg" ] && [ -r "$d$cg/cpu.stat" ] && { awk "/^usage_usec/ { print \$2 }" "$d$cg/cpu.stat"; exit; }
        done
        echo 0'
}
chk_window() { # NODE UNIT -> "cpu_ms,window_ms" over CHK_COST_S
    local c0 c1 t0 t1
    c0=$(chk_cpu_us "$1" "$2"); t0=$(now_ms); sleep "$CHK_COST_S"; c1=$(chk_cpu_us "$1" "$2"); t1=$(now_ms)
    echo "$(( (c1 - c0) / 1000 )),$((t1 - t0))"
}
chk_cost() {
    log "=== checks: CPU of 100 HTTP checks at 1 s interval (hbd's unit on n1, ${CHK_COST_S} s windows)"
    BENCH_SYSTEM=hbd
    lab_up 2 >/dev/null 2>&1 || { log "lab_up failed"; return 1; }
    echo "$LAB_RUN" >>"$BENCH_RUNS"
    chk_install_web
    sys_hbd_config fast
    local n
    for n in n1 n2; do lab_exec "$n" systemctl start chk-target.service; done
    sys hbd start n1 & sys hbd start n2 & wait
    wait_owner n1 60 || { log "checks cost: the VIP never came up"; lab_down >/dev/null 2>&1; return 1; }
    sleep 3
    local base with healthy
    base=$(chk_window n1 hbd.service)
    # the same configuration with 100 node checks, on both nodes, reloaded
    local tmp; tmp=$(mktemp)
    setting_vars hbd fast
    HBD_KEEPALIVE=$KA HBD_DEADTIME=$DT HBD_WARNTIME=$WT HBD_INITDEAD=$ID HBD_LINKS="ucast bcast" \
        HBD_AUTO_FAILBACK=true HBD_EXTRA=$(chk_hundred) hbd_config 2 >"$tmp"
    lab_install_config "$tmp" hbd.toml; rm -f "$tmp"
    for n in n1 n2; do lab_hactl "$n" reload >/dev/null 2>&1; done
    if ! lab_wait_for 15 eval '(( $(chk_node_checks_healthy n1) == 100 ))'; then
        log "checks cost: not 100 healthy node checks after reload ($(chk_node_checks_healthy n1)); restarting hbd"
        for n in n1 n2; do lab_exec "$n" systemctl restart hbd; done
        lab_wait_for 20 eval '(( $(chk_node_checks_healthy n1) == 100 ))' || log "checks cost: $(chk_node_checks_healthy n1) healthy node checks"
    fi
    healthy=$(chk_node_checks_healthy n1)
    sleep 3
    with=$(chk_window n1 hbd.service)
    # system,checks,cpu_ms,window_ms,healthy
    echo "hbd,0,$base,0" >>"$CHKCOST"
    echo "hbd,100,$with,$healthy" >>"$CHKCOST"
    log "checks cost: hbd without ${base%,*} ms CPU, with 100 checks ${with%,*} ms CPU ($healthy healthy)"
    for n in n1 n2; do lab_exec "$n" systemctl stop hbd.service; done
    chk_haproxy_cost
    chk_bare_cost
    lab_down >/dev/null 2>&1
}

# The floor: the same 100 probes a second made the barest way
# (examples/bare_probes: one thread, blocking sockets, the request hbd
# sends, the status line read, close), hbd stopped, measured the same way.
# What it costs is the kernel's work for 100 new TCP connections a second
# (on loopback the server's share too, in the prober's context): what any
# checker opening a connection per probe pays on this host. Its idle cost
# (ten sleeps a second) is not measured.
chk_bare_cost() {
    local bin=$HBD_BIN/examples/bare_probes w ok
    if [[ ! -x $bin ]]; then
        log "checks cost: no $bin (cargo build --release --examples), the floor's figure skipped"
        return 0
    fi
    lab_install_bin "$bin"
    lab_exec n1 systemd-run --quiet --unit=chk-bare /opt/hbd/bin/bare_probes 127.0.0.1:8081 100 /run/chk-bare ||
        { log "checks cost: bare_probes did not start"; return 0; }
    sleep 5
    w=$(chk_window n1 chk-bare.service)
    ok=$(lab_exec n1 cat /run/chk-bare 2>/dev/null || echo 0)
    lab_exec n1 systemctl is-active -q chk-bare.service || { log "checks cost: bare_probes stopped"; return 0; }
    lab_exec n1 systemctl stop chk-bare.service
    echo "bare,100,$w,$ok" >>"$CHKCOST"
    log "checks cost: bare probes, 100 a second, ${w%,*} ms CPU ($ok of the last second's answered 200)"
}

# The same 100 checks made by HAProxy (Debian's 2.6), the prober most
# set-ups already run, against the same server on the same node, hbd
# stopped: 100 servers with `option httpchk`, `inter 1s`, one thread (as
# hbd's), then the same 100 servers without `check` for its own idle cost.
chk_haproxy_cfg() { # CHECK ("check" or "")
    local i
    printf 'global\n    nbthread 1\n    stats socket /run/chk-haproxy.sock level user\n'
    printf 'defaults\n    mode http\n    timeout connect 500ms\n    timeout check 500ms\n    timeout client 5s\n    timeout server 5s\n'
    printf 'backend checks\n    option httpchk GET /check\n    default-server inter 1s fall 3 rise 1\n'
    for ((i = 0; i < 100; i++)); do printf '    server s%03d 127.0.0.1:8081 %s\n' "$i" "$1"; done
}
chk_haproxy_up() { # NODE -> servers UP
    lab_exec "$1" "$PY" -c 'import socket
s = socket.socket(socket.AF_UNIX); s.connect("/run/chk-haproxy.sock"); s.sendall(b"show stat\n")
out = b""
while True:
    b = s.recv(65536)
    if not b: break
    out += b
print(sum(1 for l in out.decode().splitlines() if l.startswith("checks,s") and ",UP" in l))' 2>/dev/null || echo 0
}
chk_haproxy_cost() {
    if [[ ! -x /usr/sbin/haproxy ]]; then
        log "checks cost: no /usr/sbin/haproxy, HAProxy's figure skipped"
        return 0
    fi
    local d k w up
    d=$(lab_node_dir n1)/etc-hbd
    for k in 0 100; do
        chk_haproxy_cfg "$([[ $k == 100 ]] && echo check)" >"$d/chk-haproxy.cfg"
        lab_exec n1 systemd-run --quiet --unit=chk-haproxy /usr/sbin/haproxy -db -f /etc/hbd/chk-haproxy.cfg ||
            { log "checks cost: HAProxy did not start"; return 0; }
        sleep 5
        up=0
        ((k == 100)) && up=$(chk_haproxy_up n1)
        w=$(chk_window n1 chk-haproxy.service)
        lab_exec n1 systemctl is-active -q chk-haproxy.service || { log "checks cost: HAProxy stopped"; return 0; }
        lab_exec n1 systemctl stop chk-haproxy.service
        echo "haproxy,$k,$w,$up" >>"$CHKCOST"
        log "checks cost: HAProxy with $k checks ${w%,*} ms CPU ($up up)"
    done
}

bench_checks() { # SYSTEMS (comma list)
    CHKCSV=$RAW/checks.csv CHKCOST=$RAW/checks-cost.csv
    echo "cell,run,ms,outcome,detail" >"$CHKCSV"
    echo "system,checks,cpu_ms,window_ms,healthy" >"$CHKCOST"
    echo "checks_load_before=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/meta.txt"
    local c r
    for c in $(chk_cells "$1"); do
        log "=== checks: $(chk_cell_label "$c")"
        if ! chk_cluster_up "$c"; then
            echo "$c,0,,no-cluster," >>"$CHKCSV"; lab_down >/dev/null 2>&1; continue
        fi
        for ((r = 1; r <= CHK_RUNS; r++)); do
            chk_one_run "$c" "$r" || break
        done
        cp "$BENCH_WORK"/journal-checks-"$c"* "$RAW/" 2>/dev/null
        lab_down >/dev/null 2>&1
    done
    [[ ",$1," == *",hbd,"* ]] && chk_cost
    # keepalived's answer to a sub-second vrrp_script interval, for the record
    if [[ ",$1," == *",keepalived,"* ]] && command -v keepalived >/dev/null; then
        printf 'vrrp_script chk { script "/bin/true"\n interval 0.2\n timeout 0.15\n}\n' >"$BENCH_WORK/ka-test.conf"
        keepalived --config-test -f "$BENCH_WORK/ka-test.conf" >"$RAW/keepalived-subsecond.txt" 2>&1
    fi
    echo "checks_load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/meta.txt"
}
