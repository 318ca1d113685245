#!/usr/bin/env bash
# hbd lab harness: N real systemd machines (systemd-nspawn) in network
# namespaces on one host, wired to a LAN, a heartbeat network, a ping host
# ("router") and a client.  See tests/lab/README.md.
#
#   source tests/lab/lab.sh; lab_up 2; ...      # from a test script
#   tests/lab/lab.sh shell 2                      # interactive lab
#   tests/lab/lab.sh up 2 ; lab.sh exec n1 ...    # manual, kept until `lab.sh down`
#
# Everything a run creates carries its run id (hbl + 4 hex digits): the
# network namespaces (<id>-sw, -rt, -cl, -n1 ...), the switch-side veths
# (<id>n1l, <id>n1h, ...), the bridges (<id>lan, <id>hb), the machine names
# (<id>-n1) and the run directory ($LAB_ROOT/<id>).  Nothing is ever created
# in the host's own network namespace, and no traffic leaves the namespaces.

# ---------------------------------------------------------------- settings
LAB_ROOT=${LAB_ROOT:-/run/hbd-lab}      # run directories live below this
LAB_PREFIX=hbl                          # prefix of every run id
LAB_BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-20} # seconds for one machine to boot (then 1 retry)
# % of a CPU's realtime time the run's machines share (where the kernel
# schedules realtime by cgroup; see _lab_nspawn_start); 0: none, and hbd
# runs without realtime priority, as it says in its journal.
LAB_RT_SHARE=${LAB_RT_SHARE:-90}
LAB_LAN_NET=10.77.0                     # LAN (VIP network) /24
LAB_HB_NET=10.78.0                      # heartbeat network /24
LAB_ROUTER_IP=$LAB_LAN_NET.1            # ping host, own netns on the LAN
LAB_CLIENT_IP=$LAB_LAN_NET.100          # client netns on the LAN
LAB_HB_PORT=694
LAB_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# State of the run this shell owns (set by lab_up, or found by _lab_find_run).
LAB_RUN=${LAB_RUN:-}
LAB_DIR=${LAB_DIR:-}
LAB_NODES=()
_LAB_T0=${_LAB_T0:-}
_LAB_TRAPPED=0

# ---------------------------------------------------------------- logging
_lab_now_ms() { local s=${EPOCHREALTIME/./}; echo $(( s / 1000 )); }
_lab_log() {
    local t=""
    [[ -n $_LAB_T0 ]] && t=$(printf ' +%d.%03ds' $(( ($(_lab_now_ms) - _LAB_T0) / 1000 )) $(( ($(_lab_now_ms) - _LAB_T0) % 1000 )))
    printf '[lab%s] %s\n' "$t" "$*" >&2
}
_lab_die() { _lab_log "ERROR: $*"; return 1; }

# ---------------------------------------------------------------- deps
# lab_deps: install what the lab needs (idempotent; apt-get update only when
# something is missing).
lab_deps() {
    local -A need=(
        [systemd-nspawn]=systemd-container [ip]=iproute2 [tc]=iproute2
        [socat]=socat [curl]=curl [iptables]=iptables [ping]=iputils-ping
        [arping]=iputils-arping [tcpdump]=tcpdump [dbus-daemon]=dbus
        [pkill]=procps [ps]=procps [nsenter]=util-linux [setsid]=util-linux
        [python3]=python3-minimal [stty]=coreutils
    )
    local missing=() cmd
    for cmd in "${!need[@]}"; do
        # python3 must be the system one: it runs inside the machines
        if [[ $cmd == python3 ]]; then
            [[ -x /usr/bin/python3 ]] || missing+=("${need[$cmd]}")
        elif ! PATH=$LAB_PATH command -v "$cmd" >/dev/null 2>&1; then
            missing+=("${need[$cmd]}")
        fi
    done
    [[ -e /usr/lib/systemd/systemd || -e /lib/systemd/systemd ]] || missing+=(systemd)
    ((${#missing[@]} == 0)) && return 0
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    _lab_log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || return 1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
}

# ---------------------------------------------------------------- names
_lab_ns()     { echo "$LAB_RUN-$1"; }              # netns of n1 / sw / rt / cl
_lab_idx()    { local n=${1#n}; echo $(( n + 10 )); } # n1 -> 11
lab_node_ip() { # NODE [lan|hb]  -> address of the node on that network
    local net=$LAB_LAN_NET; [[ ${2:-lan} == hb ]] && net=$LAB_HB_NET
    echo "$net.$(_lab_idx "$1")"
}
lab_node_dir() { echo "$LAB_DIR/nodes/$1"; }       # host dir of a node
_lab_sw_if()  { # NODE IFACE -> switch-side veth name (<id>n1l / <id>n1h)
    case $2 in eth0) echo "${LAB_RUN}${1}l" ;; eth1) echo "${LAB_RUN}${1}h" ;;
               *) _lab_die "unknown interface $2 (eth0|eth1)" ;; esac
}

# proc helpers -------------------------------------------------------------
_lab_comm()   { local c; read -r c 2>/dev/null <"/proc/$1/comm" && echo "$c"; }
_lab_ppid()   { local l; while read -r l; do [[ $l == PPid:* ]] && { echo "${l##*[[:space:]]}"; return 0; }; done 2>/dev/null <"/proc/$1/status"; }
_lab_alive()  { # PID: exists and is not a zombie
    local st; [[ -r /proc/$1/stat ]] || return 1
    st=$(<"/proc/$1/stat") 2>/dev/null || return 1; st=${st##*) }
    [[ ${st%% *} != Z && ${st%% *} != X ]]
}
_lab_starttime() { local st; st=$(<"/proc/$1/stat") 2>/dev/null || return 1; st=${st##*) }; set -- $st; echo "${20}"; }
_lab_environ_has() { # PID STRING: exact NAME=VALUE in the process environment
    [[ -r /proc/$1/environ ]] || return 1
    local e; while IFS= read -r -d '' e; do [[ $e == "$2" ]] && return 0; done 2>/dev/null <"/proc/$1/environ"
    return 1
}
_lab_environ_get() { # PID NAME
    local e; while IFS= read -r -d '' e; do [[ $e == "$2="* ]] && { echo "${e#*=}"; return 0; }; done 2>/dev/null <"/proc/$1/environ"
    return 1
}
_lab_is_machine_pid1() { # PID: a container's PID 1 (NSpid: <host> 1)
    local l; [[ $(_lab_comm "$1") == systemd ]] || return 1
    while read -r l; do [[ $l == NSpid:* ]] && { set -- $l; (($# == 3)) && [[ $3 == 1 ]]; return $?; }; done 2>/dev/null <"/proc/$1/status"
    return 1
}
_lab_pids() { # [COMM]: pids (of processes named COMM)
    local p c; for p in /proc/[0-9]*; do
        if [[ -n ${1:-} ]]; then read -r c 2>/dev/null <"$p/comm" && [[ $c == "$1" ]] || continue; fi
        echo "${p#/proc/}"
    done
}
_lab_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }

# processes belonging to a run id (or to any lab run when RUNID=hbl)
_lab_nspawn_pids() { # RUNID-or-prefix
    local p; for p in $(_lab_pids systemd-nspawn); do
        _lab_alive "$p" || continue
        [[ $(_lab_cmdline "$p") == *"--network-namespace-path=/run/netns/$1"* ]] && echo "$p"
    done
}
_lab_machine_pids() { # PREFIX of "RUNID/NODE" (hbl, hbl1a2b, hbl1a2b/n1):
    # machine PID 1s tagged with HBL_RUN, HBL_NODE (nspawn --setenv)
    local p r; for p in $(_lab_pids systemd); do
        _lab_is_machine_pid1 "$p" || continue
        r=$(_lab_environ_get "$p" HBL_RUN) || continue
        r+=/$(_lab_environ_get "$p" HBL_NODE)
        [[ $r == "$1"* ]] && echo "$p"
    done
}
_lab_socat_pids() { # RUNID-or-prefix
    local p; for p in $(_lab_pids socat); do
        _lab_alive "$p" || continue
        [[ $(_lab_cmdline "$p") == *"$LAB_ROOT/$1"* ]] && echo "$p"
    done
}

# ---------------------------------------------------------------- misc
# lab_wait_for TIMEOUT CMD...: run CMD every 0.1 s until it succeeds;
# returns 1 after TIMEOUT seconds (may be fractional).
lab_wait_for() {
    local timeout=$1; shift
    local deadline=$(( $(_lab_now_ms) + ${timeout%.*} * 1000 ))
    [[ $timeout == *.* ]] && deadline=$(( deadline + 10#$(printf '%-3.3s' "${timeout#*.}" | tr ' ' 0) ))
    while :; do
        "$@" && return 0
        (( $(_lab_now_ms) >= deadline )) && return 1
        sleep 0.1
    done
}

_lab_find_run() { # select the run to act on when LAB_RUN is not set
    if [[ -z $LAB_RUN ]]; then
        local runs=() d
        for d in "$LAB_ROOT"/$LAB_PREFIX????; do [[ -d $d ]] && runs+=("${d##*/}"); done
        ((${#runs[@]} == 1)) || { _lab_die "no single lab run (found ${#runs[@]}: ${runs[*]:-none}); set LAB_RUN"; return 1; }
        LAB_RUN=${runs[0]}
    fi
    LAB_DIR=$LAB_ROOT/$LAB_RUN
    [[ -d $LAB_DIR ]] || { _lab_die "run $LAB_RUN has no directory $LAB_DIR"; return 1; }
    [[ -z $_LAB_T0 && -r $LAB_DIR/t0 ]] && _LAB_T0=$(<"$LAB_DIR/t0")
    mapfile -t LAB_NODES <"$LAB_DIR/nodes.list"
}

_lab_ctx() { # make sure the run's context (dir, nodes) is loaded
    ((${#LAB_NODES[@]})) && [[ -n $LAB_DIR ]] || _lab_find_run
}

_lab_node_ok() { # NODE: is a node of this run
    _lab_ctx || return 1
    local n; for n in "${LAB_NODES[@]}"; do [[ $n == "$1" ]] && return 0; done
    _lab_die "unknown node '$1' (nodes: ${LAB_NODES[*]})"
}

# ---------------------------------------------------------------- machines
# lab_pid1 NODE: host PID of the machine's PID 1 (fails if it is not running)
lab_pid1() {
    _lab_node_ok "$1" || return 1
    local f; f=$(lab_node_dir "$1")/pid1
    local p; [[ -r $f ]] && p=$(<"$f")
    if [[ -n ${p:-} ]] && _lab_alive "$p" && _lab_is_machine_pid1 "$p"; then echo "$p"; return 0; fi
    _lab_die "node $1 is not running"
}

# lab_exec NODE CMD...: run CMD inside the machine (all its namespaces),
# with a clean environment.
lab_exec() {
    local node=$1 pid; shift
    pid=$(lab_pid1 "$node") || return 1
    nsenter -t "$pid" -a -- env -i PATH=$LAB_PATH HOME=/root TERM=dumb LANG=C.UTF-8 \
        SYSTEMD_PAGER= PAGER=cat SYSTEMD_COLORS=0 "$@"
}
lab_hactl()   { local n=$1; shift; lab_exec "$n" /opt/hbd/bin/hactl "$@"; }
lab_journal() { local n=$1; shift; lab_exec "$n" journalctl --no-pager "$@"; }
lab_systemctl() { local n=$1; shift; lab_exec "$n" systemctl --no-pager "$@"; }
# lab_nsexec NODE CMD...: run a host command in the node's network namespace
# only (works while the node is powered off too; e.g. tcpdump, ip, ss).
lab_nsexec()  { local n=$1; shift; _lab_node_ok "$n" || return 1; ip netns exec "$(_lab_ns "$n")" "$@"; }

_lab_bus_broken() { lab_exec "$1" systemctl is-failed systemd-sysusers.service dbus.service dbus.socket 2>/dev/null | grep -q '^failed'; }
_lab_state_running() { local s; s=$(lab_exec "$1" systemctl is-system-running 2>/dev/null); [[ $s == running || $s == degraded ]]; }

_lab_find_pid1() { # NSPAWN_PID -> machine pid1 (its child named systemd)
    local c; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        _lab_is_machine_pid1 "$c" && { echo "$c"; return 0; }
    done
    return 1
}

_lab_net_node_up() { # NODE: addresses on, links up (as a booted node has)
    local n=$1 ns; ns=$(_lab_ns "$1")
    local i; i=$(_lab_idx "$n")
    ip -n "$ns" addr flush dev eth0 2>/dev/null; ip -n "$ns" addr flush dev eth1 2>/dev/null
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$LAB_LAN_NET.$i/24" brd + dev eth0
    ip -n "$ns" addr add "$LAB_HB_NET.$i/24" brd + dev eth1
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set eth1 up
    ip -n "$(_lab_ns sw)" link set "$(_lab_sw_if "$n" eth0)" up
    ip -n "$(_lab_ns sw)" link set "$(_lab_sw_if "$n" eth1)" up
}

_lab_spawn() { # CMD...: exec CMD in its own session (Ctrl-C does not reach
    # it), without the script's saved stdout/stderr.  Run it with & : $! is
    # then CMD's own pid (setsid does not fork when not a group leader).
    # (and without any other inherited fd above 2: a caller's pipe held by a
    # machine would keep e.g. a CI log reader waiting)
    local f n
    for f in /proc/$BASHPID/fd/*; do
        n=${f##*/}; ((n > 2)) && eval "exec $n>&-" 2>/dev/null
    done
    exec setsid "$@"
}

_lab_nspawn_start() { # NODE: start its nspawn in the background (setsid)
    local n=$1 d; d=$(lab_node_dir "$n")
    # shellcheck disable=SC2054  # commas belong to --capability
    local args=(
        -D / --volatile=yes --boot --register=no --keep-unit --console=pipe
        --machine="$LAB_RUN-$n" --hostname="$n"
        --network-namespace-path="/run/netns/$(_lab_ns "$n")"
        --capability=CAP_NET_ADMIN,CAP_NET_RAW,CAP_IPC_LOCK
        --setenv=HBL_RUN="$LAB_RUN" --setenv=HBL_NODE="$n"
        --bind-ro=/etc/alternatives
        --bind-ro="$LAB_DIR/preset:/etc/systemd/system-preset"
        --bind="$d/system:/etc/systemd/system"
        --bind="$d/dbus:/etc/dbus-1/system.d"
        --bind="$d/etc-hbd:/etc/hbd"
        --bind="$d/state:/var/lib/hbd"
        --bind-ro="$LAB_DIR/opt:/opt/hbd"
    )
    if [[ -r $d/tty ]]; then
        local pts; pts=$(<"$d/tty")
        [[ -c $pts ]] && args+=(--bind="$pts:/dev/ttyHB0")
    fi
    rm -f "$d/pid1"
    echo booting >"$d/power"
    echo "=== boot $(date +%T.%N)" >>"$d/console.log"
    # Every machine in a cgroup of its own (see ../shared/LAB.md): machines
    # started from one shell would otherwise share one subtree, and one's
    # system.slice/web.service would be the other's too.
    # On a kernel with RT group scheduling and the v1 cpu controller, a
    # cgroup has no realtime time unless given some, and hbd's request for
    # realtime priority is refused. Each machine gets its share of
    # LAB_RT_SHARE % of a CPU's realtime time, in 10 ms periods (an hbd that uses up its share
    # waits for the next period, not longer); where the host's budget is
    # used up (other runs), the machine runs hbd without realtime, as hbd
    # says in its journal.
    local rt_us=$((LAB_RT_SHARE * 100 / ${#LAB_NODES[@]}))
    # shellcheck disable=SC2016  # expanded by the inner bash
    _lab_spawn bash -c 'cg=$1 rt=$2; shift 2
        for h in /sys/fs/cgroup/*/; do
            [[ -e $h/cgroup.procs ]] && mkdir -p "$h$cg" 2>/dev/null || continue
            if [[ -e $h$cg/cpu.rt_runtime_us ]]; then
                echo 0 >"$h$cg/cpu.rt_runtime_us"
                echo 10000 >"$h$cg/cpu.rt_period_us" && echo "$rt" >"$h$cg/cpu.rt_runtime_us"
            fi 2>/dev/null
            echo $$ >"$h$cg/cgroup.procs" 2>/dev/null
        done
        exec "$@"' lab-cgroup "$(_lab_cgroup "$n")" "$rt_us" systemd-nspawn "${args[@]}" </dev/null >>"$d/console.log" 2>&1 &
    echo $! >"$d/nspawn.pid"
    disown $!
}

_lab_nspawn_wait() { # NODE: wait for pid1 + running; post-boot setup
    local n=$1 d np p; d=$(lab_node_dir "$n"); np=$(<"$d/nspawn.pid")
    _lab_wait_pid1() { _lab_alive "$np" || return 2; p=$(_lab_find_pid1 "$np") && echo "$p" >"$d/pid1"; }
    if ! lab_wait_for "$LAB_BOOT_TIMEOUT" _lab_wait_pid1; then
        _lab_die "node $n: machine did not start; tail of $d/console.log:"; tail -n 15 "$d/console.log" >&2; return 1
    fi
    # "degraded" counts as booted, but a machine whose sysusers or dbus
    # failed has no bus: hbd on it would fail (the first-run failure seen
    # on fresh machines). Stop waiting as soon as that shows.
    lab_wait_for "$LAB_BOOT_TIMEOUT" eval '_lab_state_running "$n" || _lab_bus_broken "$n"'
    # A bus that fails on every activation can also look "activating" at
    # each look (every client re-triggers dbus.socket) while the boot waits:
    # when the boot did not finish, ask the bus itself before blaming the rest.
    if _lab_bus_broken "$n" || ! lab_exec "$n" systemctl is-active -q dbus.socket ||
        { ! _lab_state_running "$n" && ! lab_exec "$n" timeout 5 busctl --system list >/dev/null 2>&1; }; then
        _lab_die "node $n: booted without a working bus (sysusers or dbus failed):"
        lab_exec "$n" systemctl --failed --no-legend >&2
        lab_exec "$n" journalctl -b --no-pager -n 15 -u systemd-sysusers -u dbus >&2; return 1
    fi
    if ! _lab_state_running "$n"; then
        _lab_die "node $n: not running after ${LAB_BOOT_TIMEOUT}s ($(lab_exec "$n" systemctl is-system-running 2>&1))"
        lab_exec "$n" systemctl --failed --no-legend >&2
        lab_exec "$n" journalctl -p warning -b --no-pager -n 40 >&2; return 1
    fi
    # nspawn mounts /sys before it joins the netns: /sys/class/net shows the
    # host's interfaces.  Overlay the net parts from a sysfs mounted inside.
    lab_exec "$n" sh -c 'mkdir -p /run/lab-sysfs &&
        mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /run/lab-sysfs &&
        mount --bind /run/lab-sysfs/class/net /sys/class/net &&
        mount --bind /run/lab-sysfs/devices/virtual/net /sys/devices/virtual/net;
        umount -l /run/lab-sysfs; rmdir /run/lab-sysfs' >/dev/null 2>&1 ||
        _lab_log "node $n: could not fix /sys/class/net"
    # users/groups live in the volatile /etc: recreate them on every boot
    lab_exec "$n" sh -c 'getent group haclient >/dev/null || groupadd -r haclient
        getent passwd labop >/dev/null || useradd -M -N -g users -G haclient labop
        getent passwd labuser >/dev/null || useradd -M -N -g users labuser' >/dev/null 2>&1
    if declare -F lab_on_boot >/dev/null; then lab_on_boot "$n" || _lab_log "lab_on_boot $n failed"; fi
    echo up >"$d/power"
}

# lab_boot NODE...: boot node(s) again with their state dirs; links up.
lab_boot() {
    local n
    for n in "$@"; do
        _lab_node_ok "$n" || return 1
        if lab_pid1 "$n" >/dev/null 2>&1; then _lab_log "node $n already running"; continue; fi
        _lab_net_node_up "$n" && _lab_nspawn_start "$n" || return 1
    done
    for n in "$@"; do
        [[ $(<"$(lab_node_dir "$n")/power") == up ]] && continue
        if ! _lab_nspawn_wait "$n"; then
            # seen once under load: sysusers failed, boot hung in "starting"
            ((${LAB_BOOT_RETRY:-1} > 0)) || return 1
            _lab_log "node $n: boot failed; power cut and one more try"
            lab_power_cut "$n"; _lab_net_node_up "$n" && _lab_nspawn_start "$n" || return 1
            _lab_nspawn_wait "$n" || return 1
        fi
        _lab_log "node $n up (pid1 $(lab_pid1 "$n"))"
    done
}

_lab_kill_nspawns() { # RUNID NSPAWN_PID...: SIGKILL the machines of these
    # nspawn processes (every child: PID 1, or the child that is about to
    # become it) and of RUNID (tagged PID 1s, e.g. orphans) until the nspawn
    # processes are gone; SIGKILL nspawn itself only after 6 s.
    local id=$1; shift
    local deadline=$(( $(_lab_now_ms) + 6000 )) p c alive
    while :; do
        alive=()
        for p in "$@"; do _lab_alive "$p" && alive+=("$p"); done
        for p in "${alive[@]}"; do
            for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do kill -9 "$c" 2>/dev/null; done
        done
        for p in $(_lab_machine_pids "$id"); do kill -9 "$p" 2>/dev/null; done
        ((${#alive[@]} == 0)) && break
        if (( $(_lab_now_ms) > deadline )); then
            _lab_log "nspawn ${alive[*]} did not exit: SIGKILL"; kill -9 "${alive[@]}" 2>/dev/null; deadline=$(( deadline + 3000 ))
        fi
        sleep 0.05
    done
    # an orphan that got through: one last sweep
    for p in $(_lab_machine_pids "$id"); do kill -9 "$p" 2>/dev/null; done
    return 0
}

_lab_cgroup() { echo "$LAB_RUN-$1"; } # NODE: its cgroup's name
# _lab_rm_cgroups PREFIX: remove machine cgroups named PREFIX* (depth-first;
# the machines must be dead)
_lab_rm_cgroups() {
    local h c
    for h in /sys/fs/cgroup/*/; do
        for c in "$h$1"*; do
            [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    done
    return 0
}

_lab_kill_machine() { # NODE: SIGKILL PID 1, wait for nspawn to go
    local n=$1 d p np; d=$(lab_node_dir "$n")
    np=$(cat "$d/nspawn.pid" 2>/dev/null)
    p=$(cat "$d/pid1" 2>/dev/null)
    [[ -n $p ]] && _lab_is_machine_pid1 "$p" && kill -9 "$p" 2>/dev/null
    [[ -n $np ]] && _lab_kill_nspawns "$LAB_RUN/$n" $np
    _lab_rm_cgroups "$(_lab_cgroup "$n")"
    rm -f "$d/pid1"
    echo down >"$d/power"
}

# lab_random_phase: sleep a random 0-999 ms, so that a fault a benchmark
# injects lands at a random point of the heartbeat (or check) cycle: the
# steps before it take about the same time in every run, and without this
# every run cut at the same phase.  1 s is a multiple of every period used.
lab_random_phase() { sleep "0.$(printf '%03d' $((RANDOM % 1000)))"; }

# lab_power_cut NODE: links down, SIGKILL the machine's PID 1.  The node's
# network namespace is then reset as a reboot would find it: addresses
# (incl. VIPs), qdiscs and iptables rules gone.  State dirs stay.
# LAB_CUT_AT: the host's clock ($EPOCHREALTIME) just before the links go
# down, what a benchmark measures from: taken before the call, the mark
# also counted this function's own preparation (each $(…) a fork, ≈ 1 ms).
lab_power_cut() {
    local n=$1 ns; _lab_node_ok "$n" || return 1; ns=$(_lab_ns "$n")
    # (the names of _lab_ns sw and _lab_sw_if, without a fork each)
    local sw="$LAB_RUN-sw" l="${LAB_RUN}${n}l" h="${LAB_RUN}${n}h"
    # Both cables at once (one ip process): with two, frames on the second
    # link went on for the few ms the second process took to start.
    LAB_CUT_AT=$EPOCHREALTIME
    ip -n "$sw" -batch - <<<"link set $l down
link set $h down"
    _lab_kill_machine "$n"
    local i; for i in eth0 eth1; do
        ip -n "$ns" link set "$i" down
        ip -n "$ns" addr flush dev "$i"
        ip netns exec "$ns" tc qdisc del dev "$i" root 2>/dev/null
    done
    ip netns exec "$ns" iptables -F 2>/dev/null
    _lab_log "node $n power cut"
}

# ---------------------------------------------------------------- faults
# lab_link_cut NODE IFACE: pull the cable (switch side down: the node sees
# carrier loss).  lab_link_restore NODE IFACE: plug it back.
lab_link_cut()     { _lab_node_ok "$1" || return 1; ip -n "$(_lab_ns sw)" link set "$(_lab_sw_if "$1" "$2")" down; }
lab_link_restore() { _lab_node_ok "$1" || return 1; ip -n "$(_lab_ns sw)" link set "$(_lab_sw_if "$1" "$2")" up; }

# lab_netem NODE IFACE "loss 20% delay 5ms" | clear: egress impairment on
# the node's interface.  lab_netem_clear NODE IFACE.
# When the kernel lacks sch_netem (this project's VMs: CONFIG_NET_SCH_NETEM
# is not set), "loss P%" is emulated with an iptables statistic DROP rule on
# egress; delay/duplicate/reorder/corrupt cannot be emulated: a warning is
# printed and the status is 2 (loss, if given, is applied).  lab_have_netem
# says which case holds.
lab_have_netem() {
    if [[ -z ${_LAB_NETEM:-} ]]; then
        _LAB_NETEM=no
        if [[ -r /proc/config.gz ]]; then
            zcat /proc/config.gz 2>/dev/null | grep -qE '^CONFIG_NET_SCH_NETEM=(y|m)' && _LAB_NETEM=yes
        else
            local t=lab-netem-$$; ip netns add "$t" 2>/dev/null && {
                ip -n "$t" link add "${t:0:8}a" type veth peer name "${t:0:8}b" 2>/dev/null &&
                    ip netns exec "$t" tc qdisc add dev "${t:0:8}a" root netem delay 1ms 2>/dev/null && _LAB_NETEM=yes
                ip netns del "$t"; }
        fi
    fi
    [[ $_LAB_NETEM == yes ]]
}
lab_netem() {
    _lab_node_ok "$1" || return 1
    local ns node=$1 ifc=$2 spec=${3:-clear}; ns=$(_lab_ns "$1")
    # clear both flavours
    ip netns exec "$ns" tc qdisc del dev "$ifc" root 2>/dev/null
    local rule; while read -r rule; do
        eval "ip netns exec $ns iptables ${rule/-A /-D }"
    done < <(ip netns exec "$ns" iptables -S OUTPUT 2>/dev/null | grep -- "--comment lab-netem-$ifc")
    [[ $spec == clear ]] && return 0
    if lab_have_netem; then
        # shellcheck disable=SC2086
        ip netns exec "$ns" tc qdisc replace dev "$ifc" root netem $spec; return $?
    fi
    local -a w; read -ra w <<<"$spec"
    local i rc=0 p
    for ((i = 0; i < ${#w[@]}; i++)); do
        case ${w[i]} in
            loss) p=${w[i+1]%\%}; i=$((i + 1))
                  [[ ${w[i+1]:-} =~ ^[0-9.]+%$ ]] && i=$((i + 1))   # correlation: ignored
                  ip netns exec "$ns" iptables -A OUTPUT -o "$ifc" -m statistic --mode random \
                      --probability "$(awk -v p="$p" 'BEGIN{printf "%.4f", p/100}')" \
                      -m comment --comment "lab-netem-$ifc" -j DROP || return 1 ;;
            *) _lab_log "WARNING: lab_netem $node $ifc: '${w[i]}' needs sch_netem, which this kernel lacks; not applied"
               rc=2; while ((i + 1 < ${#w[@]})) && [[ ${w[i+1]} != loss ]]; do i=$((i + 1)); done ;;
        esac
    done
    return $rc
}
lab_netem_clear() { lab_netem "$1" "$2" clear; }

# lab_block_hb NODE [in|out|both] [PORT]: drop UDP to PORT (694) in the
# node's netns.  lab_unblock_hb NODE: remove those rules.
lab_block_hb() {
    _lab_node_ok "$1" || return 1
    local ns dir=${2:-both} port=${3:-$LAB_HB_PORT}; ns=$(_lab_ns "$1")
    [[ $dir == in || $dir == both ]] && ip netns exec "$ns" iptables -A INPUT -p udp --dport "$port" -m comment --comment lab-hb -j DROP
    [[ $dir == out || $dir == both ]] && ip netns exec "$ns" iptables -A OUTPUT -p udp --dport "$port" -m comment --comment lab-hb -j DROP
    return 0
}
lab_unblock_hb() {
    _lab_node_ok "$1" || return 1
    local ns rule; ns=$(_lab_ns "$1")
    while read -r rule; do
        # shellcheck disable=SC2086
        eval "ip netns exec $ns iptables ${rule/-A /-D }"
    done < <(ip netns exec "$ns" iptables -S | grep -- '--comment lab-hb')
}

# lab_router_cut / lab_router_restore: the ping host goes away / returns.
lab_router_cut()     { ip -n "$(_lab_ns sw)" link set "${LAB_RUN}rt" down; }
lab_router_restore() { ip -n "$(_lab_ns sw)" link set "${LAB_RUN}rt" up; }

# lab_serial_pause / lab_serial_resume: freeze / thaw the null-modem cable
# (SIGSTOP/SIGCONT of its socat: bytes stop flowing, ttys stay open).
lab_serial_pause()  { local p; p=$(cat "$LAB_DIR/nm/socat.pid" 2>/dev/null) && kill -STOP "$p"; }
lab_serial_resume() { local p; p=$(cat "$LAB_DIR/nm/socat.pid" 2>/dev/null) && kill -CONT "$p"; }

# ---------------------------------------------------------------- client
# lab_probe_vip IP [TIMEOUT]: HTTP GET from the client netns; prints the
# answering node's name (nothing on failure; returns 1).
lab_probe_vip() {
    _lab_ctx || return 1
    local out
    out=$(ip netns exec "$(_lab_ns cl)" curl -s --max-time "${2:-2}" "http://$1/" 2>/dev/null) || return 1
    out=${out//[$'\r\n']/}
    [[ -n $out ]] && echo "$out"
}
# lab_client CMD...: run a command in the client netns (ping, arp, curl...)
lab_client() { _lab_ctx || return 1; ip netns exec "$(_lab_ns cl)" "$@"; }

# lab_web_start NODE / lab_web_stop NODE: web.service by hand (hbd normally)
lab_web_start() {
    lab_exec "$1" systemctl start web.service || return 1
    _lab_web_ok() { [[ $(lab_probe_vip "$(lab_node_ip "$1")" 1) == "$1" ]]; }
    lab_wait_for 10 _lab_web_ok "$1"
}
lab_web_stop() { lab_exec "$1" systemctl stop web.service; }

# ---------------------------------------------------------------- files
# Files reach the nodes through per-node host directories bound into them:
#   $LAB_DIR/nodes/N/system  -> /etc/systemd/system     (rw)
#   $LAB_DIR/nodes/N/dbus    -> /etc/dbus-1/system.d    (rw)
#   $LAB_DIR/nodes/N/etc-hbd -> /etc/hbd                (rw)
#   $LAB_DIR/nodes/N/state   -> /var/lib/hbd            (rw, survives power cuts)
#   $LAB_DIR/opt             -> /opt/hbd                (ro, shared: bin/hbd, bin/hactl)
_lab_targets() { # [NODE...] -> given nodes or all
    if (($#)); then printf '%s\n' "$@"; else printf '%s\n' "${LAB_NODES[@]}"; fi
}
# lab_install_bin FILE...: copy binaries to /opt/hbd/bin (all nodes).
lab_install_bin() {
    _lab_ctx || return 1
    install -m 0755 "$@" "$LAB_DIR/opt/bin/"
}
# lab_install_unit FILE [NODE...]: unit into /etc/systemd/system, then
# daemon-reload on running nodes.  Paths /usr/sbin/hbd, /usr/bin/hactl ...
# in Exec*= lines are rewritten to /opt/hbd/bin/.
lab_install_unit() {
    _lab_ctx || return 1
    local f=$1 n; shift
    for n in $(_lab_targets "$@"); do
        _lab_node_ok "$n" || return 1
        sed -E 's#(^Exec[A-Za-z]*=[-@:+!]*)/usr/(local/)?s?bin/(hbd|hactl)\b#\1/opt/hbd/bin/\3#' "$f" \
            >"$(lab_node_dir "$n")/system/${f##*/}"
        lab_pid1 "$n" >/dev/null 2>&1 && lab_exec "$n" systemctl daemon-reload
    done
    return 0
}
# lab_install_dbus_policy FILE [NODE...]: into /etc/dbus-1/system.d, then
# tell dbus-daemon to reload its configuration.
lab_install_dbus_policy() {
    _lab_ctx || return 1
    local f=$1 n; shift
    for n in $(_lab_targets "$@"); do
        _lab_node_ok "$n" || return 1
        install -m 0644 "$f" "$(lab_node_dir "$n")/dbus/${f##*/}"
        lab_pid1 "$n" >/dev/null 2>&1 && lab_exec "$n" busctl call org.freedesktop.DBus \
            /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig >/dev/null
    done
    return 0
}
# lab_install_config FILE [DEST_NAME] [NODE...]: into /etc/hbd (mode of
# FILE kept; owner root).  e.g. lab_install_config hbd.toml; lab_install_config key authkey
lab_install_config() {
    _lab_ctx || return 1
    local f=$1 name=${2:-${1##*/}} n; shift; (($#)) && shift
    for n in $(_lab_targets "$@"); do
        _lab_node_ok "$n" || return 1
        cp --preserve=mode "$f" "$(lab_node_dir "$n")/etc-hbd/$name"
        chown root:root "$(lab_node_dir "$n")/etc-hbd/$name"
    done
}

_lab_web_unit() {
    cat <<'EOF'
[Unit]
Description=lab web server (answers with the node name)
After=network.target

[Service]
Type=simple
Restart=on-failure
RestartSec=200ms
RuntimeDirectory=web
ExecStartPre=/bin/sh -c 'hostname > /run/web/index.html'
ExecStart=/usr/bin/python3 -m http.server 80 --bind 0.0.0.0 --directory /run/web

[Install]
WantedBy=multi-user.target
EOF
}

# ---------------------------------------------------------------- bring-up
_lab_new_run_id() {
    local id
    while :; do
        id=$LAB_PREFIX$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
        mkdir -p "$LAB_ROOT" && mkdir "$LAB_ROOT/$id" 2>/dev/null && { echo "$id"; return 0; }
    done
}

# lab_up N [--null-modem[=nA:nB]] [--keep] [--no-clean]
#   N nodes (2..8) n1..nN.  --null-modem: a serial cable /dev/ttyHB0 between
#   nA and nB (default n1:n2).  --keep: no trap (manual use; tear down with
#   lab_down).  Installs `trap lab_down EXIT INT TERM` otherwise.
lab_up() {
    local count=${1:-2} keep=0 nm="" clean=1 a; shift || true
    for a in "$@"; do case $a in
        --null-modem) nm=n1:n2 ;; --null-modem=*) nm=${a#*=} ;;
        --keep) keep=1 ;; --no-clean) clean=0 ;;
        *) _lab_die "lab_up: unknown option $a"; return 1 ;; esac
    done
    [[ $count =~ ^[2-8]$ ]] || { _lab_die "lab_up: N must be 2..8"; return 1; }
    [[ -n ${LAB_RUN:-} && -d $LAB_ROOT/${LAB_RUN:-x} && $_LAB_TRAPPED == 1 ]] && { _lab_die "a lab run ($LAB_RUN) is already up in this shell"; return 1; }
    ((EUID == 0)) || { _lab_die "the lab needs root"; return 1; }
    _LAB_T0=$(_lab_now_ms)
    lab_deps || { _lab_die "lab_deps failed"; return 1; }
    ((clean)) && lab_clean_stale
    LAB_RUN=$(_lab_new_run_id); LAB_DIR=$LAB_ROOT/$LAB_RUN
    # owner: this shell; the run is stale once it is gone (0 = manual run)
    if ((keep)); then echo "0 0" >"$LAB_DIR/owner"; else echo "$$ $(_lab_starttime $$)" >"$LAB_DIR/owner"; fi
    echo "$_LAB_T0" >"$LAB_DIR/t0"
    if ((!keep)); then
        # the trap may fire inside a command whose output is redirected:
        # keep the script's own stdout/stderr for teardown messages
        [[ -n ${_LAB_FD_OUT:-} ]] || exec {_LAB_FD_OUT}>&1 {_LAB_FD_ERR}>&2
        trap '_lab_on_exit' EXIT
        trap '_lab_on_signal INT' INT
        trap '_lab_on_signal TERM' TERM
        _LAB_TRAPPED=1
    fi
    LAB_NODES=(); local i n
    for ((i = 1; i <= count; i++)); do LAB_NODES+=("n$i"); done
    printf '%s\n' "${LAB_NODES[@]}" >"$LAB_DIR/nodes.list"
    _lab_log "run $LAB_RUN: ${#LAB_NODES[@]} nodes, dir $LAB_DIR"

    # shared files
    mkdir -p "$LAB_DIR/opt/bin" "$LAB_DIR/preset" || return 1
    echo 'disable *' >"$LAB_DIR/preset/00-hbd-lab.preset"
    for n in "${LAB_NODES[@]}"; do
        local d; d=$(lab_node_dir "$n")
        mkdir -p "$d"/{system,dbus,etc-hbd,state}
        chmod 0700 "$d/etc-hbd"
        ln -s /dev/null "$d/system/systemd-firstboot.service"
        _lab_web_unit >"$d/system/web.service"
        echo down >"$d/power"
    done

    # network: switch with LAN + HB bridges, router, client, nodes
    local sw; sw=$(_lab_ns sw)
    ip netns add "$sw" || return 1
    ip -n "$sw" link set lo up
    ip -n "$sw" link add "${LAB_RUN}lan" type bridge mcast_snooping 0 || return 1
    ip -n "$sw" link add "${LAB_RUN}hb" type bridge mcast_snooping 0 || return 1
    ip -n "$sw" link set "${LAB_RUN}lan" up
    ip -n "$sw" link set "${LAB_RUN}hb" up
    local role ip
    for role in rt cl; do
        ip netns add "$(_lab_ns $role)" || return 1
        ip -n "$(_lab_ns $role)" link set lo up
        ip -n "$sw" link add "${LAB_RUN}$role" type veth peer name eth0 netns "$(_lab_ns $role)" || return 1
        ip -n "$sw" link set "${LAB_RUN}$role" master "${LAB_RUN}lan" up
        ip=$LAB_ROUTER_IP; [[ $role == cl ]] && ip=$LAB_CLIENT_IP
        ip -n "$(_lab_ns $role)" addr add "$ip/24" brd + dev eth0
        ip -n "$(_lab_ns $role)" link set eth0 up
    done
    for n in "${LAB_NODES[@]}"; do
        local ns; ns=$(_lab_ns "$n"); i=$(_lab_idx "$n")
        ip netns add "$ns" || return 1
        ip -n "$sw" link add "$(_lab_sw_if "$n" eth0)" type veth peer name eth0 netns "$ns" address "02:77:00:00:00:$i" || return 1
        ip -n "$sw" link add "$(_lab_sw_if "$n" eth1)" type veth peer name eth1 netns "$ns" address "02:78:00:00:00:$i" || return 1
        ip -n "$sw" link set "$(_lab_sw_if "$n" eth0)" master "${LAB_RUN}lan"
        ip -n "$sw" link set "$(_lab_sw_if "$n" eth1)" master "${LAB_RUN}hb"
    done

    # null-modem cable
    if [[ -n $nm ]]; then
        local na=${nm%%:*} nb=${nm##*:}
        _lab_node_ok "$na" && _lab_node_ok "$nb" && [[ $na != "$nb" ]] || { _lab_die "bad --null-modem=$nm"; return 1; }
        mkdir -p "$LAB_DIR/nm"
        _lab_spawn socat pty,raw,echo=0,link="$LAB_DIR/nm/$na" pty,raw,echo=0,link="$LAB_DIR/nm/$nb" \
            </dev/null >"$LAB_DIR/nm/socat.log" 2>&1 &
        echo $! >"$LAB_DIR/nm/socat.pid"
        disown $!
        _lab_nm_ready() { [[ -L $LAB_DIR/nm/$na && -L $LAB_DIR/nm/$nb ]]; }
        lab_wait_for 5 _lab_nm_ready || { _lab_die "null-modem socat did not start"; return 1; }
        readlink -f "$LAB_DIR/nm/$na" >"$(lab_node_dir "$na")/tty"
        readlink -f "$LAB_DIR/nm/$nb" >"$(lab_node_dir "$nb")/tty"
        _lab_log "null modem $na <-> $nb: $(<"$(lab_node_dir "$na")/tty") <-> $(<"$(lab_node_dir "$nb")/tty") (/dev/ttyHB0)"
    fi

    lab_boot "${LAB_NODES[@]}" || return 1
    _lab_log "lab $LAB_RUN up: ${LAB_NODES[*]}"
}

# ---------------------------------------------------------------- teardown
_lab_destroy_run() { # RUNID: remove everything of that run
    local id=$1 p ns l
    # 1. machines: SIGKILL each PID 1 (ends its PID namespace); nspawn
    #    processes then exit by themselves
    # shellcheck disable=SC2046  # a list of pids
    _lab_kill_nspawns "$id" $(_lab_nspawn_pids "$id-")
    # 3. null-modem socat
    for p in $(_lab_socat_pids "$id/"); do kill -9 "$p" 2>/dev/null; done
    # 4. namespaces (takes their veths and bridges along), host links;
    #    first whatever a test left running in one (a client probe whose
    #    wrapper shell was killed but not the probe): deleting a namespace
    #    does not end its processes
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ $ns == "$id-"* ]] || continue
        # shellcheck disable=SC2046  # a list of pids
        kill -9 $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        [[ $l == "$id"* ]] && ip link del "$l" 2>/dev/null
    done
    # 5. directories, and the machines' cgroups
    rm -rf "${LAB_ROOT:?}/$id" /run/systemd/nspawn/propagate/"$id"-* 2>/dev/null
    _lab_rm_cgroups "$id-"
    return 0
}

# lab_down: tear everything of this run down (idempotent).  Calls the
# function lab_on_down first if the test script defined one.
lab_down() {
    [[ -n ${LAB_RUN:-} ]] || _lab_find_run 2>/dev/null || return 0
    [[ -d $LAB_ROOT/$LAB_RUN ]] || return 0
    if declare -F lab_on_down >/dev/null; then lab_on_down || true; fi
    _lab_log "tearing down $LAB_RUN"
    _lab_destroy_run "$LAB_RUN"
    _lab_log "run $LAB_RUN down"
    LAB_NODES=()
}

_lab_on_exit() { local rc=$?; trap - EXIT; lab_down 1>&"${_LAB_FD_OUT:-1}" 2>&"${_LAB_FD_ERR:-2}"; exit "$rc"; }
_lab_on_signal() {
    trap - EXIT INT TERM
    exec 1>&"${_LAB_FD_OUT:-1}" 2>&"${_LAB_FD_ERR:-2}"
    _lab_log "caught SIG$1"
    lab_down
    kill -s "$1" $$    # die of the signal, as the caller expects
    exit 130
}

_lab_run_stale() { # RUNID: its owner is gone (or it has no directory)
    local id=$1 pid st
    [[ -r $LAB_ROOT/$id/owner ]] || return 0
    read -r pid st <"$LAB_ROOT/$id/owner"
    [[ $pid == 0 ]] && return 0
    _lab_alive "$pid" && [[ $(_lab_starttime "$pid") == "$st" ]] && return 1
    return 0
}

_lab_all_run_ids() { # every run id with any leftover
    {
        local d p; for d in "$LAB_ROOT"/$LAB_PREFIX????; do [[ -e $d ]] && echo "${d##*/}"; done
        ip netns list 2>/dev/null | awk '{print $1}' | grep -oE "^${LAB_PREFIX}[0-9a-f]{4}"
        for p in $(_lab_nspawn_pids "$LAB_PREFIX"); do _lab_cmdline "$p" | grep -oE "netns/${LAB_PREFIX}[0-9a-f]{4}" | cut -d/ -f2; done
        for p in $(_lab_machine_pids "$LAB_PREFIX"); do _lab_environ_get "$p" HBL_RUN; done
        for p in $(_lab_socat_pids "$LAB_PREFIX"); do _lab_cmdline "$p" | grep -oE "$LAB_ROOT/${LAB_PREFIX}[0-9a-f]{4}" | head -1 | sed 's#.*/##'; done
    } | sort -u
}

# lab_clean_stale: remove every leftover of earlier lab runs whose owner
# shell is gone (runs started with --keep count as stale too): machines,
# nspawn, socat, netns, links, dirs; and orphaned lab machine PID 1s.
lab_clean_stale() {
    local id n=0 p
    for id in $(_lab_all_run_ids); do
        [[ $id == "${LAB_RUN:-}" ]] && continue
        _lab_run_stale "$id" || continue
        _lab_log "removing leftovers of run $id"
        _lab_destroy_run "$id"; n=$((n + 1))
    done
    # untagged orphans: machine PID 1s of nspawn that lost their nspawn
    # and sit in no live namespace we know of (e.g. from a harness bug)
    for p in $(_lab_orphan_pid1s); do
        local r; r=$(_lab_environ_get "$p" HBL_RUN) || continue
        [[ $r == "${LAB_RUN:-}" ]] && continue
        _lab_log "killing orphaned machine PID 1 $p (run $r)"; kill -9 "$p"
    done
    return 0
}

_lab_orphan_pid1s() { # machine PID 1s whose parent is not systemd-nspawn
    local p; for p in $(_lab_pids systemd); do
        _lab_is_machine_pid1 "$p" || continue
        _lab_environ_has "$p" container=systemd-nspawn || continue
        [[ $(_lab_comm "$(_lab_ppid "$p")") == systemd-nspawn ]] || echo "$p"
    done
}

# lab_check_clean [RUNID]: exit 0 if nothing of ANY lab run (or of RUNID) is
# left; else list it and return 1.  Checks netns, links, systemd-nspawn
# processes, machine PID 1s (tagged, and any orphaned one), socat, dirs.
lab_check_clean() {
    local pat=${1:-$LAB_PREFIX} left=() p x
    for x in $(ip netns list 2>/dev/null | awk '{print $1}'); do [[ $x == "$pat"* ]] && left+=("netns $x"); done
    for x in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do [[ $x == "$pat"* ]] && left+=("host link $x"); done
    for p in $(_lab_nspawn_pids "$pat"); do left+=("systemd-nspawn pid $p: $(_lab_cmdline "$p" | grep -oE -- '--machine=[^ ]+')"); done
    for p in $(_lab_machine_pids "$pat"); do left+=("machine PID 1 $p (run $(_lab_environ_get "$p" HBL_RUN) node $(_lab_environ_get "$p" HBL_NODE), parent $(_lab_ppid "$p") $(_lab_comm "$(_lab_ppid "$p")"))"); done
    # other users of nspawn share this host: an untagged orphan is not ours,
    # but worth a note
    if [[ -z ${1:-} ]]; then
        for p in $(_lab_orphan_pid1s); do
            _lab_environ_get "$p" HBL_RUN >/dev/null || _lab_log "note: orphaned machine PID 1 $p not of the lab (parent $(_lab_ppid "$p"))"
        done
    fi
    for p in $(_lab_socat_pids "$pat"); do left+=("socat pid $p"); done
    for x in "$LAB_ROOT"/"$pat"*; do [[ -e $x ]] && left+=("dir $x"); done
    for x in /sys/fs/cgroup/*/"$pat"*; do [[ -d $x ]] && left+=("cgroup $x"); done
    ((${#left[@]} == 0)) && return 0
    printf 'lab leftover: %s\n' "${left[@]}" | sort -u >&2
    return 1
}

# lab_info: the run's topology
lab_info() {
    _lab_ctx || return 1
    local n
    echo "run $LAB_RUN  dir $LAB_DIR"
    echo "router (ping host) $LAB_ROUTER_IP  netns $(_lab_ns rt)"
    echo "client             $LAB_CLIENT_IP  netns $(_lab_ns cl)"
    for n in "${LAB_NODES[@]}"; do
        echo "$n  eth0 $(lab_node_ip "$n") eth1 $(lab_node_ip "$n" hb)  netns $(_lab_ns "$n")  power $(cat "$(lab_node_dir "$n")/power")  pid1 $(cat "$(lab_node_dir "$n")/pid1" 2>/dev/null)"
    done
}

# ---------------------------------------------------------------- extra hosts
# lab_hb_host NAME IP: one more host (netns <run>-NAME) on the heartbeat
# network, e.g. an intruder that replays or forges frames there.  NAME is at
# most 8 characters; removed with the run.  lab_hb_exec NAME CMD... runs a
# host command in it.
lab_hb_host() {
    _lab_ctx || return 1
    local name=$1 ip=$2 ns sw; ns=$(_lab_ns "$name"); sw=$(_lab_ns sw)
    [[ ${#name} -le 8 && $name != n[0-9] && $name != sw && $name != rt && $name != cl ]] || { _lab_die "lab_hb_host: bad name $name"; return 1; }
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    ip -n "$sw" link add "${LAB_RUN}$name" type veth peer name eth1 netns "$ns" || return 1
    ip -n "$sw" link set "${LAB_RUN}$name" master "${LAB_RUN}hb" up
    ip -n "$ns" addr add "$ip/24" brd + dev eth1
    ip -n "$ns" link set eth1 up
}
lab_hb_exec() { local n=$1; shift; _lab_ctx || return 1; ip netns exec "$(_lab_ns "$n")" "$@"; }

# ---------------------------------------------------------------- packages
# lab_pkg_ready NODE...: let dpkg and apt install packages in a running
# machine, as on a fresh Debian system.  Its /usr (the host's, read-only)
# gets a writable overlay whose upper layer is a tmpfs inside the machine
# (/run/lab-usr/upper: what dpkg wrote there is gone at the next power cut
# or boot, the host's /usr is never touched); /var/lib/dpkg is seeded with
# a copy of the host's package database (which describes that /usr), /etc/dpkg
# with the host's dpkg configuration, and apt gets empty configuration and
# cache directories (no sources: install local .deb files only).  /etc/hbd
# and /var/lib/hbd stop being the lab's shared binds and are removed, so
# that a package creates (and a purge removes) them.  Call it again after
# every boot of the node.  (The lab's preset disables every unit: a test
# that wants Debian's default for a package's unit writes, e.g.,
# `enable hbd.service` to $LAB_DIR/preset/00-hbd-deb.preset first.)
lab_pkg_ready() {
    local n
    for n in "$@"; do
        _lab_node_ok "$n" || return 1
        lab_exec "$n" sh -ec '
            if ! awk '"'"'$2 == "/usr" && $3 == "overlay" { f = 1 } END { exit !f }'"'"' /proc/self/mounts; then
                mkdir -p /run/lab-usr
                mount -t tmpfs -o mode=0755 lab-usr /run/lab-usr
                mkdir /run/lab-usr/upper /run/lab-usr/work
                mount -t overlay lab-usr -o lowerdir=/usr,upperdir=/run/lab-usr/upper,workdir=/run/lab-usr/work /usr
            fi
            for d in /etc/hbd /var/lib/hbd; do
                if mountpoint -q "$d"; then umount "$d"; fi
                rm -rf "$d"
            done
            mkdir -p /etc/apt/apt.conf.d /etc/apt/preferences.d /etc/apt/sources.list.d \
                /etc/apt/trusted.gpg.d /var/lib/apt/lists/partial /var/cache/apt/archives/partial \
                /var/cache/debconf /var/log/apt
            rm -rf /var/lib/dpkg /etc/dpkg
            # a host built from a container image may forbid starting
            # services from maintainer scripts; a real machine does not
            rm -f /usr/sbin/policy-rc.d' || { _lab_die "node $n: cannot make /usr writable"; return 1; }
        tar -C /var/lib -cf - dpkg | lab_exec "$n" tar -C /var/lib -xf - &&
            tar -C /etc -cf - dpkg | lab_exec "$n" tar -C /etc -xf - ||
            { _lab_die "node $n: cannot copy the package database"; return 1; }
        # dpkg stops at a stat override for a user or group that exists on
        # the host only (e.g. hacluster): keep the overrides that resolve
        lab_exec "$n" sh -c 'f=/var/lib/dpkg/statoverride; [ -f $f ] || exit 0
            while read -r u g rest; do
                case $u in "#"*) ;; *) getent passwd "$u" >/dev/null || continue ;; esac
                case $g in "#"*) ;; *) getent group "$g" >/dev/null || continue ;; esac
                echo "$u $g $rest"
            done <$f >$f.lab && mv $f.lab $f'
        _lab_log "node $n: /usr writable (overlay), dpkg database from the host"
    done
}

# ---------------------------------------------------------------- CLI
_lab_main() {
    local cmd=${1:-help}; shift || true
    case $cmd in
        up)    lab_up "$@" --keep && lab_info && echo "export LAB_RUN=$LAB_RUN" ;;
        shell) lab_up "$@" || exit 1; lab_info
               _lab_log "interactive shell (functions: lab_*); exit to tear down"
               local rc=/tmp/.lab-rc.$$
               { declare -f; declare -p LAB_ROOT LAB_PREFIX LAB_RUN LAB_DIR LAB_NODES LAB_LAN_NET LAB_HB_NET LAB_ROUTER_IP LAB_CLIENT_IP LAB_HB_PORT LAB_PATH LAB_BOOT_TIMEOUT _LAB_T0; echo "PS1='[lab $LAB_RUN] \w# '"; } >"$rc"
               bash --rcfile "$rc" -i; rm -f "$rc" ;;
        down)  [[ -n ${1:-} ]] && LAB_RUN=$1; lab_down ;;
        help|-h|--help)
               sed -n '2,12p' "${BASH_SOURCE[0]}"; echo; echo "commands:"
               declare -F | awk '{print $3}' | grep '^lab_' | sed 's/^lab_/  /' ;;
        *)     declare -F "lab_$cmd" >/dev/null || { echo "unknown command $cmd (try help)" >&2; exit 2; }
               "lab_$cmd" "$@" ;;
    esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    _lab_main "$@"
fi
