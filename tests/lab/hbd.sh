#!/usr/bin/env bash
# hbd on top of the lab: write a cluster config and key, install the built
# binaries, the unit and the bus policy into every node, start hbd.
# Source after lab.sh. Variables a test may set before hbd_cluster_up:
#   HBD_AUTO_FAILBACK (true) HBD_KEEPALIVE (200ms) HBD_DEADTIME (2s)
#   HBD_WARNTIME (1s) HBD_INITDEAD (6s) HBD_LINKS ("ucast bcast"|"serial"|…)
#   HBD_PING (1: ping host 10.77.0.1) HBD_EXTRA (appended TOML)
HBD_REPO=${HBD_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HBD_BIN=${HBD_BIN:-$HBD_REPO/target/debug}
HBD_VIP=${HBD_VIP:-10.77.0.60}

hbd_config() { # N: print a hbd.toml for nodes n1..nN
    local n=$1 i peers=""
    for ((i = 1; i <= n; i++)); do peers+="\"10.78.0.1$i\", "; done
    cat <<TOML
[cluster]
name = "lab"
keepalive = "${HBD_KEEPALIVE:-200ms}"
warntime = "${HBD_WARNTIME:-1s}"
deadtime = "${HBD_DEADTIME:-2s}"
initdead = "${HBD_INITDEAD:-6s}"
auto_failback = ${HBD_AUTO_FAILBACK:-true}
migration_threshold = ${HBD_MIGRATION_THRESHOLD:-3}
fencing = "${HBD_FENCING:-off}"
TOML
    for ((i = 1; i <= n; i++)); do printf '\n[[node]]\nname = "n%d"\n' "$i"; done
    local l
    for l in ${HBD_LINKS:-ucast bcast}; do
        case $l in
        ucast) printf '\n[[link]]\nname = "hb"\ntype = "ucast"\ninterface = "eth1"\npeers = [%s]\n' "${peers%, }" ;;
        bcast) printf '\n[[link]]\nname = "lan"\ntype = "bcast"\ninterface = "eth0"\n' ;;
        serial) printf '\n[[link]]\nname = "null-modem"\ntype = "serial"\ndevice = "/dev/ttyHB0"\nbaud = 115200\n' ;;
        esac
    done
    if [[ ${HBD_PING:-0} == 1 ]]; then printf '\n[ping]\nhosts = ["10.77.0.1"]\ninterval = "500ms"\ntimeout = "500ms"\n'; fi
    cat <<TOML

[[group]]
name = "web"
preferred = "n1"
resources = [
  { vip = "$HBD_VIP/24", interface = "eth0" },
  { unit = "web.service" },
]
TOML
    [[ -n ${HBD_EXTRA:-} ]] && printf '\n%s\n' "$HBD_EXTRA"
    return 0
}

# hbd_cluster_up N [lab_up options]: lab with N nodes running hbd.
hbd_cluster_up() {
    local n=$1
    shift
    lab_up "$n" "$@" || return 1
    hbd_install_all "$n"
    # a test's own units and files, before hbd first looks at them
    if declare -F hbd_before_start >/dev/null; then hbd_before_start || return 1; fi
    local i
    for ((i = 1; i <= n; i++)); do lab_exec "n$i" systemctl start hbd & done
    wait
}

hbd_install_all() {
    local n=$1 tmp
    tmp=$(mktemp -d)
    hbd_config "$n" >"$tmp/hbd.toml"
    printf '1 %s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$tmp/authkey"
    chmod 600 "$tmp/authkey"
    lab_install_bin "$HBD_BIN/hbd" "$HBD_BIN/hactl"
    lab_install_unit "$HBD_REPO/units/hbd.service"
    if [[ -f $HBD_REPO/dbus-interfaces/org.hbd1.conf ]]; then
        lab_install_dbus_policy "$HBD_REPO/dbus-interfaces/org.hbd1.conf"
    else
        # A tree without the bus API: run hbd without it.
        local n
        for n in "${LAB_NODES[@]}"; do
            mkdir -p "$(lab_node_dir "$n")/system/hbd.service.d"
            printf '[Service]\nExecStart=\nExecStart=/opt/hbd/bin/hbd --no-dbus\n' >"$(lab_node_dir "$n")/system/hbd.service.d/no-dbus.conf"
            lab_exec "$n" systemctl daemon-reload
        done
    fi
    lab_install_config "$tmp/hbd.toml" hbd.toml
    lab_install_config "$tmp/authkey" authkey
    rm -rf "$tmp"
}

# The node answering on the VIP (or nothing).
hbd_vip_owner() { lab_probe_vip "$HBD_VIP" "${1:-0.5}"; }

# hbd_wait_owner NODE TIMEOUT: until the client gets NODE's page on the VIP.
hbd_wait_owner() { lab_wait_for "$2" eval "[[ \$(hbd_vip_owner 0.3) == $1 ]]"; }

# Journal lines of hbd on NODE with HBD_EVENT=EV.
hbd_events() { lab_journal "$1" -u hbd -o cat "HBD_EVENT=$2" --no-pager 2>/dev/null; }
