#!/usr/bin/env bash
# One PDU request (run by socat for each connection): reads a node name on
# stdin, power-cuts that lab machine, checks it is down, answers "ok" — or
# "fail" when the PDU's mode file says so (or the cut did not work).
#   handler.sh RUNID ASKING_NODE
set -u
here=$(cd "$(dirname "$0")" && pwd)
LAB_RUN=$1
asker=$2
source "$here/../lab.sh"
_lab_ctx >/dev/null 2>&1 || { echo fail; exit 0; }
log=$LAB_DIR/pdu/log
read -r -t 10 node || node=""
mode=$(cat "$LAB_DIR/pdu/mode" 2>/dev/null || echo ok)
echo "$(date +%T.%3N) $asker asks to power off '$node' (mode $mode)" >>"$log"
known=0
for n in "${LAB_NODES[@]}"; do [[ $n == "$node" && $n != "$asker" ]] && known=1; done
if ((!known)) || [[ $mode != ok ]]; then
    echo "$(date +%T.%3N) -> fail" >>"$log"
    echo fail
    exit 0
fi
lab_power_cut "$node" >>"$log" 2>&1
if lab_pid1 "$node" >/dev/null 2>&1; then
    echo "$(date +%T.%3N) -> fail: $node still runs" >>"$log"
    echo fail
else
    echo "$(date +%T.%3N) -> ok: $node is off" >>"$log"
    echo ok
fi
