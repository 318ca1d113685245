//! One journal line per core event, with the structured fields operators
//! filter on: `journalctl -u hbd HBD_EVENT=failover`.

use tracing::{error, info, warn};

use crate::core::Event;
use crate::dbus::Status;

pub fn log_event(e: &Event) {
    let ev = e.event();
    match e {
        Event::LinkUp { peer, link } => {
            info!(HBD_EVENT = ev, HBD_PEER = %peer, HBD_LINK = %link, "link {peer}:{link} up")
        }
        Event::LinkDown { peer, link } => {
            warn!(HBD_EVENT = ev, HBD_PEER = %peer, HBD_LINK = %link, "link {peer}:{link} down")
        }
        Event::PeerUp { peer, generation } => {
            info!(HBD_EVENT = ev, HBD_PEER = %peer, "node {peer} is up (generation {generation})")
        }
        Event::PeerLate { peer, silent_ms } => {
            warn!(HBD_EVENT = ev, HBD_PEER = %peer, "late heartbeat from {peer}: nothing heard for {silent_ms} ms")
        }
        Event::PeerDead { peer } => warn!(HBD_EVENT = ev, HBD_PEER = %peer, "node {peer} is dead"),
        Event::PeerRestarted { peer, generation } => {
            info!(HBD_EVENT = ev, HBD_PEER = %peer, "node {peer} restarted (generation {generation})")
        }
        Event::PeerLeft { peer } => info!(HBD_EVENT = ev, HBD_PEER = %peer, "node {peer} left the cluster"),
        Event::StaleGeneration { peer, generation, known } => warn!(
            HBD_EVENT = ev, HBD_PEER = %peer,
            "dropping frames from {peer} with generation {generation}: it has been seen at {known} (replayed or from an older run)"
        ),
        Event::SplitBrain { group, peer } => warn!(
            HBD_EVENT = ev, HBD_GROUP = %group, HBD_PEER = %peer,
            "split brain: group {group} ran here and on {peer}; resolving to one owner"
        ),
        Event::ConfigMismatch { peer } => warn!(
            HBD_EVENT = ev, HBD_PEER = %peer,
            "node {peer} runs a different configuration; make /etc/hbd/hbd.toml identical on every node"
        ),
        Event::QuorumLost => warn!(HBD_EVENT = ev, "quorum lost: this partition holds no majority; giving groups up"),
        Event::QuorumRegained => info!(HBD_EVENT = ev, "quorum regained"),
        Event::Takeover { group, reason } => {
            info!(HBD_EVENT = ev, HBD_GROUP = %group, "taking over group {group} ({})", reason.as_str())
        }
        Event::Release { group, reason } => {
            info!(HBD_EVENT = ev, HBD_GROUP = %group, "releasing group {group} ({})", reason.as_str())
        }
        Event::GroupStarted { group } => info!(HBD_EVENT = ev, HBD_GROUP = %group, "group {group} started"),
        Event::GroupStopped { group } => info!(HBD_EVENT = ev, HBD_GROUP = %group, "group {group} stopped"),
        Event::GroupMoved { group, from, to, reason } => {
            let from = if from.is_empty() { "nowhere" } else { from };
            info!(
                HBD_EVENT = ev, HBD_GROUP = %group, HBD_PEER = %to, HBD_REASON = reason.as_str(),
                "group {group} moved from {from} to {to} ({})", reason.as_str()
            )
        }
        Event::ResourceFailed { group, resource, reason, failcount, threshold } => {
            let next = if failcount >= threshold {
                format!("failure {failcount} of {threshold} (migration_threshold): moving group {group} away")
            } else {
                format!("restarting it, failure {failcount} of {threshold}")
            };
            warn!(HBD_EVENT = ev, HBD_GROUP = %group, HBD_UNIT = %resource, "{resource} of group {group}: {reason}; {next}")
        }
        Event::FailuresExpired { group } => info!(
            HBD_EVENT = ev, HBD_GROUP = %group,
            "fail count of group {group} expired (failure_timeout); this node may run it again"
        ),
        Event::StartFailed { group, resource, reason } => warn!(
            HBD_EVENT = ev, HBD_GROUP = %group, HBD_UNIT = %resource,
            "starting {resource} of group {group} failed: {reason}; releasing the group"
        ),
        Event::StopFailed { group, resource, reason } => warn!(
            HBD_EVENT = ev, HBD_GROUP = %group, HBD_UNIT = %resource,
            "stopping {resource} of group {group} failed: {reason}; the group is blocked until: hactl cleanup {group}"
        ),
        Event::UnitStray { group, resource, again, .. } if *again > 0 => warn!(
            HBD_EVENT = ev, HBD_GROUP = %group, HBD_UNIT = %resource,
            "{resource} of group {group} keeps coming up here outside hbd ({again} times within a minute): something starts it (a socket, a timer, a Wants= of an enabled unit; see systemctl list-dependencies --reverse {resource}); hbd stops it each time, and says so again in a minute"
        ),
        Event::UnitStray { group, resource, owner, .. } => {
            let runs = match owner {
                Some(o) => format!("{o} runs it"),
                None => "no node runs it".to_string(),
            };
            warn!(
                HBD_EVENT = ev, HBD_GROUP = %group, HBD_UNIT = %resource,
                "{resource} of group {group} came up here outside hbd, but this node does not run {group} ({runs}); stopping it so that it runs in one place only: move the group with hactl move {group} NODE, not with systemctl"
            )
        }
        Event::FenceStarted { peer } => {
            warn!(HBD_EVENT = ev, HBD_PEER = %peer, "fencing {peer} (hbd-fence@{peer}.service)")
        }
        Event::FenceFailed { peer } => warn!(
            HBD_EVENT = ev, HBD_PEER = %peer,
            "fencing {peer} failed; its groups stay down (see journalctl -u hbd-fence@{peer}.service)"
        ),
        Event::Fenced { peer } => info!(HBD_EVENT = ev, HBD_PEER = %peer, "{peer} fenced"),
        Event::StandbyChanged { node, on } => info!(
            HBD_EVENT = ev, HBD_PEER = %node,
            "node {node} {}", if *on { "is in standby" } else { "left standby" }
        ),
        Event::SendFailed { reason } => error!(
            HBD_EVENT = ev,
            "cannot send to peers: {reason}; this node gives its groups up and claims none until hbd is restarted or reloaded"
        ),
        Event::CheckFailed { check, group, reason, fall } if group.is_empty() => warn!(
            HBD_EVENT = ev,
            "{check} failed {fall} times in a row: {reason}; this node is in standby until it passes again"
        ),
        Event::CheckFailed { check, group, reason, fall } => warn!(
            HBD_EVENT = ev, HBD_GROUP = %group,
            "{check} of group {group} failed {fall} times in a row: {reason}"
        ),
        Event::CheckRecovered { check, group } if group.is_empty() => {
            info!(HBD_EVENT = ev, "{check} passes again; this node leaves standby")
        }
        Event::CheckRecovered { check, group } => {
            info!(HBD_EVENT = ev, HBD_GROUP = %group, "{check} of group {group} passes again")
        }
        Event::UnitRestarted { group, resource } => info!(
            HBD_EVENT = ev, HBD_GROUP = %group, HBD_UNIT = %resource,
            "{resource} of group {group} was restarted outside hbd (systemctl restart, or a restart of a unit it depends on); not a failure"
        ),
    }
}

/// The one-line `STATUS=` systemd shows: "active: web on n1; peers: n2 up 2/2 links".
pub fn status_line(s: &Status) -> String {
    let groups: Vec<String> =
        s.groups
            .iter()
            .map(|g| {
                if g.owner.is_empty() {
                    format!("{} {}", g.name, g.state)
                } else {
                    format!("{} on {}", g.name, g.owner)
                }
            })
            .collect();
    let peers: Vec<String> = s
        .nodes
        .iter()
        .filter(|n| !n.local)
        .map(|n| {
            let up = n.links.iter().filter(|l| l.1 == "up").count();
            format!("{} {} {up}/{} links", n.name, n.state, n.links.len())
        })
        .collect();
    let me = s.nodes.iter().find(|n| n.local).map_or("up", |n| n.state.as_str());
    let head = if me == "up" { "active".to_string() } else { me.to_string() };
    format!("{head}: {}; peers: {}", groups.join(", "), peers.join(", "))
}
