#!/usr/bin/env bash
# Rolling upgrade on real machines: a two-node cluster runs the previous
# release, built from this repository's own history, and is upgraded one
# node at a time (graceful leave with `systemctl stop hbd`, the new binary
# installed on that node, start, rejoin) while a client probes the VIP
# every 20 ms. Asserted: the service is never down longer than one planned
# switchover (measured in the same run with hactl standby/unstandby on the
# old release), the group never runs on both nodes (systemd on both nodes
# sampled all along, and the units' start/stop times in both journals),
# neither node is ever declared dead, and both end on the new build
# (`hactl version`, and the running executable's checksum).
#
# Scenarios:
#   upgrade              previous release -> this tree's build ($HBD_BIN)
#   upgrade_extra_field  previous release -> this tree built with the
#                        test-only cargo feature `wire-extra-field`: every
#                        beat and state chunk of an upgraded node carries a
#                        field no release knows, which the node still on the
#                        old release must skip (forward compatibility).
#
# Why from v0.2.0 and not from v0.1.0 (the commit before "Wire format 2"):
# 0.2.0 changed the frame format on purpose (version 2; a version-1 node
# refuses version-2 frames and the other way round, loudly), so 0.1.0 nodes
# cannot be upgraded one at a time. v0.2.0 is the first release of format
# 2; the extra-field leg stands for the first release after it, whose new
# fields older nodes must skip. From then on, HBD_UPGRADE_FROM = the
# previous tag.
#
# The previous release is HBD_UPGRADE_FROM (default v0.2.0; without the tag,
# as in a clone without tags, the commit that set version = "0.2.0" in
# Cargo.toml). Its hbd and hactl are built in a temporary `git worktree`
# with a target directory of their own (seeded from target/release's
# compiled dependencies when there are some) and cached outside the checkout
# (HBD_UPGRADE_CACHE, default /var/cache/hbd-tests/upgrade/<commit>-<rustc>/:
# a release's commit does not change, and CI runs on a fresh checkout), so
# reruns do not build it again.
#   tests/lab/upgrade.sh [SCENARIO...]
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export HBD_REPO=$repo
HBD_BIN=${HBD_BIN:-$repo/target/release}
source "$here/lab.sh"
source "$here/hbd.sh"
source "$here/scenario_lib.sh"
SCENARIOS_LABEL="lab upgrade"
export PATH=$HOME/.cargo/bin:$PATH
FROM=${HBD_UPGRADE_FROM:-v0.2.0}
CACHE=$repo/target/upgrade
OLD_CACHE=${HBD_UPGRADE_CACHE:-/var/cache/hbd-tests/upgrade}
DEADTIME_MS=2000

say() { echo "  ($*)"; }

# ------------------------------------------------------------------ builds

# The commit of the previous release.
old_commit() {
    local c
    c=$(git -C "$repo" rev-parse -q --verify "$FROM^{commit}" 2>/dev/null) && { echo "$c"; return 0; }
    local v=${FROM#v}
    # the oldest commit that added the line (a later bump removes it again)
    c=$(git -C "$repo" log --format=%H -S"version = \"$v\"" -- Cargo.toml | tail -1)
    [[ -n $c ]] && git -C "$repo" show "$c:Cargo.toml" | grep -q "^version = \"$v\"" && { echo "$c"; return 0; }
    echo "no tag $FROM and no commit setting version = \"$v\" in Cargo.toml (a shallow clone?)" >&2
    return 1
}

# seed TARGET_DIR: compiled dependencies of this tree's release build, so a
# build elsewhere compiles only what differs (cargo checks every artifact).
seed_target() {
    [[ -d $1/release/deps || ! -d $repo/target/release/deps ]] && return 0
    mkdir -p "$1/release"
    cp -a "$repo/target/release/deps" "$repo/target/release/build" "$repo/target/release/.fingerprint" "$1/release/" 2>/dev/null
    return 0
}

# build_old: $CACHE/<commit>/{hbd,hactl,hbd.service,org.hbd1.conf}; prints the directory.
build_old() {
    local c out wt tgt
    c=$(old_commit) || return 1
    out=$OLD_CACHE/$c-$(rustc -V | tr -c 'A-Za-z0-9.\n' _ | tr -d '\n')
    if [[ -x $out/hbd && -x $out/hactl ]]; then echo "$out"; return 0; fi
    wt=$(mktemp -d /tmp/hbd-upgrade-wt.XXXX)
    tgt=$CACHE/build-$c
    echo "  building $FROM ($c) in a worktree, target $tgt" >&2
    local rc=0
    if git -C "$repo" worktree add -q --detach "$wt/src" "$c" >&2; then
        seed_target "$tgt"
        (cd "$wt/src" && CARGO_TARGET_DIR=$tgt cargo build -q --release --locked --bin hbd --bin hactl >&2) || rc=1
        if ((rc == 0)); then
            mkdir -p "$out"
            install -m 0755 "$tgt/release/hbd" "$tgt/release/hactl" "$out/"
            cp "$wt/src/units/hbd.service" "$out/"
            [[ -f $wt/src/dbus-interfaces/org.hbd1.conf ]] && cp "$wt/src/dbus-interfaces/org.hbd1.conf" "$out/"
        fi
    else
        rc=1
    fi
    # (prune, which touches every worktree's record, only if remove failed)
    git -C "$repo" worktree remove --force "$wt/src" >/dev/null 2>&1 || { rm -rf "$wt"; git -C "$repo" worktree prune; }
    rm -rf "$wt"
    # the binaries are kept; the build tree is not (it is as big as target/release)
    rm -rf "$tgt"
    ((rc == 0)) || { echo "building $FROM failed" >&2; return 1; }
    echo "$out"
}

# build_extra: this tree's hbd with the test-only feature wire-extra-field,
# in target/upgrade/extra (kept: cargo rebuilds only what changed).
build_extra() {
    local tgt=$CACHE/extra
    seed_target "$tgt"
    (cd "$repo" && CARGO_TARGET_DIR=$tgt cargo build -q --release --features wire-extra-field --bin hbd >&2) || return 1
    echo "$tgt/release"
}

# ------------------------------------------------------------------ per-node installs
# Each node runs its own binary from /etc/hbd/bin (per node), not /opt/hbd
# (shared by all nodes): an upgrade replaces it on one node only.
install_node() { # NODE DIR_WITH_hbd (hactl, unit, policy from DIR or this tree)
    local n=$1 d=$2 dir unitf pol hactl
    dir=$(lab_node_dir "$n")
    mkdir -p "$dir/etc-hbd/bin"
    hactl=$d/hactl; [[ -x $hactl ]] || hactl=$HBD_BIN/hactl
    unitf=$d/hbd.service; [[ -f $unitf ]] || unitf=$repo/units/hbd.service
    pol=$d/org.hbd1.conf; [[ -f $pol ]] || pol=$repo/dbus-interfaces/org.hbd1.conf
    install -m 0755 "$d/hbd" "$dir/etc-hbd/bin/hbd"
    install -m 0755 "$hactl" "$dir/etc-hbd/bin/hactl"
    sed -E 's#(^Exec[A-Za-z]*=[-@:+!]*)/usr/(local/)?s?bin/(hbd|hactl)\b#\1/etc/hbd/bin/\3#' "$unitf" >"$dir/system/hbd.service"
    lab_install_dbus_policy "$pol" "$n" >/dev/null
    lab_exec "$n" systemctl daemon-reload
}
node_hactl() { local n=$1; shift; lab_exec "$n" /etc/hbd/bin/hactl "$@"; }
running_sum() { # NODE: sha256 of the running hbd's executable
    local pid
    pid=$(lab_exec "$1" systemctl show -P MainPID hbd.service)
    [[ -n $pid && $pid != 0 ]] || return 1
    lab_exec "$1" sha256sum "/proc/$pid/exe" | cut -d' ' -f1
}

# ------------------------------------------------------------------ watchers
# The client: a new connection to the VIP every 20 ms (bench/probe.py).
probe_start() {
    PROBE_OUT=$LAB_DIR/probe.txt
    lab_client python3 "$repo/bench/probe.py" --vip "$HBD_VIP" --out "$PROBE_OUT" --period 20 --timeout 0.5 --max 900 &
    PROBE_PID=$!
}
# Systemd on both nodes: a node "runs" web while web.service is anything but
# inactive/failed. Sampled a, b, a (order alternating): both run only if the
# first node ran before and after the other's sample.
web_runs() { local s; s=$(lab_exec "$1" systemctl show -P ActiveState web.service 2>/dev/null); [[ -n $s && $s != inactive && $s != failed ]]; }
vip_on() { [[ $(lab_nsexec "$1" ip -4 -o addr show dev eth0 2>/dev/null) == *" $HBD_VIP/"* ]]; }
sampler() {
    local a=n1 b=n2 i=0
    while :; do
        local w1=0 w2=0 w3=0 v1=0 v2=0 v3=0
        web_runs "$a" && w1=1; vip_on "$a" && v1=1
        web_runs "$b" && w2=1; vip_on "$b" && v2=1
        web_runs "$a" && w3=1; vip_on "$a" && v3=1
        local t; t=$(date +%s%3N)
        if ((w1 && w2 && w3)); then echo "$t web-on-both"; fi
        if ((v1 && v2 && v3)); then echo "$t vip-on-both"; fi
        echo "$t sample $a=$w1$w3 $b=$w2"
        i=$((i + 1))
        if ((i % 2)); then a=n2 b=n1; else a=n1 b=n2; fi
        sleep 0.05
    done
}
sampler_start() { SAMPLES=$LAB_DIR/samples.txt; sampler >"$SAMPLES" 2>/dev/null & SAMPLER_PID=$!; }
watchers_stop() {
    [[ -n ${SAMPLER_PID:-} ]] && { kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; SAMPLER_PID=; }
    # (the probe is a child of the shell that ran lab_client)
    [[ -n ${PROBE_PID:-} ]] && { pkill -P "$PROBE_PID"; kill "$PROBE_PID" 2>/dev/null; wait "$PROBE_PID" 2>/dev/null; PROBE_PID=; }
    return 0
}
# the harness's journal dump on failure, after the watchers are gone
eval "_sc_lab_on_down() $(declare -f lab_on_down | tail -n +2)"
lab_on_down() { watchers_stop; _sc_lab_on_down; return 0; }

# longest time without an answer between FROM_MS and TO_MS (probe log)
longest_gap() { # FROM_MS TO_MS
    awk -v a="$1" -v b="$2" 'BEGIN { g = 0; p = a }
        { t = $1 + 0; if (t < a) next; if (t > b) exit; if (t - p > g) g = t - p; p = t }
        END { if (b - p > g) g = b - p; printf "%d\n", g }' "$PROBE_OUT"
}
owner_now() { tail -1 "$PROBE_OUT" 2>/dev/null | awk '{ print $2 }'; }
# the client gets NODE's page (3 answers in a row from it, in the probe log)
probe_owner_is() { [[ $(tail -3 "$PROBE_OUT" 2>/dev/null | awk '{ print $2 }' | sort -u) == "$1" ]]; }

# web.service intervals from both journals (systemd's Starting/Stopped):
# an overlap means the group ran twice.
journal_overlap() {
    local n
    for n in n1 n2; do
        lab_journal "$n" -o short-unix -u web.service 2>/dev/null |
            awk -v n="$n" '/Starting web\.service/ { print $1, n, "start" } /Stopped web\.service|web\.service: (Deactivated|Failed)/ { print $1, n, "stop" }'
    done | sort -n | awk '
        { if ($3 == "start") { if (!on[$2]) { on[$2] = 1; c++ } } else { if (on[$2]) { on[$2] = 0; c-- } }
          if (c > 1) { print "both at " $1; bad = 1 } }
        END { exit bad }'
}

# One planned switchover, to have the bound of this run: WHAT then wait for NODE.
timed_move() { # LABEL NODE CMD...
    local label=$1 node=$2 t0 t1 g
    shift 2
    t0=$(date +%s%3N)
    "$@" >/dev/null || return 1
    lab_wait_for 20 probe_owner_is "$node" || return 1
    sleep 0.5
    t1=$(date +%s%3N)
    g=$(longest_gap "$t0" "$t1")
    say "$label: longest time without an answer $g ms"
    LAST_GAP=$g
}

# upgrade_node NODE DIR: graceful leave, new binary, start, rejoin.
upgrade_node() {
    local n=$1 d=$2
    lab_exec "$n" systemctl stop hbd || return 1
    install_node "$n" "$d" || return 1
    lab_exec "$n" systemctl start hbd || return 1
    # rejoined: the peer sees it up again
    local p=n1; [[ $n == n1 ]] && p=n2
    lab_wait_for 20 eval "[[ \$(node_hactl $p status 2>/dev/null) == *'node $n: up'* ]]"
}

# ------------------------------------------------------------------ the upgrade
# rolling_upgrade NEW_DIR LABEL
rolling_upgrade() {
    local new=$1 label=$2 old
    old=$(build_old) || { check "the previous release ($FROM) builds" false; return 1; }
    check "the previous release ($FROM, $(basename "$old" | cut -c1-10)) is built" test -x "$old/hbd"
    local old_sum new_sum
    old_sum=$(sha256sum "$old/hbd" | cut -d' ' -f1)
    new_sum=$(sha256sum "$new/hbd" | cut -d' ' -f1)
    [[ $old_sum == "$new_sum" ]] && say "the old and new hbd are the same bytes"

    lab_up 2 || return 1
    hbd_install_all 2
    local n
    for n in n1 n2; do install_node "$n" "$old"; done
    for n in n1 n2; do lab_exec "$n" systemctl start hbd & done
    wait
    check "the cluster on $FROM serves the VIP from n1" hbd_wait_owner n1 30 || return 1
    check "both nodes run the old build" eval '[[ $(running_sum n1) == "$old_sum" && $(running_sum n2) == "$old_sum" ]]'
    probe_start
    sampler_start
    check "the client's probe sees n1" lab_wait_for 10 probe_owner_is n1 || return 1

    # the bound: one planned switchover each way on the old release
    local base=0
    check "planned switchover on $FROM (hactl standby n1)" timed_move "hactl standby n1" n2 node_hactl n1 standby && base=$LAST_GAP
    check "... and back (hactl unstandby n1, auto_failback)" timed_move "hactl unstandby n1" n1 node_hactl n1 unstandby &&
        ((LAST_GAP > base)) && base=$LAST_GAP
    # down no longer than the slower of these, with a margin for a loaded
    # machine, and always less than deadtime (so never a failover by timeout)
    local limit=$((base * 2 + 300))
    ((limit > DEADTIME_MS - 100)) && limit=$((DEADTIME_MS - 100))
    say "bound for one planned switchover in this run: $limit ms"

    local t0 t1 g
    t0=$(date +%s%3N)
    check "upgrade n2 (not the owner): stop, $label, start, rejoin" upgrade_node n2 "$new"
    check "n2 runs the new build" eval '[[ $(running_sum n2) == "$new_sum" ]]'
    check "mixed cluster, 5 s: n1 (old) keeps the VIP, both see each other up" eval '
        no_owner_change_for 5 n1 &&
        [[ $(node_hactl n1 status) == *"node n2: up"* && $(node_hactl n2 status) == *"node n1: up"* ]]'
    t1=$(date +%s%3N)
    g=$(longest_gap "$t0" "$t1")
    check "no interruption while the standby node upgraded (longest gap $g ms, bound $limit ms)" test "$g" -le "$limit"

    t0=$(date +%s%3N)
    check "upgrade n1 (the owner): graceful leave hands web to n2 (new)" eval 'lab_exec n1 systemctl stop hbd && lab_wait_for 20 probe_owner_is n2'
    t1=$(date +%s%3N)
    g=$(longest_gap "$t0" "$t1")
    check "... down no longer than one planned switchover (longest gap $g ms, bound $limit ms)" test "$g" -le "$limit"
    install_node n1 "$new"
    t0=$(date +%s%3N)
    check "n1 starts on the new build, rejoins, and web fails back (auto_failback)" eval '
        lab_exec n1 systemctl start hbd && lab_wait_for 30 probe_owner_is n1'
    sleep 0.5
    t1=$(date +%s%3N)
    g=$(longest_gap "$t0" "$t1")
    check "... down no longer than one planned switchover (longest gap $g ms, bound $limit ms)" test "$g" -le "$limit"
    check "5 s steady on the new build" no_owner_change_for 5 n1

    watchers_stop
    local both
    both=$(grep -c 'on-both' "$SAMPLES" || true)
    check "web and the VIP never on both nodes ($(grep -c ' sample ' "$SAMPLES") samples of both nodes' systemd and addresses)" test "$both" = 0
    check "web.service's start/stop times in both journals never overlap" journal_overlap
    check "neither node was ever declared dead" eval '[[ -z $(hbd_events n1 peer-dead) && -z $(hbd_events n2 peer-dead) ]]'
    check "no frame was rejected (no bad-frame event on either node)" eval '[[ -z $(hbd_events n1 bad-frame) && -z $(hbd_events n2 bad-frame) ]]'
    local want
    want=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
    check "hactl version: both nodes run hbd $want" eval '[[ $(node_hactl n1 version) == *"hbd $want"* && $(node_hactl n2 version) == *"hbd $want"* ]]'
    check "both nodes run the new build's executable" eval '[[ $(running_sum n1) == "$new_sum" && $(running_sum n2) == "$new_sum" ]]'
}

sc_upgrade() {
    [[ -x $HBD_BIN/hbd && -x $HBD_BIN/hactl ]] || { check "the new build exists ($HBD_BIN/hbd: cargo build --release --bins)" false; return 1; }
    rolling_upgrade "$HBD_BIN" "this tree's build"
}

sc_upgrade_extra_field() {
    local extra
    extra=$(build_extra) || { check "this tree builds with --features wire-extra-field" false; return 1; }
    # this build's hbd, with hactl, unit and policy of this tree
    local d=$LAB_TMP_EXTRA
    mkdir -p "$d"
    install -m 0755 "$extra/hbd" "$d/hbd"
    install -m 0755 "$HBD_BIN/hactl" "$d/hactl"
    cp "$repo/units/hbd.service" "$repo/dbus-interfaces/org.hbd1.conf" "$d/"
    check "the extra-field build sends the unknown field (tag 1000)" eval '[[ $(grep -c "hbd-test-extra" "$d/hbd") -ge 1 ]]'
    rolling_upgrade "$d" "the build with an extra wire field"
}

LAB_TMP_EXTRA=$(mktemp -d /tmp/hbd-upgrade-extra.XXXX)
trap 'rm -rf "$LAB_TMP_EXTRA" "$RESULTS"' EXIT
ALL=(upgrade upgrade_extra_field)
run_scenarios "$@"
