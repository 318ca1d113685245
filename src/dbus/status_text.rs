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
        note: g.note.clone(),
        checks: checks(&g.checks),
        pinned: g.pinned.clone(),
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
