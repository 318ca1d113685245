# shellcheck shell=bash
# The harness of the lab's scenario scripts: a scenario is a function sc_NAME
# run in a freshly booted cluster; `check` records one assertion. Source
# after lab.sh and hbd.sh; end the script with: run_scenarios "$@".
#   ALL=(names...)   the scenarios run when none are named

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT

# check DESCRIPTION CMD...: one assertion of a scenario. (Under pipefail,
# `cmd | grep -q` fails when grep exits before cmd has written all its
# lines (SIGPIPE): compare captured output, [[ $(cmd) == *text* ]], instead.)
check() {
    local what=$1
    shift
    if "$@"; then
        echo "  ok    $what"
        echo "pass $SCENARIO: $what" >>"$RESULTS"
    else
        echo "  FAIL  $what"
        echo "fail $SCENARIO: $what" >>"$RESULTS"
        FAILED_HERE=1
        return 1
    fi
}

# Show the journals of a failed scenario before its lab is torn down.
lab_on_down() {
    if [[ ${FAILED_HERE:-0} == 1 ]]; then
        local n
        for n in "${LAB_NODES[@]}"; do
            echo "  --- journal of hbd on $n"
            lab_journal "$n" -u hbd -o short-monotonic --no-pager 2>/dev/null | tail -40 | sed 's/^/  | /'
        done
    fi
    return 0
}

# unit NAME: write a unit file from stdin and install it on every node.
unit() {
    cat >"$LAB_DIR/$1"
    lab_install_unit "$LAB_DIR/$1"
}
owner_is() { [[ $(hbd_vip_owner 1) == "$1" ]]; }
no_owner_change_for() { # SECONDS NODE: the VIP keeps answering from NODE
    local end=$((SECONDS + $1))
    while ((SECONDS < end)); do
        [[ $(hbd_vip_owner 0.5) == "$2" ]] || return 1
        sleep 0.2
    done
}
journal_has() { lab_journal "$1" -u hbd -o cat --no-pager 2>/dev/null | grep -q -- "$2"; }
event_has() { [[ -n $(hbd_events "$1" "$2") ]]; }
status_json() { lab_hactl "$1" status --json 2>/dev/null; }
json_owner() { status_json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([g["owner"] for g in d["groups"] if g["name"]=="web"][0])'; }
web_pid() { lab_exec "$1" systemctl show -P MainPID web.service; }
count_owners() { # how many nodes have the VIP configured
    local n c=0
    for n in "${LAB_NODES[@]}"; do
        lab_nsexec "$n" ip -4 addr show dev eth0 2>/dev/null | grep -q "inet $HBD_VIP/" && c=$((c + 1))
    done
    echo "$c"
}
ms_since() { echo $(($(date +%s%3N) - $1)); }

# run_scenarios [NAME...]: each in a subshell (lab_up's traps tear its lab
# down when it ends); prints "LABEL: N passed, M failed".
run_scenarios() {
    lab_deps >/dev/null
    (($#)) && set -- "$@" || set -- "${ALL[@]}"
    for s in "$@"; do
        echo "== scenario $s"
        # Each scenario in a subshell: lab_up's traps tear its lab down when it ends.
        (
            SCENARIO=$s
            FAILED_HERE=0
            # (a scenario that ends on a failed check has said so already)
            "sc_$s" || ((FAILED_HERE)) || {
                echo "  FAIL  scenario could not run"
                echo "fail $s: could not run" >>"$RESULTS"
                FAILED_HERE=1
            }
            lab_down
        )
    done
    passed=$(grep -c '^pass' "$RESULTS")
    failed=$(grep -c '^fail' "$RESULTS")
    if ((failed)); then
        echo "failed checks:"
        grep '^fail' "$RESULTS" | sed 's/^fail /  /'
    fi
    echo "${SCENARIOS_LABEL:-lab scenarios}: $passed passed, $failed failed"
    ((failed == 0))
}
