#!/usr/bin/env bash
# The Debian packages, end to end: build them with dpkg-buildpackage (or take
# the .deb given, and hbd-cockpit_*.deb next to it), check their contents and lintian, install hbd with apt-get
# into two fresh lab machines (/usr made writable by an overlay), write a
# configuration and a key, start hbd on both, check `hactl status` and a
# failover after a power cut, then remove (the configuration stays) and
# purge (nothing stays).  Ends with "N passed, M failed"; tears the lab
# down whatever happens.
# hbd-cockpit (the Cockpit page) is installed into the first machine and
# found there by cockpit-bridge.
#   sudo bash tests/deb/run.sh [PATH/hbd_VERSION_ARCH.deb]
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$REPO/tests/lab/lab.sh"
source "$REPO/tests/lab/hbd.sh"
export PATH=$HOME/.cargo/bin:$PATH

T0=$SECONDS
pass=0 fail=0
ok()   { pass=$((pass + 1)); echo "ok   - $*"; }
nok()  { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { # DESCRIPTION CMD...
    local d=$1; shift
    if "$@"; then ok "$d"; else nok "$d"; fi
}
checke() { # DESCRIPTION 'SHELL CONDITION'
    if eval "$2"; then ok "$1"; else nok "$1"; fi
}
finish() {
    echo
    echo "deb test: $((SECONDS - T0)) s"
    echo "$pass passed, $fail failed"
    ((fail == 0))
    exit $?
}
((EUID == 0)) || { echo "tests/deb/run.sh needs root (lab machines)"; nok "run as root"; finish; }

# ------------------------------------------------------------------ tools
need=()
for p in debhelper dpkg-dev lintian build-essential; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${need[@]}"; } >/dev/null ||
        { nok "install ${need[*]}"; finish; }
fi

# ------------------------------------------------------------------ build
DEB=${1:-}
if [[ -z $DEB ]]; then
    echo "=== building the package (dpkg-buildpackage -b -us -uc)"
    t=$SECONDS
    out=$REPO/target/deb
    ver=$(cd "$REPO" && dpkg-parsechangelog -S Version)
    arch=$(dpkg-architecture -qDEB_HOST_ARCH)
    if (cd "$REPO" && dpkg-buildpackage -b -us -uc) >"$REPO/target/deb-build.log" 2>&1; then
        mkdir -p "$out"
        for f in "hbd_${ver}_${arch}.deb" "hbd-cockpit_${ver}_all.deb" "hbd_${ver}_${arch}.buildinfo" "hbd_${ver}_${arch}.changes"; do
            mv -f "$REPO/../$f" "$out/"
        done
        DEB=$out/hbd_${ver}_${arch}.deb
        ok "dpkg-buildpackage -b -us -uc ($((SECONDS - t)) s)"
    else
        tail -n 40 "$REPO/target/deb-build.log"
        nok "dpkg-buildpackage -b -us -uc (log: target/deb-build.log)"
        finish
    fi
fi
[[ -r $DEB ]] || { nok "package $DEB readable"; finish; }
DEB=$(readlink -f "$DEB")
echo "=== package $DEB"
COCKPIT_DEB=$(ls "$(dirname "$DEB")"/hbd-cockpit_*_all.deb 2>/dev/null | sort -V | tail -n 1)

# ------------------------------------------------------------------ contents
contents=$(dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\./#/#')
has() { grep -qxF "$1" <<<"$contents"; }
for f in /usr/sbin/hbd /usr/bin/hactl /lib/systemd/system/hbd.service \
    /usr/share/dbus-1/system.d/org.hbd1.conf \
    /usr/share/dbus-1/interfaces/org.hbd1.Manager.xml \
    /usr/share/dbus-1/interfaces/org.hbd1.Node.xml \
    /usr/share/dbus-1/interfaces/org.hbd1.Group.xml \
    /usr/share/man/man8/hbd.8.gz /usr/share/man/man8/hactl.8.gz /usr/share/man/man5/hbd.toml.5.gz \
    /usr/share/bash-completion/completions/hactl /usr/share/zsh/vendor-completions/_hactl \
    /usr/share/fish/vendor_completions.d/hactl.fish \
    /usr/share/doc/hbd/examples/hbd.toml /usr/share/doc/hbd/copyright; do
    check "package contains $f" has "$f"
done
checke "package ships nothing in /etc" '! grep -q "^/etc/" <<<"$contents"'
depends=$(dpkg-deb -f "$DEB" Depends)
echo "    Depends: $depends"
checke "Depends is libc/libgcc, adduser, dbus, systemd only" \
    '[[ $(tr , "\n" <<<"$depends" | sed -E "s/^ +//; s/ .*//" | sort | tr "\n" " ") == "adduser dbus libc6 libgcc-s1 systemd " ]]'
lintian --fail-on error,warning "$DEB" >"$REPO/target/deb-lintian.log" 2>&1
lrc=$?
grep -v '^running with root privileges' "$REPO/target/deb-lintian.log" | sed 's/^/    /'
check "lintian: no error, no warning" test "$lrc" = 0

# ------------------------------------------------------------------ hbd-cockpit
if [[ -r $COCKPIT_DEB ]]; then
    ok "hbd-cockpit built: ${COCKPIT_DEB##*/}"
    ccontents=$(dpkg-deb -c "$COCKPIT_DEB" | awk '{print $6}' | sed 's#^\./#/#')
    for f in /usr/share/cockpit/hbd/manifest.json /usr/share/cockpit/hbd/index.html \
        /usr/share/cockpit/hbd/hbd.js /usr/share/cockpit/hbd/hbd.css /usr/share/doc/hbd-cockpit/copyright; do
        checke "hbd-cockpit contains $f" 'grep -qxF "$f" <<<"$ccontents"'
    done
    checke "hbd-cockpit ships the page only (/usr/share/cockpit/hbd, its doc)" \
        '! grep -v -e "^/usr/share/cockpit/hbd/" -e "^/usr/share/doc/hbd-cockpit/" -e "^/$" -e "^/usr/$" -e "^/usr/share/$" -e "^/usr/share/cockpit/$" -e "^/usr/share/doc/$" <<<"$ccontents"'
    checke "hbd-cockpit is Architecture: all" '[[ $(dpkg-deb -f "$COCKPIT_DEB" Architecture) == all ]]'
    cdepends=$(dpkg-deb -f "$COCKPIT_DEB" Depends)
    echo "    Depends: $cdepends"
    checke "hbd-cockpit Depends: cockpit-bridge, cockpit-system, hbd (same version)" \
        '[[ $(tr , "\n" <<<"$cdepends" | sed -E "s/^ +//; s/ .*//" | sort | tr "\n" " ") == "cockpit-bridge cockpit-system hbd " && $cdepends == *"hbd (>= $(dpkg-deb -f "$DEB" Version))"* ]]'
    checke "the page in the package parses as JSON (manifest.json)" \
        'dpkg-deb --fsys-tarfile "$COCKPIT_DEB" | tar -xOf - ./usr/share/cockpit/hbd/manifest.json | python3 -c "import json,sys; m=json.load(sys.stdin); sys.exit(0 if m[\"menu\"][\"index\"][\"label\"] == \"HA cluster\" else 1)"'
    lintian --fail-on error,warning "$COCKPIT_DEB" >"$REPO/target/deb-lintian-cockpit.log" 2>&1
    lrc=$?
    grep -v '^running with root privileges' "$REPO/target/deb-lintian-cockpit.log" | sed 's/^/    /'
    check "hbd-cockpit: lintian: no error, no warning" test "$lrc" = 0
else
    nok "hbd-cockpit_*_all.deb built next to ${DEB##*/}"
fi

# ------------------------------------------------------------------ lab
lab_on_down() {
    if ((fail)) && [[ -n ${LAB_DIR:-} ]]; then
        local n
        for n in "${LAB_NODES[@]}"; do
            lab_pid1 "$n" >/dev/null 2>&1 || continue
            echo "--- journal of hbd on $n"
            lab_journal "$n" -u hbd -n 30 -o short-monotonic 2>/dev/null | sed 's/^/    /'
        done
    fi
    return 0
}
lab_up 2 || { nok "lab up"; finish; }
lab_pkg_ready n1 n2 || { nok "writable /usr in the machines"; finish; }
cp "$DEB" "$LAB_DIR/opt/"
# Debian's default preset enables a package's units on installation; the
# lab's disables every unit: give hbd.service Debian's default.
echo 'enable hbd.service' >"$LAB_DIR/preset/00-hbd-deb.preset"
pkg=/opt/hbd/${DEB##*/}
for n in n1 n2; do
    # a fresh machine: no group haclient yet (the lab makes one for its users)
    lab_exec "$n" sh -c 'userdel labop 2>/dev/null; groupdel haclient 2>/dev/null; true'
done

apt_get() { local n=$1; shift; lab_exec "$n" env DEBIAN_FRONTEND=noninteractive apt-get -y -q \
    -o Dpkg::Use-Pty=0 -o APT::Sandbox::User=root "$@"; }

for n in n1 n2; do
    if apt_get "$n" install "$pkg" >"$LAB_DIR/apt-$n.log" 2>&1; then
        ok "$n: apt-get install ./${DEB##*/}"
    else
        sed 's/^/    /' "$LAB_DIR/apt-$n.log" | tail -n 25
        nok "$n: apt-get install ./${DEB##*/}"
    fi
done
n=n1
checke "$n: dpkg -l hbd: installed" '[[ $(lab_exec n1 dpkg-query -W -f="\${db:Status-Abbrev}" hbd) == "ii " ]]'
check "$n: /usr/sbin/hbd and /usr/bin/hactl run" lab_exec n1 sh -c '/usr/sbin/hbd --version && hactl version'
checke "$n: group haclient created (a system group)" \
    'g=$(lab_exec n1 getent group haclient) && gid=$(cut -d: -f3 <<<"$g") && ((gid < 1000))'
checke "$n: /etc/hbd is 0750 root:haclient and empty" \
    '[[ $(lab_exec n1 stat -c "%a %U:%G" /etc/hbd) == "750 root:haclient" && -z $(lab_exec n1 ls -A /etc/hbd) ]]'
if [[ -r $COCKPIT_DEB ]]; then
    cp "$COCKPIT_DEB" "$LAB_DIR/opt/"
    # (the machines' package database is the host's: cockpit-bridge and
    # cockpit-system are installed there, as tests/deps.sh makes sure)
    if apt_get n1 install "/opt/hbd/${COCKPIT_DEB##*/}" >"$LAB_DIR/apt-cockpit.log" 2>&1; then
        ok "n1: apt-get install ./${COCKPIT_DEB##*/}"
    else
        sed 's/^/    /' "$LAB_DIR/apt-cockpit.log" | tail -n 25
        nok "n1: apt-get install ./${COCKPIT_DEB##*/}"
    fi
    check "n1: the page is in /usr/share/cockpit/hbd" lab_exec n1 test -s /usr/share/cockpit/hbd/index.html -a -s /usr/share/cockpit/hbd/manifest.json
    checke "n1: cockpit-bridge finds the package hbd (cockpit-bridge --packages)" \
        '[[ $(lab_exec n1 cockpit-bridge --packages 2>&1) == *"hbd "*"/usr/share/cockpit/hbd"* ]]'
    if apt_get n1 remove hbd-cockpit >"$LAB_DIR/remove-cockpit.log" 2>&1; then ok "n1: apt-get remove hbd-cockpit"; else
        sed 's/^/    /' "$LAB_DIR/remove-cockpit.log" | tail -n 20; nok "n1: apt-get remove hbd-cockpit"; fi
    check "n1: remove took /usr/share/cockpit/hbd away (hbd stays)" eval \
        'lab_exec n1 test ! -e /usr/share/cockpit/hbd && [[ $(lab_exec n1 dpkg-query -W -f="\${db:Status-Abbrev}" hbd) == "ii " ]]'
fi
checke "$n: hbd.service enabled" '[[ $(lab_systemctl n1 is-enabled hbd) == enabled ]]'
checke "$n: hbd.service not running before a configuration exists" \
    '[[ $(lab_systemctl n1 is-active hbd) == inactive && $(lab_systemctl n1 show -P ConditionResult hbd) == no ]]'
check "$n: man pages installed" lab_exec n1 test -s /usr/share/man/man8/hbd.8.gz -a -s /usr/share/man/man8/hactl.8.gz -a -s /usr/share/man/man5/hbd.toml.5.gz

# ------------------------------------------------------------------ configure, start
cfg=$(mktemp)
hbd_config 2 >"$cfg"
lab_exec n1 hactl keygen -o /etc/hbd/authkey >/dev/null 2>&1
key=$(lab_exec n1 cat /etc/hbd/authkey)
for n in n1 n2; do
    lab_exec "$n" sh -c 'umask 027; cat >/etc/hbd/hbd.toml; chgrp haclient /etc/hbd/hbd.toml' <"$cfg"
    [[ $n == n1 ]] || lab_exec "$n" sh -c 'umask 077; cat >/etc/hbd/authkey' <<<"$key"
    check "$n: hactl config check" lab_exec "$n" hactl config check
done
rm -f "$cfg"
for n in n1 n2; do lab_systemctl "$n" start hbd & done
wait
for n in n1 n2; do
    checke "$n: systemctl start hbd: active" '[[ $(lab_systemctl $n is-active hbd) == active ]]'
    checke "$n: hbd owns org.hbd1 on the system bus (the packaged policy is in force)" \
        'lab_exec $n busctl --system status org.hbd1 >/dev/null 2>&1'
done
both_up() { # NODE: hactl status --json there shows n1 and n2 up
    lab_exec "$1" hactl status --json 2>/dev/null | python3 -c '
import json, sys
st = json.load(sys.stdin)
up = {n["name"] for n in st["nodes"] if n["state"] == "up"}
sys.exit(0 if {"n1", "n2"} <= up else 1)'
}
for n in n1 n2; do
    check "$n: hactl status shows n1 and n2 up" lab_wait_for 15 both_up "$n"
done
lab_exec n1 hactl status | sed 's/^/    /'
check "the VIP answers from n1 (preferred)" hbd_wait_owner n1 20

# ------------------------------------------------------------------ failover
lab_power_cut n1
check "power cut of n1: the VIP answers from n2" hbd_wait_owner n2 15
owner_n2() { [[ $(lab_exec n2 hactl status --json 2>/dev/null | python3 -c '
import json, sys
st = json.load(sys.stdin)
print(next(g["owner"] for g in st["groups"] if g["name"] == "web"))') == n2 ]]; }
check "n2: hactl status: group web owned by n2" lab_wait_for 5 owner_n2
lab_exec n2 hactl status | sed 's/^/    /'

# ------------------------------------------------------------------ remove, purge
n=n2
if apt_get n2 remove hbd >"$LAB_DIR/remove.log" 2>&1; then ok "$n: apt-get remove hbd"; else
    sed 's/^/    /' "$LAB_DIR/remove.log" | tail -n 20; nok "$n: apt-get remove hbd"; fi
checke "$n: remove stopped hbd" '! lab_exec n2 pgrep -x hbd >/dev/null'
checke "$n: remove released the VIP" '! lab_nsexec n2 ip -o addr show dev eth0 | grep -q "$HBD_VIP/"'
check "$n: remove kept /etc/hbd/hbd.toml and the key" lab_exec n2 test -s /etc/hbd/hbd.toml -a -s /etc/hbd/authkey
check "$n: remove took /usr/sbin/hbd away" lab_exec n2 test ! -e /usr/sbin/hbd
checke "$n: dpkg -l hbd: rc" '[[ $(lab_exec n2 dpkg-query -W -f="\${db:Status-Abbrev}" hbd) == "rc " ]]'
if apt_get n2 purge hbd >"$LAB_DIR/purge.log" 2>&1; then ok "$n: apt-get purge hbd"; else
    sed 's/^/    /' "$LAB_DIR/purge.log" | tail -n 20; nok "$n: apt-get purge hbd"; fi
for f in /etc/hbd /var/lib/hbd /usr/sbin/hbd /usr/bin/hactl /lib/systemd/system/hbd.service \
    /etc/systemd/system/multi-user.target.wants/hbd.service /usr/share/dbus-1/system.d/org.hbd1.conf \
    /usr/share/doc/hbd; do
    check "$n: purge removed $f" lab_exec n2 test ! -e "$f" -a ! -L "$f"
done
checke "$n: dpkg -l hbd shows nothing" '! lab_exec n2 dpkg -l hbd >/dev/null 2>&1'
left=$(lab_exec n2 sh -c 'find /run/lab-usr/upper /var/lib/dpkg/info /etc/systemd /var/lib/systemd \( -name hbd -o -name "hbd[._]*" -o -name "*hactl*" -o -name "org.hbd1*" \) 2>/dev/null')
[[ -n $left ]] && sed 's/^/    left: /' <<<"$left"
check "$n: no file of hbd anywhere in /usr, dpkg's or systemd's state" test -z "$left"

lab_down
finish
