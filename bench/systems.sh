# shellcheck shell=bash
# The three systems under test, each on the same two-node lab cluster with
# the same resource: VIP 10.77.0.60/24 on eth0 + the lab's web.service.
# Sourced by bench/run.sh after tests/lab/lab.sh and tests/lab/hbd.sh.
#
# Per system S:  sys_S_config SETTING   write the configuration (host side)
#                sys_S_start NODE       start the daemon on NODE
#                sys_S_stop NODE        graceful stop (background ok)
#                sys_S_unit             systemd unit name (cgroup for costs)
#                sys_S_switchover / sys_S_switchback   planned move n1 -> n2 -> n1
#                sys_S_link_pattern     journal pattern: the peer saw n1's link go down
#                sys_S_owner_pattern    journal pattern: this node became the owner
#                sys_S_hb_match         iptables match of its heartbeat packets

VIP=10.77.0.60

# ------------------------------------------------------------------ settings
# equal detection / fastest stable, as the issue gives them.
setting_vars() { # SYSTEM SETTING -> sets KA DT WT ID (strings in the system's syntax) and DT_MS
    case $1/$2 in
    hbd/equal)        KA=500ms; DT=2s;    WT=1s;    ID=4s; DT_MS=2000 ;;
    hbd/fast)         KA=50ms;  DT=200ms; WT=100ms; ID=2s; DT_MS=200 ;;
    heartbeat/equal)  KA=500ms; DT=2;     WT=1;     ID=4;  DT_MS=2000 ;;
    heartbeat/fast)   KA=100ms; DT=500ms; WT=300ms; ID=2;  DT_MS=500 ;;
    # VRRPv3: master down interval = 3 x advert + skew, skew = (256 - 100) / 256 x advert
    keepalived/equal) KA=0.5;   DT=-;     WT=-;     ID=-;  DT_MS=1805 ;;
    keepalived/fast)  KA=0.1;   DT=-;     WT=-;     ID=-;  DT_MS=361 ;;
    # the frontier ladder (bench/run.sh --frontier): dMS = deadtime MS,
    # keepalive = deadtime / 4, warntime = deadtime / 2, initdead = 2 x
    # deadtime (at least 2 s); aX = VRRPv3 advert_int X
    hbd/d[0-9]*|heartbeat/d[0-9]*)
        DT_MS=${2#d}
        [[ $DT_MS =~ ^[0-9]+$ ]] || { echo "bad setting $1/$2" >&2; return 1; }
        KA=$(_bench_ms $(( DT_MS * 1000 / 4 ))); WT=$(_bench_ms $(( DT_MS * 1000 / 2 )))
        DT=$(_bench_ms $(( DT_MS * 1000 ))); ID=$(_bench_ms $(( (DT_MS * 2 > 2000 ? DT_MS * 2 : 2000) * 1000 )))
        # ha.cf: whole seconds as bare numbers ("deadtime 2"), as the equal setting
        if [[ $1 == heartbeat ]]; then local v; for v in KA WT DT ID; do [[ ${!v} =~ ^[0-9]+s$ ]] && printf -v "$v" '%s' "${!v%s}"; done; fi ;;
    keepalived/a[0-9]*)
        KA=${2#a}; DT=-; WT=-; ID=-
        [[ $KA =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bad setting $1/$2" >&2; return 1; }
        DT_MS=$(awk -v a="$KA" 'BEGIN { printf "%d", a * 1000 * (3 + 156 / 256) + 0.5 }') ;;
    # VIP-only ("telecom-grade"): a group of just the VIP, web.service a
    # [[respawn]] unit on both nodes (sys_hbd_config)
    hbd/vip)          KA=10ms;  DT=50ms;  WT=25ms;  ID=2s; DT_MS=50 ;;
    *) echo "unknown system/setting $1/$2" >&2; return 1 ;;
    esac
}
_bench_ms() { # MICROSECONDS -> "250ms" / "12500us" / "2s" (hbd's and Heartbeat's syntax)
    if (( $1 % 1000000 == 0 )); then echo "$(( $1 / 1000000 ))s"
    elif (( $1 % 1000 == 0 )); then echo "$(( $1 / 1000 ))ms"
    else echo "$1us"; fi
}
setting_label() { # SYSTEM SETTING -> human text
    setting_vars "$1" "$2" || return 1
    case $1 in
    hbd) echo "keepalive $KA, deadtime $DT$([[ $2 == vip ]] && echo "; group = VIP only, web.service a [[respawn]] unit")" ;;
    heartbeat) echo "keepalive $KA, deadtime $DT" ;;
    keepalived) echo "VRRPv3 advert_int $KA" ;;
    esac
}

# ------------------------------------------------------------------ hbd
sys_hbd_unit() { echo hbd.service; }
sys_hbd_config() {
    setting_vars hbd "$1"
    export HBD_KEEPALIVE=$KA HBD_DEADTIME=$DT HBD_WARNTIME=$WT HBD_INITDEAD=$ID
    export HBD_LINKS="ucast bcast" HBD_AUTO_FAILBACK=true
    hbd_install_all 2 >/dev/null || return 1
    [[ $1 == vip ]] || return 0
    # VIP-only: the group is the VIP alone; web.service runs on every node
    local tmp; tmp=$(mktemp)
    HBD_EXTRA=$'[[respawn]]\nunit = "web.service"' hbd_config 2 | sed '/{ unit = "web.service" },/d' >"$tmp"
    lab_install_config "$tmp" hbd.toml
    rm -f "$tmp"
}
sys_hbd_start() { lab_exec "$1" systemctl start hbd; }
sys_hbd_stop() { lab_exec "$1" systemctl stop hbd; }
# hactl standby needs the D-Bus API (dbus-interfaces/org.hbd1.conf); without
# it a planned switchover is a graceful stop of hbd on the owner (it hands
# its groups over before exiting).
sys_hbd_has_hactl() { [[ -f $HBD_REPO/dbus-interfaces/org.hbd1.conf ]] && lab_hactl n1 status >/dev/null 2>&1; }
sys_hbd_switch_how() { if sys_hbd_has_hactl; then echo "hactl standby"; else echo "systemctl stop hbd"; fi; }
sys_hbd_switchover() {
    if [[ $SWITCH_HOW == "hactl standby" ]]; then lab_hactl n1 standby; else lab_exec n1 systemctl stop hbd; fi
}
sys_hbd_switchback() {
    if [[ ${SWITCH_HOW:-} == "hactl standby" ]]; then lab_hactl n1 unstandby; else lab_exec n1 systemctl start hbd; fi
}
sys_hbd_link_pattern() { echo 'link n1:hb down'; }
sys_hbd_dead_pattern() { echo 'node n1 is dead'; }
sys_hbd_owner_pattern() { echo 'taking over group web'; }
sys_hbd_hb_match() { echo "-p udp --dport 694"; }

# ------------------------------------------------------------------ Heartbeat 3.0.6
# haresources: n1 IPaddr2::10.77.0.60/24/eth0 web ; resource.d/web wraps
# systemctl.  Links as hbd's: ucast on eth1 + bcast on eth0.
sys_heartbeat_unit() { echo heartbeat.service; }
sys_heartbeat_config() {
    setting_vars heartbeat "$1"
    local d=$BENCH_WORK/ha
    rm -rf "$d"; mkdir -p "$d"
    cp -a /etc/ha.d "$d/ha.d"
    cat >"$d/ha.d/ha.cf" <<EOF
logfacility daemon
keepalive $KA
warntime $WT
deadtime $DT
initdead $ID
udpport 694
ucast eth1 10.78.0.11
ucast eth1 10.78.0.12
bcast eth0
auto_failback on
node n1
node n2
crm no
EOF
    echo "n1 IPaddr2::$VIP/24/eth0 web" >"$d/ha.d/haresources"
    printf 'auth 1\n1 sha1 %s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$d/ha.d/authkeys"
    chmod 600 "$d/ha.d/authkeys"
    cat >"$d/ha.d/resource.d/web" <<'EOF'
#!/bin/sh
# Heartbeat resource script: the lab's web.service
case "$1" in
start) /bin/systemctl start web.service ;;
stop) /bin/systemctl stop web.service ;;
status) if /bin/systemctl -q is-active web.service; then echo running; else echo stopped; exit 3; fi ;;
*) echo "usage: $0 start|stop|status"; exit 2 ;;
esac
EOF
    chmod 755 "$d/ha.d/resource.d/web"
    local n; for n in "${LAB_NODES[@]}"; do sys_heartbeat_prepare "$n"; done
}
# /etc and /var are fresh on every boot: put /etc/ha.d, the hacluster user
# and /var/lib/heartbeat back (called from lab_on_boot too).
sys_heartbeat_prepare() {
    [[ -d $BENCH_WORK/ha/ha.d ]] || return 0
    tar -C "$BENCH_WORK/ha" -c ha.d | lab_exec "$1" tar -C /etc -x || return 1
    tar -C / -c var/lib/heartbeat 2>/dev/null | lab_exec "$1" tar -C / -x
    lab_exec "$1" sh -c 'getent passwd hacluster >/dev/null || useradd -r -M -g haclient -d /var/lib/heartbeat hacluster
        mkdir -p /var/lib/heartbeat/cores/root /var/lib/heartbeat/cores/hacluster /var/run/heartbeat/rsctmp
        chown -R hacluster:haclient /var/lib/heartbeat /var/lib/heartbeat/cores/hacluster'
}
sys_heartbeat_start() { lab_exec "$1" systemctl start heartbeat; }
sys_heartbeat_stop() { lab_exec "$1" systemctl stop heartbeat; }
sys_heartbeat_switch_how() { echo hb_standby; }
sys_heartbeat_switchover() { lab_exec n1 /usr/share/heartbeat/hb_standby >/dev/null 2>&1; }
sys_heartbeat_switchback() { lab_exec n1 /usr/share/heartbeat/hb_takeover >/dev/null 2>&1; }
sys_heartbeat_link_pattern() { echo 'Link n1:eth1 dead'; }
sys_heartbeat_dead_pattern() { echo 'node n1: is dead'; }
sys_heartbeat_owner_pattern() { echo 'IPaddr2.* start'; }
sys_heartbeat_hb_match() { echo "-p udp --dport 694"; }

# ------------------------------------------------------------------ keepalived 2.2.7
# VRRPv3 on eth0 (multicast), priorities 150 (n1) / 100 (n2), preemption on;
# notify scripts start/stop web.service.
sys_keepalived_unit() { echo keepalived.service; }
sys_keepalived_config() {
    setting_vars keepalived "$1"
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
vrrp_instance web {
    state BACKUP
    interface eth0
    virtual_router_id 60
    priority $prio
    advert_int $KA
    virtual_ipaddress {
        $VIP/24 dev eth0
    }
    notify_master "/bin/systemctl start web.service"
    notify_backup "/bin/systemctl stop web.service"
    notify_fault "/bin/systemctl stop web.service"
    notify_stop "/bin/systemctl stop web.service"
}
EOF
        sys_keepalived_prepare "$n"
    done
}
sys_keepalived_prepare() {
    [[ -r $BENCH_WORK/ka/$1/keepalived.conf ]] || return 0
    lab_exec "$1" mkdir -p /etc/keepalived &&
        lab_exec "$1" tee /etc/keepalived/keepalived.conf <"$BENCH_WORK/ka/$1/keepalived.conf" >/dev/null
}
sys_keepalived_start() { lab_exec "$1" systemctl start keepalived; }
sys_keepalived_stop() { lab_exec "$1" systemctl stop keepalived; }
sys_keepalived_switch_how() { echo "systemctl stop keepalived"; }
sys_keepalived_switchover() { lab_exec n1 systemctl stop keepalived; }
sys_keepalived_switchback() { lab_exec n1 systemctl start keepalived; }
sys_keepalived_link_pattern() { echo '-'; }
sys_keepalived_dead_pattern() { echo 'Entering MASTER STATE'; }
sys_keepalived_owner_pattern() { echo 'Entering MASTER STATE'; }
sys_keepalived_hb_match() { echo "-p vrrp"; }

# ------------------------------------------------------------------ dispatch
sys() { local s=$1 f=$2; shift 2; "sys_${s}_$f" "$@"; }

# lab_on_boot hook: files that live in the volatile /etc of a node.
lab_on_boot() {
    case ${BENCH_SYSTEM:-} in
    heartbeat) sys_heartbeat_prepare "$1" ;;
    keepalived) sys_keepalived_prepare "$1" ;;
    esac
    return 0
}
