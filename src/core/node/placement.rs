//! Placement: who should run each group, as pure functions of what this
//! node knows (standby, location intents, fail counts, ping, preference).

use super::*;

impl Node {
    /// Node `n` is in standby because a node check of its own fails (a
    /// peer says so in its beats).
    pub(super) fn health_standby(&self, n: NodeIdx) -> bool {
        if n == self.me {
            self.sick()
        } else {
            self.peers[n].as_ref().is_some_and(|p| p.beat.as_ref().is_some_and(|b| b.standby))
        }
    }

    pub(super) fn standby_of(&self, node: &str) -> bool {
        matches!(
            self.intents.get(&IntentKey::Standby(node.to_string())),
            Some(Intent { kind: IntentKind::Standby { on: true, .. }, .. })
        )
    }

    pub(super) fn location_of(&self, group: &str) -> Option<NodeIdx> {
        match self.intents.get(&IntentKey::Location(group.to_string())) {
            Some(Intent { kind: IntentKind::Location { node: Some(n), .. }, .. }) => self.cfg.node_idx(n),
            _ => None,
        }
    }

    pub(super) fn members(&self) -> Vec<NodeIdx> {
        self.cfg
            .node_indices()
            .filter(|&i| i == self.me || self.peers[i].as_ref().is_some_and(|p| p.is_member()))
            .collect()
    }

    /// This node's ping count once its monitor has reported (what peers
    /// are told).
    pub(super) fn measured_ping(&self) -> Option<u32> {
        self.ping_eff.filter(|_| self.ping_measured)
    }

    pub(super) fn ping_of(&self, n: NodeIdx) -> Option<u32> {
        if n == self.me {
            self.ping_eff
        } else {
            self.peers[n].as_ref().and_then(|p| p.ping())
        }
    }

    pub(super) fn state_of(&self, n: NodeIdx, gi: GroupIdx) -> GroupState {
        if n == self.me {
            self.groups[gi].state
        } else {
            self.peers[n].as_ref().map_or(GroupState::Stopped, |p| p.group_state(gi))
        }
    }

    /// What placement needs to know of the nodes, once per plan rather
    /// than once per group: a step runs for every frame, tick and probe
    /// result, and with a thousand groups a per-group lookup of standby
    /// intents, members and pings was most of the daemon's idle CPU.
    pub(super) fn placement(&self) -> Placement {
        let members = self.members();
        let max_ping = if self.cfg.ping.hosts.is_empty() {
            None
        } else {
            members.iter().map(|&m| self.ping_of(m).unwrap_or(0)).max()
        };
        let usable = self
            .cfg
            .node_indices()
            .map(|n| {
                if !members.contains(&n) {
                    return false;
                }
                if self.standby_of(&self.cfg.node_at(n).name) || self.health_standby(n) {
                    return false;
                }
                let leaving = if n == self.me {
                    self.leaving || self.mute.is_some()
                } else {
                    self.peers[n].as_ref().expect("peer").leaving()
                };
                !leaving && max_ping.is_none_or(|m| self.ping_of(n).unwrap_or(0) >= m)
            })
            .collect();
        let mut locations: IdxVec<GroupIdx, Option<NodeIdx>> = self.groups.iter().map(|_| None).collect();
        for intent in self.intents.values() {
            if let IntentKind::Location { group, node: Some(n) } = &intent.kind {
                if let (Some(&gi), Some(n)) = (self.names.groups.get(group), self.cfg.node_idx(n)) {
                    if let Some(slot) = locations.get_mut(gi) {
                        *slot = Some(n);
                    }
                }
            }
        }
        Placement { placeable: self.quorate && !self.isolated(), usable, locations }
    }

    /// Node `n` may run group `gi`: a member, not in standby, not leaving,
    /// reaching as many ping hosts as the best member, and not failed here.
    fn candidate(&self, v: &Placement, n: NodeIdx, gi: GroupIdx) -> bool {
        if !v.usable[n.0] {
            return false;
        }
        let failed = if n == self.me {
            self.groups[gi].failed
        } else {
            let p = self.peers[n].as_ref().expect("peer");
            p.group(gi).is_some_and(|g| g.failed)
        };
        !failed
    }

    /// Who should run group `gi`, as this node sees the cluster; None: nobody
    /// may (no quorum, cut off, blocked somewhere, or no eligible node).
    pub(super) fn desired_owner_in(&self, v: &Placement, gi: GroupIdx) -> Option<NodeIdx> {
        if !v.placeable {
            return None;
        }
        if self.groups[gi].state == GroupState::Blocked {
            return None;
        }
        // A blocked stop anywhere we know of, even on a dead peer that has
        // not been fenced, keeps the group down everywhere.
        if self.peers.iter().flatten().any(|p| p.group_state(gi) == GroupState::Blocked || p.holds_down(gi)) {
            return None;
        }
        // In the file's order, as every node computes it.
        let is_candidate = |n: NodeIdx| self.candidate(v, n, gi);
        let first_candidate = self.cfg.node_indices().find(|&n| is_candidate(n))?;
        let preferred = self.cfg.node_idx(&self.cfg.group_at(gi).preferred).filter(|&p| is_candidate(p));
        if let Some(l) = v.locations[gi].filter(|&l| is_candidate(l)) {
            return Some(l);
        }
        if self.cfg.cluster.auto_failback {
            if let Some(p) = preferred {
                return Some(p);
            }
        }
        // Stickiness: a running owner keeps the group. Between two (a healed
        // split brain) the preferred one, then the first in the file, wins —
        // a rule every node computes alike.
        let holds = |m: NodeIdx| matches!(self.state_of(m, gi), GroupState::Starting | GroupState::Started);
        if let Some(p) = preferred.filter(|&p| holds(p)) {
            return Some(p);
        }
        if let Some(h) = self.cfg.node_indices().find(|&m| is_candidate(m) && holds(m)) {
            return Some(h);
        }
        Some(preferred.unwrap_or(first_candidate))
    }

    pub(super) fn reason_for_takeover(&self, gi: GroupIdx) -> MoveReason {
        let last = self.groups[gi].owner_seen.as_deref().and_then(|n| self.cfg.node_idx(n));
        match last {
            None => MoveReason::Start,
            Some(n) if n == self.me => MoveReason::Start,
            Some(n) => self.reason_from(gi, n, self.me),
        }
    }

    pub(super) fn reason_for_release(&self, gi: GroupIdx, desired: Option<NodeIdx>) -> MoveReason {
        if self.groups[gi].failed {
            return self.groups[gi].release_reason;
        }
        match desired {
            None if !self.quorate => MoveReason::Quorum,
            None if self.isolated() => MoveReason::Ping,
            None => MoveReason::Move,
            Some(to) => self.reason_from(gi, self.me, to),
        }
    }

    /// Why group `gi` goes from node `from` to node `to`.
    pub(super) fn reason_from(&self, gi: GroupIdx, from: NodeIdx, to: NodeIdx) -> MoveReason {
        let from_name = &self.cfg.node_at(from).name;
        let g = &self.cfg.group_at(gi);
        if from != self.me {
            match self.peers[from].as_ref() {
                Some(p) if p.state == PeerState::Dead || p.state == PeerState::Unknown => return MoveReason::Failover,
                Some(p) if p.state == PeerState::Left || p.leaving() => return MoveReason::Leave,
                _ => {}
            }
        } else if self.leaving {
            return MoveReason::Leave;
        }
        if self.standby_of(from_name) || self.health_standby(from) {
            return MoveReason::Standby;
        }
        if self.location_of(&g.name) == Some(to) {
            return MoveReason::Move;
        }
        let failed = if from == self.me {
            self.groups[gi].failed
        } else {
            self.peers[from].as_ref().and_then(|p| p.group(gi)).is_some_and(|r| r.failed)
        };
        if failed {
            return MoveReason::UnitFailure;
        }
        if self.ping_of(from).unwrap_or(0) < self.ping_of(to).unwrap_or(0) {
            return MoveReason::Ping;
        }
        if self.cfg.cluster.auto_failback && self.cfg.node_idx(&g.preferred) == Some(to) {
            return MoveReason::Failback;
        }
        MoveReason::Move
    }
}

/// See [`Node::placement`].
pub(super) struct Placement {
    /// Quorate and not cut off: anything may be placed at all.
    placeable: bool,
    /// By node position: a member that may run groups (not in standby, not
    /// leaving, with the best ping count).
    usable: Vec<bool>,
    /// Each group's operator placement (`hactl move`), if any.
    locations: IdxVec<GroupIdx, Option<NodeIdx>>,
}
