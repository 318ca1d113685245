//! The core's status in the API's words: the one place the daemon turns
//! what the core knows into the strings the bus, `hactl` and the
//! `STATUS=` line show. Lab tests and operators' scripts grep them: a
//! change of wording here is a change of the API.

use std::borrow::Cow;

use super::model::{CheckStatus, GroupStatus, NodeStatus, Status};
use crate::core::node::{self as core, CheckState, GroupNote, NodeState, ResourceState};
use crate::core::GroupState;

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
        state: node_state(n.state).to_string(),
        local: n.local,
        generation: n.generation,
        links: n
            .links
            .iter()
            .map(|(name, up, age)| (name.clone(), if *up { "up" } else { "down" }.to_string(), *age))
            .collect(),
        ping: n.ping,
        checks: checks(&n.checks),
        standby: n.standby,
    }
}

pub fn node_state(s: NodeState) -> &'static str {
    match s {
        NodeState::Up => "up",
        NodeState::Standby => "standby",
        NodeState::Leaving => "leaving",
        NodeState::Unknown => "unknown",
        NodeState::Unverified => "unverified",
        NodeState::Dead => "dead",
        NodeState::Left => "left",
    }
}

fn group(g: &core::GroupStatus) -> GroupStatus {
    GroupStatus {
        name: g.name.clone(),
        owner: g.owner.clone(),
        state: group_state(g.state).to_string(),
        preferred: g.preferred.clone(),
        resources: g
            .resources
            .iter()
            .map(|(kind, name, state)| (kind.clone(), name.clone(), resource_state(state).into_owned()))
            .collect(),
        failcount: g.failcount,
        note: g.note.as_ref().map_or_else(String::new, |n| note(n, &g.name)),
        checks: checks(&g.checks),
        pinned: g.pinned.clone(),
    }
}

pub fn group_state(s: GroupState) -> &'static str {
    match s {
        GroupState::Stopped => "stopped",
        GroupState::Claiming => "claiming",
        GroupState::Starting => "starting",
        GroupState::Started => "started",
        GroupState::Stopping => "stopping",
        GroupState::Blocked => "blocked",
    }
}

/// A unit hbd follows is shown as `systemctl status` shows it.
pub fn resource_state(s: &ResourceState) -> Cow<'static, str> {
    Cow::Borrowed(match s {
        ResourceState::Unit(u) => return Cow::Owned(u.to_string()),
        ResourceState::Starting => "starting",
        ResourceState::Stopping => "stopping",
        ResourceState::Started => "started",
        ResourceState::Stopped => "stopped",
        ResourceState::Blocked => "blocked",
        ResourceState::Unknown => "unknown",
    })
}

/// Each note says what to do about it; `group` is the note's group.
fn note(n: &GroupNote, group: &str) -> String {
    match n {
        GroupNote::Unverified { peer } => format!(
            "{peer} sends frames this node cannot verify (different auth key?); taking no group until they agree"
        ),
        GroupNote::StopFailed { node } => {
            format!("a stop failed on {node}; the group may still run there. Fix it, then: hactl cleanup {group}")
        }
        GroupNote::StopFailedRelayed { by } => format!(
            "{by} reports a failed stop on a node it cannot reach; the group may still run there. Fix it, then: hactl cleanup {group}"
        ),
        GroupNote::FenceWait => "waiting for fencing of an unreachable node (hbd-fence@NODE.service)".to_string(),
        GroupNote::NoQuorum => "no quorum in this partition".to_string(),
        GroupNote::Isolated => "this node reaches no ping host and hears no peer".to_string(),
        GroupNote::NoEligible => "no node may run it (standby, failed or unreachable); see hactl cleanup".to_string(),
        GroupNote::Pinned { node, origin } => {
            format!("pinned to {node} by hactl move or takeover on {origin}; hactl move --clear {group} to release")
        }
    }
}

fn checks(cs: &[core::CheckStatus]) -> Vec<CheckStatus> {
    cs.iter()
        .map(|c| CheckStatus {
            name: c.name.clone(),
            probe: c.probe.clone(),
            state: check_state(c.state).to_string(),
            passes: c.passes,
            failures: c.failures,
            latency_ms: c.latency_ms,
            error: c.error.clone(),
        })
        .collect()
}

pub fn check_state(s: CheckState) -> &'static str {
    match s {
        CheckState::Off => "off",
        CheckState::Rising => "rising",
        CheckState::Healthy => "healthy",
        CheckState::Sick => "sick",
    }
}
