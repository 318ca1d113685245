#!/usr/bin/env bash
# hbd's Cockpit page (cockpit/), in a real browser: Debian's cockpit-ws and
# cockpit-bridge in node n1, Debian's headless Chromium (driven by
# chromedriver through Selenium, tests/lab/cockpit_browser.py) in the lab's
# client namespace, logging in over https://10.77.0.11:9090 as a lab user
# with a password.  What is checked is what the user sees on the page.
#   tests/lab/cockpit.sh            all scenarios
#   tests/lab/cockpit.sh NAME...    some (see the list at the end)
# Screenshots go to $COCKPIT_OUT (default target/lab-cockpit/).
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lab.sh"
source "$here/hbd.sh"
source "$here/scenario_lib.sh"
SCENARIOS_LABEL="lab cockpit"
OUT=${COCKPIT_OUT:-$HBD_REPO/target/lab-cockpit}
mkdir -p "$OUT" && rm -f "$OUT"/*.png

# What this needs beyond the lab (the machines see the host's /usr).
need=()
for p in cockpit-ws cockpit-bridge cockpit-system chromium chromium-driver python3-selenium; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${need[@]}"; } >/dev/null || {
        echo "cannot install ${need[*]}"
        exit 1
    }
fi

PASSWORD=lab-Cockpit-2026
URL=https://10.77.0.11:9090/
BROWSER_PID=

# cockpit_node NODE: Cockpit as Debian's packages set it up on a fresh
# machine, in a lab node (whose /etc is empty at every boot): the PAM
# configuration and /etc/cockpit from the host's packages, cockpit-ws'
# system users with the host's ids (they own files in the shared /usr),
# passwords and homes for the lab's users, hbd's page at
# /usr/share/cockpit/hbd (an overlay on the read-only /usr), then
# cockpit.socket.
cockpit_node() {
    local n=$1 u uid gid hash
    tar -C /etc -cf - pam.d security login.defs cockpit | lab_exec "$n" tar -C /etc -xf - || return 1
    for u in cockpit-ws cockpit-wsinstance; do
        uid=$(getent passwd "$u" | cut -d: -f3) gid=$(getent group "$u" | cut -d: -f3)
        lab_exec "$n" sh -c "getent passwd $u >/dev/null || { groupadd -r -g $gid $u && useradd -r -u $uid -g $u -d /nonexistent -s /usr/sbin/nologin $u; }" || return 1
    done
    hash=$(/usr/bin/python3 -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_SHA512)))' "$PASSWORD" 2>/dev/null) || return 1
    for u in labop labuser; do lab_exec "$n" usermod -p "$hash" -d "/home/$u" -m "$u" || return 1; done
    lab_exec "$n" sh -ec 'mkdir -p /run/hbd-cockpit/upper /run/hbd-cockpit/work
        mount -t overlay hbd-cockpit -o lowerdir=/usr/share/cockpit,upperdir=/run/hbd-cockpit/upper,workdir=/run/hbd-cockpit/work /usr/share/cockpit
        mkdir -p /usr/share/cockpit/hbd' || return 1
    tar -C "$HBD_REPO/cockpit" -cf - . | lab_exec "$n" tar -C /usr/share/cockpit/hbd --no-same-owner -xf - || return 1
    lab_exec "$n" systemctl start cockpit.socket
}
lab_on_boot() { [[ $1 == n1 ]] && { cockpit_node n1 || return 1; }; return 0; }

# The browser: a coprocess in the client's namespace.
browser_start() {
    local dir=$LAB_DIR/browser
    mkdir -p "$dir/profile"
    coproc BR { exec ip netns exec "$LAB_RUN-cl" env HOME="$dir" /usr/bin/python3 "$here/cockpit_browser.py" "$dir/profile" "$dir/chromedriver.log" 2>"$dir/stderr"; }
    BROWSER_PID=$BR_PID
    local line
    read -r -t 60 line <&"${BR[0]}" || line="fail no answer"
    [[ $line == ok* ]] || { echo "  (browser: $line)"; tail -5 "$dir/stderr"; return 1; }
}
# br COMMAND ARG...: one command to the browser (tab-separated: an argument
# may hold spaces); its answer is in $BR_ANSWER.  On the first failure in a
# scenario it saves a screenshot and shows the page's text (not with
# BR_QUIET=1, for a failure that is expected).
BR_ANSWER=
br() {
    BR_ANSWER=
    [[ -n ${BR[1]:-} ]] || { BR_ANSWER="fail no browser"; return 1; }
    # (not from a subshell: a coprocess' descriptors are not open there)
    local line
    printf -v line '%s\t' "$@"
    echo "$line" >&"${BR[1]}" || { BR_ANSWER="fail the browser is gone"; return 1; }
    read -r -t 120 BR_ANSWER <&"${BR[0]}" || BR_ANSWER="fail the browser did not answer"
    [[ $BR_ANSWER == ok* ]] && return 0
    echo "  (browser: $BR_ANSWER)"
    # Once per failing scenario: what the user saw, and the console.
    if [[ $1 != debug && $1 != screenshot && ${BR_DEBUGGED:-0} == 0 && ${BR_QUIET:-0} == 0 ]]; then
        BR_DEBUGGED=1
        local a=$BR_ANSWER
        br screenshot "$OUT/failed-$SCENARIO.png" >/dev/null && echo "  (screenshot: $OUT/failed-$SCENARIO.png)"
        br debug >/dev/null && echo "  (page: ${BR_ANSWER#ok })"
        BR_ANSWER=$a
    fi
    return 1
}
browser_stop() {
    [[ -n $BROWSER_PID ]] || return 0
    if [[ -n ${BR[1]:-} ]]; then echo quit >&"${BR[1]}" 2>/dev/null; fi
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$BROWSER_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$BROWSER_PID" 2>/dev/null
    wait "$BROWSER_PID" 2>/dev/null
    # chromedriver and Chromium outlive a killed driver script: end them by
    # their pid (found by this run's own profile directory), never by name.
    local p
    for p in /proc/[0-9]*; do
        [[ $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") == *"$LAB_DIR/browser"* ]] && kill -9 "${p#/proc/}" 2>/dev/null
    done
    BROWSER_PID=
    return 0
}
eval "$(declare -f lab_on_down | sed '1s/lab_on_down/_journals_on_down/')"
lab_on_down() {
    browser_stop
    if [[ ${FAILED_HERE:-0} == 1 && -n ${LAB_DIR:-} ]]; then
        echo "  --- Cockpit on n1"
        lab_journal n1 -u cockpit -u cockpit-wsinstance-https@\* -u session-\*.scope -o short-monotonic --no-pager 2>/dev/null | tail -15 | sed 's/^/  | /'
        [[ -s $LAB_DIR/browser/stderr ]] && { echo "  --- browser"; tail -15 "$LAB_DIR/browser/stderr" | sed 's/^/  | /'; }
    fi
    _journals_on_down
    return 0
}

# Selectors of what the user reads on the page.
OWNER='[data-group=web] [data-test=owner]'
node_state() { echo "[data-node=$1] [data-test=node-state]"; }
page_is() { br wait_text "$1" "$2" "${3:-15}"; }
# web.service's state on the page is systemd's own ("active (running)").
web_unit_active() { br text '[data-resource="web.service"] [data-test=resource-state]' && [[ $BR_ANSWER == "ok active"* ]]; }

# ------------------------------------------------------------------ scenarios

sc_operator() {
    HBD_AUTO_FAILBACK=false hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    check "cockpit.socket listens on n1" eval '[[ $(lab_systemctl n1 is-active cockpit.socket) == active ]]' || return 1
    check "headless Chromium starts in the client's namespace" browser_start || return 1
    check "labop (in haclient) logs in at $URL and opens 'HA cluster' from Cockpit's menu" br login "$URL" labop "$PASSWORD" || return 1
    br mark
    check "the page shows the cluster's name" page_is '#title' "HA cluster lab"
    check "and quorum" page_is '[data-test=quorum]' "quorate"
    check "owner of web: n1" page_is "$OWNER" n1
    check "group state: started" page_is '[data-group=web] [data-test=group-state]' started
    check "n1 and n2 are up" eval 'page_is "$(node_state n1)" up && page_is "$(node_state n2)" up'
    check "n2's links hb and lan are up, heard less than a second ago" eval '
        page_is "[data-node=n2] [data-link=hb] [data-test=link-state]" up &&
        page_is "[data-node=n2] [data-link=lan] [data-test=link-state]" up &&
        br text "[data-node=n2] [data-link=hb] [data-test=link-age]" && [[ $BR_ANSWER == "ok 0."*" s ago" ]]'
    check "the resources: the VIP started, web.service as systemd says: active" eval '
        page_is "[data-resource=\"$HBD_VIP/24\"] [data-test=resource-state]" started && lab_wait_for 10 web_unit_active'
    check "the generation of n1 is the one hbd reports" eval '
        br text "[data-node=n1] [data-test=node-generation]" &&
        [[ ${BR_ANSWER#ok } == $(lab_exec n1 busctl get-property org.hbd1 /org/hbd1 org.hbd1.Manager Generation | cut -d" " -f2) ]]'
    check "no read-only line for labop" br wait_gone '[data-test=readonly]:not([hidden])' 5
    # (all but Clear move: nothing is pinned yet)
    check "labop may use every action but Clear move (web is not pinned)" eval 'br enabled_actions && [[ $BR_ANSWER =~ ^ok\ ([0-9]+)\ of\ ([0-9]+)$ && ${BASH_REMATCH[1]} == "$((BASH_REMATCH[2] - 1))" && ${BASH_REMATCH[1]} -ge 6 ]]'
    check "screenshot: before the failover (light)" br screenshot "$OUT/before-light.png"
    check "the dark theme (the browser prefers it; Cockpit's style: auto)" br theme dark
    br screenshot "$OUT/before-dark.png"
    br theme light

    # Move, clear the move, cleanup: each from the page, confirmed.
    check "Move web to n2 (the choice offered: the node that does not run it), confirm" eval '
        br text "[data-group=web] [data-test=move-target]" && br click "[data-group=web] [data-action=move]" &&
        br text "#modal-title" && [[ $BR_ANSWER == "ok Move web to n2?" ]] && br confirm 20'
    check "the page shows web on n2, pinned there (its note)" eval '
        page_is "$OWNER" n2 15 && br wait_present "[data-group=web] [data-test=note]" 5 &&
        br text "[data-group=web] [data-test=note]" && [[ $BR_ANSWER == *"pinned to n2"* ]] &&
        br text "[data-group=web] [data-test=pinned]" && [[ $BR_ANSWER == "ok n2" ]]'
    check "Move it back to n1, then Clear move: owner n1, no note" eval '
        br select "[data-group=web] [data-test=move-target]" n1 && br click "[data-group=web] [data-action=move]" && br confirm 20 &&
        page_is "$OWNER" n1 15 && br click "[data-group=web] [data-action=clear-move]" && br confirm 20 &&
        br wait_gone "[data-group=web] [data-test=note]" 10 && page_is "$OWNER" n1 3'
    check "Cleanup web, confirm: accepted, fail count 0" eval '
        br click "[data-group=web] [data-action=cleanup]" && br confirm 20 && page_is "[data-group=web] [data-test=failcount]" 0 3'

    # Standby n1, with the page's confirmation.
    check "click Standby on n1: a dialog asks first" eval 'br click "[data-node=n1] [data-action=standby]" && br wait_present "#modal:not([hidden])" 5'
    check "confirm: the dialog closes" br confirm 20
    check "the page shows n1 in standby" page_is "$(node_state n1)" standby 10
    check "and the owner of web become n2" page_is "$OWNER" n2 15
    check "the VIP answers from n2" hbd_wait_owner n2 10
    check "the move is in the page's events (standby)" br wait_present '[data-test=event][data-kind=standby]' 10
    check "n1's button now says Unstandby" br wait_present '[data-node=n1] [data-action=unstandby]' 5

    # A call hbd refuses: Reload with a broken configuration file.
    lab_exec n1 cp /etc/hbd/hbd.toml /run/hbd.toml.good
    lab_exec n1 sh -c 'printf "\n[cluster]\nname = \"again\"\n" >>/etc/hbd/hbd.toml'
    check "Reload with a broken hbd.toml: the dialog shows hbd's own error" eval '
        br click "#reload" && ! BR_QUIET=1 br confirm 20 && [[ $BR_ANSWER == *org.hbd1.Error.InvalidConfig* && $BR_ANSWER == *hbd.toml* ]]'
    br screenshot "$OUT/refused.png"
    br cancel
    lab_exec n1 cp /run/hbd.toml.good /etc/hbd/hbd.toml
    check "Reload of the good file: accepted" eval 'br click "#reload" && br confirm 20'

    # Unstandby n1 (auto_failback is off: web stays on n2), then the power cut.
    check "click Unstandby on n1, confirm" eval 'br click "[data-node=n1] [data-action=unstandby]" && br confirm 20'
    check "n1 is up again; web stays on n2 (auto_failback = false)" eval 'page_is "$(node_state n1)" up 10 && page_is "$OWNER" n2 3'
    local t0
    t0=$(date +%s%3N)
    lab_power_cut n2
    check "power cut of n2: the page shows n2 dead" page_is "$(node_state n2)" dead 10
    check "and the owner of web become n1" page_is "$OWNER" n1 15
    echo "  (the page showed the failover $(ms_since "$t0") ms after the power cut)"
    check "n2's links are down on the page" page_is "[data-node=n2] [data-link=hb] [data-test=link-state]" down 5
    check "the failover is in the page's events" br wait_present '[data-test=event][data-kind=failover]' 10
    check "and n2's death (the journal is not labop's to read: from the bus)" br wait_present '[data-test=event][data-kind="node dead"]' 5
    check "all of it without a reload of the page" br marked
    check "the VIP answers from n1" hbd_wait_owner n1 10
    check "screenshot: after the failover (light)" br screenshot "$OUT/after-light.png"
    br theme dark
    check "screenshot: after the failover (dark)" br screenshot "$OUT/after-dark.png"
    br theme light
    check "a narrow screen (400 px): the page needs no sideways scrolling" eval 'br size 400 900 && sleep 0.5 && br overflow'
    br screenshot "$OUT/narrow.png"
    br size 1280 800

    # hbd stops and starts again under the open page.
    lab_exec n1 systemctl stop hbd
    check "systemctl stop hbd on n1: the page says hbd is not running" eval '
        br wait_present "[data-test=down]:not([hidden])" 10 && br text "[data-test=down]" && [[ $BR_ANSWER == *"hbd is not running"* ]]'
    lab_exec n1 systemctl start hbd
    check "systemctl start hbd: the page follows the new hbd (n1 at generation 2, owner of web)" eval '
        page_is "[data-node=n1] [data-test=node-generation]" 2 15 && page_is "$OWNER" n1 15 && br wait_gone "[data-test=down]:not([hidden])" 5'
    check "still without a reload of the page" br marked
}

sc_readonly() {
    hbd_cluster_up 2 || return 1
    check "n1 serves the VIP" hbd_wait_owner n1 15 || return 1
    check "headless Chromium starts in the client's namespace" browser_start || return 1
    check "labuser (not in haclient) logs in and opens the page" br login "$URL" labuser "$PASSWORD" || return 1
    check "the page shows the cluster all the same (owner n1, n2 up)" eval 'page_is "$OWNER" n1 && page_is "$(node_state n2)" up'
    check "a line says why it is read-only" eval 'br wait_present "[data-test=readonly]:not([hidden])" 5 && br text "[data-test=readonly]" &&
        [[ $BR_ANSWER == *"labuser is not root and not in group haclient"* ]]'
    check "every action is disabled" eval 'br enabled_actions && [[ $BR_ANSWER =~ ^ok\ 0\ of\ ([0-9]+)$ && ${BASH_REMATCH[1]} -ge 6 ]]'
    check "a click on Standby opens no dialog" eval '! BR_QUIET=1 br click "[data-node=n1] [data-action=standby]" && br wait_gone "#modal:not([hidden])" 1'
    check "the journal is not the user's to read: the page says it shows the bus' events" eval '
        br wait_present "#events-note:not([hidden])" 10 && br text "#events-note" && [[ $BR_ANSWER == *"readable for labuser"* ]]'
    br screenshot "$OUT/readonly.png"
    check "hbd refuses labuser's Standby itself too (busctl as labuser)" eval '
        out=$(lab_exec n1 setpriv --reuid=labuser --regid=users --clear-groups busctl call org.hbd1 /org/hbd1 org.hbd1.Manager Standby s n1 2>&1)
        [[ $out == *"Access denied"* || $out == *AccessDenied* || $out == *"permission denied"* ]]'
    check "and n1 still owns web" eval 'page_is "$OWNER" n1 2 && owner_is n1'
}

ALL=(operator readonly)
run_scenarios "$@"
rc=$?
echo "screenshots: $OUT"
exit $rc
