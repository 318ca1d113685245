# shellcheck shell=bash
# A "lab PDU" for fencing tests.  Source after lab.sh (and hbd.sh).
#   pdu_start [ok|fail]   listener on every node's /etc/hbd/pdu.sock, and
#                         hbd-fence@.service installed in every node
#   pdu_mode ok|fail      what the PDU does from now on
#   pdu_log               what it was asked and did
# The listener is one socat per node (UNIX-LISTEN under the run directory,
# so the lab's teardown removes it); each request runs handler.sh, which
# power-cuts the named machine with lab_power_cut and answers "ok" once it
# is gone.  The node asking is passed along, so a node cannot fence itself.
PDU_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pdu_start() {
    _lab_ctx || return 1
    mkdir -p "$LAB_DIR/pdu"
    echo "${1:-ok}" >"$LAB_DIR/pdu/mode"
    : >"$LAB_DIR/pdu/log"
    local n sock
    for n in "${LAB_NODES[@]}"; do
        sock=$(lab_node_dir "$n")/etc-hbd/pdu.sock
        rm -f "$sock"
        _lab_spawn socat UNIX-LISTEN:"$sock",fork,mode=600 \
            EXEC:"bash $PDU_HERE/handler.sh $LAB_RUN $n" </dev/null >>"$LAB_DIR/pdu/socat.log" 2>&1 &
        disown $!
        lab_wait_for 5 test -S "$sock" || { _lab_die "PDU socket $sock did not appear"; return 1; }
    done
    lab_install_unit "$PDU_HERE/hbd-fence@.service"
}
pdu_mode() { echo "$1" >"$LAB_DIR/pdu/mode"; }
pdu_log() { cat "$LAB_DIR/pdu/log" 2>/dev/null; }
