//! The core's status in the API's words: the one place the daemon turns
//! what the core knows into the strings the bus, `hactl` and the
//! `STATUS=` line show. Lab tests and operators' scripts grep them: a
//! change of wording here is a change of the API.

use std::borrow::Cow;

use super::model::{CheckStatus, GroupStatus, NodeStatus, Status};
use crate::core::node::{self as core, CheckState, GroupNote, NodeState, Volatile};
use crate::core::{GroupState, ResourceState};

pub fn worded(st: &core::Status) -> Status {
    Status {
        cluster: st.cluster.clone(),
        local: st.local.clone(),
        generation: st.generation,
        quorate: st.quorate,
        nodes: st.nodes.iter().map(node).collect(),
        groups: st.groups.iter().map(|g| group(g, &st.local)).collect(),
    }
}

/// Bring a worded snapshot's link ages and check counts up to date, as
/// `core::Status::refresh` does the core's: the snapshot is not worded
/// again for them.
pub fn refresh(st: &mut Status, v: &Volatile) {
    for (n, ages) in st.nodes.iter_mut().zip(&v.link_ages) {
        n.links.iter_mut().zip(ages).for_each(|(l, age)| l.2 = *age);
    }
    let counts = |cs: &mut [CheckStatus], new: &[(u32, i64)]| {
        for (c, &(passes, latency_ms)) in cs.iter_mut().zip(new) {
            (c.passes, c.latency_ms) = (passes, latency_ms);
        }
    };
    if let Some(local) = st.nodes.iter_mut().find(|n| n.local) {
        counts(&mut local.checks, &v.node_checks);
    }
    for (gi, new) in &v.group_checks {
        if let Some(g) = st.groups.get_mut(*gi) {
            counts(&mut g.checks, new);
        }
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

fn group(g: &core::GroupStatus, local: &str) -> GroupStatus {
    // A peer's resources are as that peer reports them, and say whose they
    // are: this node's systemd may well say otherwise.
    let on_peer = (!g.owner.is_empty() && g.owner != local).then_some(g.owner.as_str());
    GroupStatus {
        name: g.name.clone(),
        owner: g.owner.clone(),
        state: group_state(g.state).to_string(),
        preferred: g.preferred.clone(),
        resources: g
            .resources
            .iter()
            .map(|(kind, name, state)| {
                let state = resource_state(state);
                let state = match on_peer {
                    Some(owner) => format!("{state} on {owner}"),
                    None => state.into_owned(),
                };
                (kind.clone(), name.clone(), state)
            })
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

/// A unit hbd follows is shown as `systemctl status` shows it (on the
/// group's owner; elsewhere [`worded`] adds " on OWNER").
pub fn resource_state(s: &ResourceState) -> Cow<'static, str> {
    Cow::Borrowed(match s {
        ResourceState::Unit(u) => return Cow::Owned(u.to_string()),
        ResourceState::Starting => "starting",
        ResourceState::Stopping => "stopping",
        ResourceState::Started => "started",
        ResourceState::Stopped => "stopped",
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
        GroupNote::RestartingOutside { units } => format!(
            "{} went down within a job of systemd's (systemctl restart?); waiting for the job to bring it back",
            units.join(", ")
        ),
        GroupNote::Strays { units } => format!(
            "{} came up on this node outside hbd; stopping it here, so that it runs in one place only",
            units.join(", ")
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, passes: u32, latency_ms: i64) -> core::CheckStatus {
        core::CheckStatus {
            name: name.into(),
            probe: "tcp 127.0.0.1:80".into(),
            state: CheckState::Healthy,
            passes,
            failures: 0,
            latency_ms,
            error: String::new(),
        }
    }

    fn node(
        name: &str,
        local: bool,
        links: Vec<(String, bool, i64)>,
        checks: Vec<core::CheckStatus>,
    ) -> core::NodeStatus {
        core::NodeStatus {
            name: name.into(),
            state: NodeState::Up,
            local,
            generation: 1,
            links,
            ping: None,
            checks,
            standby: false,
        }
    }

    /// The worded snapshot refreshed in place is the status with the new
    /// ages and counts, worded: what the bus shows between publishes is
    /// what a publish would show.
    #[test]
    fn refreshing_the_worded_snapshot_is_wording_the_refreshed_status() {
        let group = |name: &str, checks| core::GroupStatus {
            name: name.into(),
            owner: "n1".into(),
            state: GroupState::Started,
            preferred: "n1".into(),
            resources: Vec::new(),
            failcount: 0,
            note: None,
            checks,
            pinned: String::new(),
        };
        let mut st = core::Status {
            cluster: "c".into(),
            local: "n1".into(),
            generation: 1,
            quorate: true,
            nodes: vec![
                node("n1", true, Vec::new(), vec![check("uplink", 3, 4)]),
                node("n2", false, vec![("hb".into(), true, 10), ("lan".into(), false, -1)], Vec::new()),
            ],
            groups: vec![
                group("a", Vec::new()),
                group("b", vec![check("web.service", 5, 2), check("db.service", 1, 9)]),
            ],
        };
        let v = Volatile {
            link_ages: vec![Vec::new(), vec![60, 1200]],
            node_checks: vec![(4, 7)],
            group_checks: vec![(1, vec![(6, 3), (2, 11)])],
        };
        let mut shown = worded(&st);
        refresh(&mut shown, &v);
        st.nodes[1].links[0].2 = 60;
        st.nodes[1].links[1].2 = 1200;
        (st.nodes[0].checks[0].passes, st.nodes[0].checks[0].latency_ms) = (4, 7);
        (st.groups[1].checks[0].passes, st.groups[1].checks[0].latency_ms) = (6, 3);
        (st.groups[1].checks[1].passes, st.groups[1].checks[1].latency_ms) = (2, 11);
        assert_eq!(shown, worded(&st));
        assert_eq!(shown.nodes[1].links[1].2, 1200);
        assert_eq!((shown.groups[1].checks[1].passes, shown.groups[1].checks[1].latency_ms), (2, 11));
        assert_eq!(shown.nodes[0].checks[0].passes, 4);
    }
}
