#!/usr/bin/env bash
# The Heartbeat set-ups of docs/recipes/ on real systemd machines, each
# started from its /etc/ha.d in tests/seeds/ and imported with
# `hactl config import-heartbeat --units-dir`, as the recipe tells a user.
# The lab renames the guides' hosts and addresses to its own (n1, n2, ...;
# VIP 10.77.0.60, ping node 10.77.0.1) and shortens Heartbeat's times
# (keepalive 2 s / deadtime 30 s) to 200 ms / 2 s; every other change is
# one its recipe tells the user to make, and is made where it says so.
#   tests/lab/recipes.sh            all scenarios
#   tests/lab/recipes.sh NAME...    some (see the list at the end)
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lab.sh"
source "$here/hbd.sh"
source "$here/scenario_lib.sh"
source "$here/pdu/pdu.sh"
SCENARIOS_LABEL="lab recipes"
SEEDS=$HBD_REPO/tests/seeds

# seed_import SEED OLD=NEW...: copy the seed's /etc/ha.d into the run
# directory, rename hosts (and addresses) OLD to NEW, shorten the times and
# import it; the result is in $LAB_DIR/import/{hbd.toml,authkey,units/}.
seed_import() {
    local seed=$1 d=$LAB_DIR/import sub
    shift
    rm -rf "$d" && mkdir -p "$d" && cp -a "$SEEDS/$seed" "$d/ha.d" || return 1
    chmod 600 "$d/ha.d/authkeys"
    for sub in "$@"; do sed -i "s|${sub%%=*}|${sub#*=}|g" "$d/ha.d/ha.cf" "$d/ha.d/haresources"; done
    sed -i -E 's/^keepalive .*/keepalive 200ms/; s/^deadtime .*/deadtime 2/; s/^warntime .*/warntime 1/; s/^initdead .*/initdead 6/' "$d/ha.d/ha.cf"
    "$HBD_BIN/hactl" config import-heartbeat "$d/ha.d" -o "$d/hbd.toml" --authkey "$d/authkey" --units-dir "$d/units" \
        >"$d/import.log" 2>&1 || { cat "$d/import.log"; return 1; }
}

# seed_install: hbd, its unit and bus policy, the imported configuration,
# key and units on every node (units only in /etc/systemd/system, not
# enabled: hbd starts them).
seed_install() { # [NODE...] (default: all)
    local d=$LAB_DIR/import u nodes=("$@")
    ((${#nodes[@]})) || nodes=("${LAB_NODES[@]}")
    lab_install_bin "$HBD_BIN/hbd" "$HBD_BIN/hactl"
    lab_install_unit "$HBD_REPO/units/hbd.service" "${nodes[@]}"
    lab_install_dbus_policy "$HBD_REPO/dbus-interfaces/org.hbd1.conf" "${nodes[@]}"
    # Through the machine, not the lab's /etc/hbd bind: lab_pkg_ready removes it.
    local n
    for n in "${nodes[@]}"; do
        lab_exec "$n" sh -c 'mkdir -p /etc/hbd && cat >/etc/hbd/hbd.toml' <"$d/hbd.toml" &&
            lab_exec "$n" sh -c 'umask 077 && cat >/etc/hbd/authkey' <"$d/authkey" || return 1
    done
    if [[ -d $d/units ]]; then
        for u in "$d"/units/*; do lab_install_unit "$u" "${nodes[@]}"; done
    fi
}

hbd_start() { # NODE...: systemctl start hbd on them at once (waits for those only)
    local n pids=()
    for n in "$@"; do
        lab_exec "$n" systemctl start hbd &
        pids+=($!)
    done
    wait "${pids[@]}"
}
is_active() { lab_exec "$1" systemctl is-active -q "$2"; }
# script_log NODE: the resource script's lines in NODE's journal, as
# "MICROSECONDS ACTION" (the host's clock: comparable between nodes).
script_log() {
    lab_journal "$1" -o short-unix 2>/dev/null |
        awk '/resource.d\/test called with/ { split($1, t, "."); print t[1] t[2], $NF }'
}
# logged NODE ACTION: the script logged ACTION on NODE; prints its time
logged() { script_log "$1" | awk -v a="$2" '$2 == a { t = $1 } END { if (t == "") exit 1; print t }'; }
has_logged() { logged "$@" >/dev/null; }
count_logged() { script_log "$1" | awk -v a="$2" '$2 == a { c++ } END { print c + 0 }'; }

# deb_install NODE PACKAGE...: Debian's packages (downloaded once on the
# host with apt-get download, into $DEB_CACHE) installed in the machine
# with dpkg, as on a fresh Debian system (lab_pkg_ready: a writable /usr
# overlay that is gone at the next boot).
DEB_CACHE=${DEB_CACHE:-/var/cache/hbd-lab-debs}
deb_fetch() {
    local p missing=()
    mkdir -p "$DEB_CACHE" || return 1
    for p in "$@"; do compgen -G "$DEB_CACHE/${p}_*.deb" >/dev/null || missing+=("$p"); done
    ((${#missing[@]} == 0)) && return 0
    (cd "$DEB_CACHE" && apt-get download -q "${missing[@]}" 2>/dev/null) && return 0
    apt-get update -qq >/dev/null && (cd "$DEB_CACHE" && apt-get download -q "${missing[@]}" 2>/dev/null)
}
deb_install() {
    local n=$1 p f
    shift
    deb_fetch "$@" || { _lab_die "apt-get download $* failed"; return 1; }
    lab_pkg_ready "$n" >/dev/null 2>&1 || return 1
    lab_exec "$n" mkdir -p /run/lab-debs
    for p in "$@"; do
        for f in "$DEB_CACHE/${p}"_*.deb; do lab_exec "$n" sh -c "cat >/run/lab-debs/${f##*/}" <"$f"; done
    done
    lab_exec "$n" sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /run/lab-debs/*.deb' >"$LAB_DIR/dpkg-$n.log" 2>&1 ||
        { tail -20 "$LAB_DIR/dpkg-$n.log"; return 1; }
}

# ------------------------------------------------------------------ scenarios

# Recipe resource-script.md: Heartbeat's resource.d/test, unchanged.
sc_resource_script() {
    lab_on_boot() { # /etc is fresh on every boot: the script lives there
        lab_exec "$1" mkdir -p /etc/ha.d/resource.d &&
            lab_exec "$1" sh -c 'cat >/etc/ha.d/resource.d/test && chmod 755 /etc/ha.d/resource.d/test' <"$SEEDS/test-script/resource.d/test"
    }
    # --no-clean: a kept lab of someone else on this host is not ours to remove
    lab_up 2 --no-clean || return 1
    seed_import test-script primary.mydomain.com=n1 backup.mydomain.com=n2 || return 1
    check "the import wrote test.service, running the script unchanged" \
        grep -q '^ExecStart="/etc/ha.d/resource.d/test" "start"$' "$LAB_DIR/import/units/test.service"
    seed_install
    hbd_start n1 n2
    check "n1 runs test.service" lab_wait_for 20 is_active n1 test.service || return 1
    check "n1's log: /etc/ha.d/resource.d/test called with start" lab_wait_for 5 has_logged n1 start
    check "n2 did not start it" eval '! is_active n2 test.service && [[ $(count_logged n2 start) == 0 ]]'
    # The guide's failover test: stop Heartbeat (here hbd) on the primary.
    lab_exec n1 systemctl stop hbd
    check "failover: n2 runs test.service" lab_wait_for 10 is_active n2 test.service
    check "n1's log: called with stop" lab_wait_for 5 has_logged n1 stop
    check "n2's log: called with start" lab_wait_for 5 has_logged n2 start
    check "n1 stopped it before n2 started it" eval '(( $(logged n1 stop) < $(logged n2 start) ))'
    check "test.service is inactive on n1" eval '! is_active n1 test.service'
    # The primary comes back: auto_failback (hbd's default; ha.cf has none).
    hbd_start n1
    check "failback: n1 runs test.service again" lab_wait_for 20 eval 'is_active n1 test.service && ! is_active n2 test.service'
    check "n2's log: called with stop" lab_wait_for 5 has_logged n2 stop
    check "n1's log: a second start, after n2's stop" eval '[[ $(count_logged n1 start) == 2 ]] && (( $(logged n2 stop) < $(logged n1 start) ))'
}

# Recipe nginx-ping.md: Debian's nginx behind the VIP, a ping node, and the
# guide's own test: ICMP blocked on the owner, then let through again.
sc_nginx_ping() {
    lab_up 2 --no-clean || return 1
    local n
    for n in n1 n2; do
        check "nginx (Debian's package) installed on $n" deb_install "$n" nginx-common nginx || return 1
        # As the recipe says: hbd starts nginx, systemd must not.
        lab_exec "$n" systemctl disable --now nginx.service >/dev/null 2>&1
        lab_exec "$n" sh -c 'hostname >/var/www/html/index.html'
    done
    seed_import nginx-ping master=n1 slave=n2 192.168.1.106/24=10.77.0.60/24 \
        'ucast eth1 192.168.2.106=ucast eth1 10.78.0.12' 'ping 192.168.2.1=ping 10.77.0.1' || return 1
    # The recipe's one edit: ucast names the other node; one file for both
    # nodes lists both addresses.
    sed -i 's/^peers = \["10.78.0.12"\]/peers = ["10.78.0.11", "10.78.0.12"]/' "$LAB_DIR/import/hbd.toml"
    check "the import kept nginx.service, the VIP and the ping node" \
        eval 'grep -q "unit = \"nginx.service\"" $LAB_DIR/import/hbd.toml && grep -q "vip = \"10.77.0.60/24\"" $LAB_DIR/import/hbd.toml && grep -q "hosts = \[\"10.77.0.1\"\]" $LAB_DIR/import/hbd.toml'
    seed_install
    hbd_start n1 n2
    check "the client gets n1's page from nginx on the VIP" hbd_wait_owner n1 20 || return 1
    check "nginx runs on n1 only" eval 'is_active n1 nginx.service && ! is_active n2 nginx.service'
    # The guide's test 2.
    lab_nsexec n1 iptables -A INPUT -p icmp -j DROP
    check "ICMP dropped on n1: n2 takes over (it reaches the ping node, n1 does not)" hbd_wait_owner n2 20
    check "nginx runs on n2 only" eval 'is_active n2 nginx.service && ! is_active n1 nginx.service'
    check "the VIP is on one node" eval '[[ $(count_owners) == 1 ]]'
    # The guide's test 3.
    lab_nsexec n1 iptables -D INPUT -p icmp -j DROP
    check "rule removed: auto_failback brings the page back to n1" hbd_wait_owner n1 30
    check "nginx runs on n1 only again" eval 'is_active n1 nginx.service && ! is_active n2 nginx.service'
    check "the VIP is on one node" eval '[[ $(count_owners) == 1 ]]'
}

# Recipe drbd-httpd.md, with what a SAN gives instead of DRBD (this kernel
# has no drbd module): one disk attached to both nodes as a block device
# (a loop device, its node made in both machines as /dev/hbd-shared),
# ext4, mounted by the imported mount unit before the web server starts,
# fencing = "required" (the lab PDU). Checked all along, from each
# machine's own mount table: never mounted on two nodes.
sc_shared_disk() {
    # Globals: lab_on_down runs after this function has returned. It is set
    # before anything is made, and the disk is made after lab_up, so that
    # the lab's traps remove it whatever happens.
    SD_IMG= SD_LOOP= SD_MON= SD_MON_PID=
    # (set -u: an unset name here would end the teardown itself)
    lab_on_down() {
        [[ -n ${SD_MON_PID:-} ]] && kill "$SD_MON_PID" 2>/dev/null
        [[ ${FAILED_HERE:-0} == 1 && -s ${SD_MON:-} ]] && sed 's/^/  | mounted: /' "$SD_MON" | tail -20
        [[ ${FAILED_HERE:-0} == 1 && -s ${LAB_DIR:-}/pdu/log ]] && sed 's/^/  | PDU: /' "$LAB_DIR/pdu/log"
        [[ -n ${SD_LOOP:-} ]] && losetup -d "$SD_LOOP" 2>/dev/null
        rm -rf "${SD_IMG:-}" "${SD_IMG:+$SD_IMG.d}" "${SD_MON:-}"
        return 0
    }
    lab_up 2 --no-clean || return 1
    for cmd in mkfs.ext4 losetup; do
        command -v "$cmd" >/dev/null || { echo "  $cmd is missing: apt-get install e2fsprogs mount"; return 1; }
    done
    SD_IMG=$(mktemp /tmp/hbd-lab-disk.XXXXXX) && SD_MON=$(mktemp) && mkdir "$SD_IMG.d" || return 1
    echo "from the shared disk" >"$SD_IMG.d/index.html"
    truncate -s 32M "$SD_IMG" && mkfs.ext4 -q -F -d "$SD_IMG.d" "$SD_IMG" && rm -rf "$SD_IMG.d" || return 1
    SD_LOOP=$(losetup -f --show "$SD_IMG") || return 1
    read -r SD_MAJ SD_MIN < <(stat -c '%t %T' "$SD_LOOP")
    # /dev is fresh on every boot: the disk is attached again at each one.
    lab_on_boot() { lab_exec "$1" mknod -m 0600 /dev/hbd-shared b "$((16#$SD_MAJ))" "$((16#$SD_MIN))"; }
    lab_on_boot n1 && lab_on_boot n2 || return 1
    seed_import drbd-httpd server1.example.com=n1 server2.example.com=n2 172.25.39.100=10.77.0.60 \
        'drbddisk::example =' /dev/drbd1=/dev/hbd-shared 'ping 172.25.39.250=ping 10.77.0.1' || return 1
    sed -i 's/^fencing = "off".*/fencing = "required"/' "$LAB_DIR/import/hbd.toml"
    check "the import wrote var-www-html.mount for the shared disk" \
        grep -qx 'What=/dev/hbd-shared' "$LAB_DIR/import/units/var-www-html.mount"
    # Apache's role (the guide's httpd): a web server serving /var/www/html.
    printf '%s\n' '[Unit]' 'Description=lab web server for /var/www/html' '' '[Service]' \
        'ExecStart=/usr/bin/python3 -m http.server 80 --bind 0.0.0.0 --directory /var/www/html' >"$LAB_DIR/httpd.service"
    lab_install_unit "$LAB_DIR/httpd.service"
    seed_install
    pdu_start ok || return 1
    # Every 0.2 s, from each machine's mount table (/proc/PID1/mountinfo).
    (
        while :; do
            m=""
            for n in n1 n2; do
                p=$(cat "$(lab_node_dir "$n")/pid1" 2>/dev/null) || continue
                grep -qs ' /var/www/html ' "/proc/$p/mountinfo" && m+=" $n"
            done
            echo "$(date +%T.%3N)${m:- none}" >>"$SD_MON"
            sleep 0.2
        done
    ) &
    SD_MON_PID=$!
    hbd_start n1 n2
    check "the client gets the shared disk's page from n1" lab_wait_for 25 eval '[[ $(hbd_vip_owner 0.5) == "from the shared disk" ]] && is_active n1 httpd.service' || return 1
    check "mounted on n1, not on n2" eval 'is_active n1 var-www-html.mount && ! is_active n2 var-www-html.mount'
    check "the mount came up before the web server" eval '(( $(lab_exec n1 systemctl show -P ActiveEnterTimestampMonotonic var-www-html.mount) < $(lab_exec n1 systemctl show -P ActiveEnterTimestampMonotonic httpd.service) ))'
    lab_exec n1 sh -c 'echo written-on-n1 >/var/www/html/marker.txt && sync'
    # A graceful move first: n1 unmounts, then n2 mounts.
    lab_exec n1 systemctl stop hbd
    check "hbd stopped on n1: n2 serves the page" lab_wait_for 15 eval '[[ $(hbd_vip_owner 0.5) == "from the shared disk" ]] && is_active n2 var-www-html.mount'
    check "n2 reads what n1 wrote" eval '[[ $(lab_client curl -s --max-time 2 http://10.77.0.60/marker.txt) == written-on-n1 ]]'
    hbd_start n1
    check "failback: n1 mounts and serves again" lab_wait_for 20 eval 'is_active n1 var-www-html.mount && ! is_active n2 var-www-html.mount && [[ $(hbd_vip_owner 0.5) == "from the shared disk" ]]'
    lab_exec n1 sh -c 'echo written-before-the-cut >/var/www/html/marker.txt && sync'
    # The power cut: n2 must fence n1 before it mounts the disk.
    lab_power_cut n1
    check "n1 power cut: n2 fences it through the PDU" lab_wait_for 15 event_has n2 fenced
    check "then n2 mounts the disk and serves" lab_wait_for 15 eval 'is_active n2 var-www-html.mount && [[ $(hbd_vip_owner 0.5) == "from the shared disk" ]]'
    check "n2 reads what n1 wrote before the cut" eval '[[ $(lab_client curl -s --max-time 2 http://10.77.0.60/marker.txt) == written-before-the-cut ]]'
    check "n1 was fenced before n2 mounted the disk again (n2's journal)" eval 'lab_journal n2 -o cat | grep -E "n1 fenced|Mounted var-www-html.mount" | tail -2 | head -1 | grep -q fenced'
    sleep 0.5
    kill "$SD_MON_PID" 2>/dev/null
    wait "$SD_MON_PID" 2>/dev/null
    SD_MON_PID=
    check "the monitor saw the disk mounted ($(grep -c . "$SD_MON") samples)" grep -qE ' n[12]$' "$SD_MON"
    check "never mounted on two nodes at once" eval '! grep -q "n1 n2" "$SD_MON"'
}

# Recipe lvs-director.md: the director pair without IPVS (not in this
# kernel): Debian's HAProxy on the VIP balances two real servers and
# health-checks them as ldirectord did, with the director's own web server
# as the "backup" when both are down. n1, n2: directors (hbd); n3, n4:
# real servers (the lab's web server, answering with the node name).

# The recipe's haproxy.cfg, taken from the recipe itself, with the lab's
# addresses, checks every 500 ms, and the lab's pages (the node name: no
# "server" in them) accepted by status.
lvs_haproxy_cfg() {
    awk '/^```$/ { if (on) exit; next } /^global$/ { on = 1 } on' "$HBD_REPO/docs/recipes/lvs-director.md" |
        sed -e 's/172\.25\.39\.100/10.77.0.60/; s/172\.25\.39\.4:/10.77.0.13:/; s/172\.25\.39\.5:/10.77.0.14:/' \
            -e 's/inter 1s/inter 500ms/; s/http-check expect string server/http-check expect status 200/'
}
# ping_known NODE...: each node's status shows every node reaching 1 ping host
ping_known() {
    local n
    for n in "$@"; do
        status_json "$n" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(x.get("ping_hosts") == 1 for x in d["nodes"]) else 1)' || return 1
    done
}
# answers N CLIENT-REQUESTS: the answers the client got, sorted and counted
answers() {
    local i
    for ((i = 0; i < $1; i++)); do lab_probe_vip 10.77.0.60 3 || echo none; done | sort | uniq -c | awk '{ c = $1; $1 = ""; sub(/^ /, ""); printf "%s:%s ", $0, c }'
}
sc_lvs_director() {
    lab_up 4 --no-clean || return 1
    local n
    for n in n1 n2; do
        check "HAProxy (Debian's package) installed on $n" deb_install "$n" haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1 || return 1
        lab_exec "$n" systemctl disable --now haproxy.service >/dev/null 2>&1
        lvs_haproxy_cfg | lab_exec "$n" sh -c 'cat >/etc/haproxy/haproxy.cfg'
    done
    check "haproxy -c accepts the recipe's haproxy.cfg" eval 'lab_exec n1 haproxy -c -q -f /etc/haproxy/haproxy.cfg && lab_exec n1 grep -q "server rs2 10.77.0.14:80" /etc/haproxy/haproxy.cfg'
    # The guide's httpd on the director: the page when every real server is down.
    printf '%s\n' '[Unit]' 'Description=the director'"'"'s own web server (HAProxy'"'"'s backup)' '' '[Service]' 'RuntimeDirectory=fallback' \
        "ExecStartPre=/bin/sh -c 'echo \"fallback on \$(hostname)\" >/run/fallback/index.html'" \
        'ExecStart=/usr/bin/python3 -m http.server 8080 --bind 127.0.0.1 --directory /run/fallback' >"$LAB_DIR/httpd.service"
    lab_install_unit "$LAB_DIR/httpd.service" n1 n2
    for n in n3 n4; do lab_web_start "$n" || return 1; done
    # The recipe's one change to the guide's haresources: HAProxy where ldirectord was.
    seed_import lvs-director server1.example.com=n1 server2.example.com=n2 172.25.39.100=10.77.0.60 \
        ' ldirectord= haproxy' 'ping 172.25.39.250=ping 10.77.0.1' || return 1
    check "the import kept httpd.service and has haproxy.service where ldirectord was" \
        eval 'grep -A4 "^resources" $LAB_DIR/import/hbd.toml | grep -o "unit = \"[a-z]*.service\"" | tr "\n" " " | grep -qx "unit = \"httpd.service\" unit = \"haproxy.service\" "'
    # Only the directors run hbd.
    seed_install n1 n2
    hbd_start n1 n2
    # Until both know each other's ping counts, the group can move once at
    # start-up (seen: n2 took it "(ping)" and handed it back); the checks
    # below are about the steady state.
    check "both directors see each other reach the ping node" lab_wait_for 20 ping_known n1 n2
    sleep 3
    check "HAProxy runs on n1 only" lab_wait_for 20 eval 'is_active n1 haproxy.service && ! is_active n2 haproxy.service' || return 1
    local a
    a=$(answers 6)
    check "the client's requests are balanced over both real servers ($a)" eval '[[ $a == "n3:3 n4:3 " ]]'
    lab_power_cut n3
    a=$(answers 8)
    check "real server n3 power cut: every request still answered ($a)" eval '[[ $a != *none* && $a == *n4:* ]]'
    if [[ $a == *none* ]]; then
        echo "  --- HAProxy's log on n1"
        lab_journal n1 -t haproxy -o short-precise 2>/dev/null | tail -30 | sed 's/^/  | /'
        # (why HAProxy restarted, if it did)
        echo "  --- n1's journal"
        lab_journal n1 -o short-precise 2>/dev/null | grep -v haproxy | tail -30 | sed 's/^/  | /'
    fi
    sleep 2
    a=$(answers 4)
    check "HAProxy took n3 out: n4 answers all ($a)" eval '[[ $a == "n4:4 " ]]'
    lab_exec n4 systemctl stop web.service
    check "both real servers down: the director's own page" lab_wait_for 6 eval '[[ $(lab_probe_vip 10.77.0.60 2) == "fallback on n1" ]]'
    a=$(answers 3)
    check "... for every request ($a)" eval '[[ $a == "fallback on n1:3 " ]]'
    lab_web_start n4
    check "n4 back: it answers again" lab_wait_for 5 eval '[[ $(lab_probe_vip 10.77.0.60 2) == n4 ]]'
    lab_power_cut n1
    check "director n1 power cut: n2 takes the VIP and runs HAProxy" lab_wait_for 15 eval 'is_active n2 haproxy.service'
    check "the client is answered through n2 ($(answers 1))" lab_wait_for 10 eval '[[ $(lab_probe_vip 10.77.0.60 2) == n4 ]]'
    check "the VIP is on n2 only" eval 'lab_nsexec n2 ip -4 addr show dev eth0 | grep -q "inet 10.77.0.60/"'
    lab_boot n3 && lab_web_start n3
    a=$(sleep 2; answers 6)
    check "n3 back: n2 balances over both real servers again ($a)" eval '[[ $a == "n3:3 n4:3 " ]]'
}

ALL=(resource_script nginx_ping shared_disk lvs_director)
run_scenarios "$@"
