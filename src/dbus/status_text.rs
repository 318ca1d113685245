//! The core's status in the API's words: the one place the daemon turns
//! what the core knows into the strings the bus, `hactl` and the
//! `STATUS=` line show (and the lab tests grep).

use super::model::{CheckStatus, GroupStatus, NodeStatus, Status};
use crate::core::node as core;

pub fn worded(st: &core::Status) -> Status {
    Status {
        cluster: st.cluster.clone(),
        local: st.local.clone(),
        generation: st.generation,
        quorate: st.quorate,
        nodes: st.nodes.iter().map(node).collect(),
        groups: st.groups.iter().map(group).collect(),
    }
}

fn node(n: &core::NodeStatus) -> NodeStatus {
    NodeStatus {
        name: n.name.clone(),
        state: n.state.clone(),
        local: n.local,
        generation: n.generation,
        links: n.links.clone(),
        ping: n.ping,
        checks: checks(&n.checks),
        standby: n.standby,
    }
}

fn group(g: &core::GroupStatus) -> GroupStatus {
    GroupStatus {
        name: g.name.clone(),
        owner: g.owner.clone(),
        state: g.state.clone(),
        preferred: g.preferred.clone(),
        resources: g.resources.clone(),
        failcount: g.failcount,
        note: g.note.as_ref().map_or_else(String::new, |n| note(n, &g.name)),
        checks: checks(&g.checks),
        pinned: g.pinned.clone(),
    }
}

/// Each note says what to do about it; `group` is the note's group.
fn note(n: &core::GroupNote, group: &str) -> String {
    use core::GroupNote::*;
    match n {
        Unverified { peer } => format!(
            "{peer} sends frames this node cannot verify (different auth key?); taking no group until they agree"
        ),
        StopFailed { node } => {
            format!("a stop failed on {node}; the group may still run there. Fix it, then: hactl cleanup {group}")
        }
        StopFailedRelayed { by } => format!(
            "{by} reports a failed stop on a node it cannot reach; the group may still run there. Fix it, then: hactl cleanup {group}"
        ),
        FenceWait => "waiting for fencing of an unreachable node (hbd-fence@NODE.service)".to_string(),
        NoQuorum => "no quorum in this partition".to_string(),
        Isolated => "this node reaches no ping host and hears no peer".to_string(),
        NoEligible => "no node may run it (standby, failed or unreachable); see hactl cleanup".to_string(),
        Pinned { node, origin } => {
            format!("pinned to {node} by hactl move or takeover on {origin}; hactl move --clear {group} to release")
        }
    }
}

fn checks(cs: &[core::CheckStatus]) -> Vec<CheckStatus> {
    cs.iter()
        .map(|c| CheckStatus {
            name: c.name.clone(),
            probe: c.probe.clone(),
            state: c.state.clone(),
            passes: c.passes,
            failures: c.failures,
            latency_ms: c.latency_ms,
            error: c.error.clone(),
        })
        .collect()
}
