//! Hand-off: claims, their acknowledgements, fencing before a takeover,
//! and what the owners peers report mean for this node.

use super::*;

impl Node {
    pub(super) fn on_fence_done(&mut self, node: &str, ok: bool) {
        let Some(idx) = self.cfg.node_idx(node) else { return };
        let deadtime = self.cfg.cluster.deadtime;
        let now = self.now;
        let Some(p) = self.peers[idx].as_mut() else { return };
        p.fence_in_flight = false;
        if ok {
            p.fenced = true;
            // A fenced node runs nothing: its last word no longer blocks.
            p.forget();
            self.out.push(Action::Event(Event::Fenced { peer: node.to_string() }));
        } else {
            p.fence_retry_at = Some(now + deadtime);
            self.out.push(Action::Event(Event::FenceFailed { peer: node.to_string() }));
        }
    }

    pub(super) fn plan(&mut self) {
        let settled = self.settled();
        // Just out of isolation, what this node believes of a peer it has
        // not heard since is stale: one it thinks up may have declared it
        // dead and taken over, one that left may have come back. Claim
        // nothing, and start no claim, until it hears them or the hold ends.
        let hold = self.now < self.claim_hold_until && self.peers.iter().flatten().any(|p| !self.recently_heard(p));
        let placement = self.placement();
        for gi in self.groups.indices() {
            let desired = if settled { self.desired_owner_in(&placement, gi) } else { None };
            let mine = desired == Some(self.me);
            let state = self.groups[gi].state;
            match state {
                GroupState::Stopped => {
                    if settled && mine && !hold && self.may_claim(gi) {
                        let reason = self.reason_for_takeover(gi);
                        let g = &mut self.groups[gi];
                        g.state = GroupState::Claiming;
                        // The claim shows from the next version of our state on.
                        g.claim_version = self.state_version + 1;
                        g.claim_reason = reason;
                        self.send_now = true;
                    }
                }
                GroupState::Claiming => {
                    if !mine || self.claim_conflict(gi) {
                        self.groups[gi].state = GroupState::Stopped;
                        self.send_now = true;
                    } else if !hold && self.claim_confirmed(gi) && self.fenced_for(gi) {
                        let g = &mut self.groups[gi];
                        g.state = GroupState::Starting;
                        g.stop_after_op = false;
                        let reason = g.claim_reason;
                        self.out.push(Action::Event(Event::Takeover { group: g.name.clone(), reason }));
                        self.send_now = true;
                    }
                }
                GroupState::Starting | GroupState::Started => {
                    if settled && !mine {
                        let reason = self.reason_for_release(gi, desired);
                        let g = &mut self.groups[gi];
                        if g.stop_after_op {
                            continue;
                        }
                        g.release_reason = reason;
                        self.out.push(Action::Event(Event::Release { group: g.name.clone(), reason }));
                        // A start in flight ends (or is cancelled) first. A
                        // stop in flight (a unit restarted in place) is the
                        // first step of stopping: the group is stopping now.
                        if matches!(g.busy, Some((_, Op::Start))) {
                            g.stop_after_op = true;
                        } else {
                            g.state = GroupState::Stopping;
                        }
                        self.send_now = true;
                    }
                }
                GroupState::Stopping | GroupState::Blocked => {}
            }
        }
    }

    /// No live peer holds the group in any form, and every member's ping
    /// count is known. Until a node's monitor has counted, placement takes
    /// it as reaching nothing: the node whose first answers came first
    /// would claim a group preferred elsewhere at start, and hand it back
    /// by failback a moment later.
    pub(super) fn may_claim(&self, gi: GroupIdx) -> bool {
        if !self.ping_measured {
            return false;
        }
        let members = || self.peers.iter().flatten().filter(|p| p.is_member());
        if !self.cfg.ping.hosts.is_empty() && members().any(|p| p.ping().is_none()) {
            return false;
        }
        members().all(|p| !p.group_state(gi).holds())
    }

    pub(super) fn claim_conflict(&self, gi: GroupIdx) -> bool {
        self.peers.enumerated().any(|(i, p)| {
            let Some(p) = p else { return false };
            if !p.is_member() {
                return false;
            }
            if p.holds_down(gi) {
                return true;
            }
            match p.group_state(gi) {
                GroupState::Stopped => false,
                // Two claims at once: the one earlier in the file goes on.
                GroupState::Claiming => i < self.me,
                _ => true,
            }
        })
    }

    /// Every live peer has applied a state of ours that shows the claim, and
    /// said so in a beat sent with the very state of its own that we hold
    /// (so what it holds is known as of after it saw the claim), settled and
    /// hearing no node we do not.
    pub(super) fn claim_confirmed(&self, gi: GroupIdx) -> bool {
        let me = &self.cfg.node_at(self.me).name;
        let claim = self.groups[gi].claim_version;
        let hears = |n: &str| n == me || self.peers.iter().flatten().any(|p| p.name == n && p.is_member());
        self.peers.iter().flatten().filter(|p| p.is_member()).all(|p| {
            p.beat.as_ref().is_some_and(|b| {
                b.full
                    && b.settled
                    && p.view.as_ref().is_some_and(|s| s.version == b.state_version)
                    && b.acks.iter().any(|a| &a.node == me && a.generation == self.generation && a.version >= claim)
                    && b.up.iter().all(|n| hears(n))
            })
        })
    }

    /// With fencing required, every peer we cannot hear must be fenced before
    /// we start anything; asks for the fencing and returns false meanwhile.
    pub(super) fn fenced_for(&mut self, _gi: GroupIdx) -> bool {
        if self.cfg.cluster.fencing != Fencing::Required {
            return true;
        }
        let mut all = true;
        for p in self.peers.iter_mut().flatten() {
            if p.state == PeerState::Up || p.state == PeerState::Left || p.fenced {
                continue;
            }
            all = false;
            if !p.fence_in_flight && p.fence_retry_at.is_none() {
                p.fence_in_flight = true;
                self.out.push(Action::Event(Event::FenceStarted { peer: p.name.clone() }));
                self.out.push(Action::Fence { node: p.name.clone() });
            }
        }
        all
    }

    /// Notice which node runs each group now and report when that changes.
    pub(super) fn observe_owners(&mut self) {
        for gi in self.groups.indices() {
            let mine = self.groups[gi].state == GroupState::Started;
            for n in self.cfg.node_indices() {
                if n == self.me || !self.peers[n].as_ref().is_some_and(|p| p.is_member()) {
                    continue;
                }
                let theirs = self.state_of(n, gi);
                // Both ran it when they met again: a healed split brain.
                let both = mine && theirs == GroupState::Started;
                if both && self.split_seen.insert((gi, n)) {
                    self.out.push(Action::Event(Event::SplitBrain {
                        group: self.groups[gi].name.clone(),
                        peer: self.cfg.node_at(n).name.clone(),
                    }));
                } else if !both {
                    self.split_seen.remove(&(gi, n));
                }
                // A peer seen stopping or starting it is who had it last, even
                // if we never saw it fully started (we booted mid-hand-off).
                if self.groups[gi].owner_seen.is_none() && matches!(theirs, GroupState::Stopping | GroupState::Starting)
                {
                    self.groups[gi].owner_seen = Some(self.cfg.node_at(n).name.clone());
                }
            }
            let owner = if self.groups[gi].state == GroupState::Started {
                Some(self.me)
            } else {
                self.cfg.node_indices().find(|&n| {
                    n != self.me
                        && self.peers[n].as_ref().is_some_and(|p| p.is_member())
                        && self.state_of(n, gi) == GroupState::Started
                })
            };
            let Some(owner) = owner else { continue };
            if self.groups[gi].owner_seen.as_deref() == Some(self.cfg.node_at(owner).name.as_str()) {
                continue;
            }
            let owner_name = self.cfg.node_at(owner).name.clone();
            let from = self.groups[gi].owner_seen.clone();
            let reason = match from.as_deref().and_then(|f| self.cfg.node_idx(f)) {
                None => MoveReason::Start,
                Some(f) if owner == self.me => {
                    let _ = f;
                    self.groups[gi].claim_reason
                }
                Some(f) => self.reason_from(gi, f, owner),
            };
            self.groups[gi].owner_seen = Some(owner_name.clone());
            self.out.push(Action::Event(Event::GroupMoved {
                group: self.groups[gi].name.clone(),
                from: from.unwrap_or_default(),
                to: owner_name,
                reason,
            }));
        }
    }
}
