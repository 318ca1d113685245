//! What this node tells: its beat, its state in chunks, and its status.

use super::placement::Placement;
use super::*;

impl Node {
    /// What goes out: a beat every keepalive or at once when something
    /// changed, and our state in chunks when it changed (not more often
    /// than [`Node::state_interval`]) or when a peer we hear lacks it.
    /// A new version of our state if it changed.
    pub(super) fn refresh_state(&mut self) {
        // Compared in place first: building the state clones every group's
        // name, and this runs on every step.
        if self.last_state.as_ref().is_some_and(|last| self.state_is(last)) {
            return;
        }
        let st = self.local_state();
        if self.last_state.as_ref() != Some(&st) {
            self.state_version += 1;
            match wire::split_state(self.state_version, &wire::encode_state(&st)) {
                Ok(chunks) => self.chunks = chunks,
                Err(e) => {
                    self.chunks.clear();
                    self.go_mute(e.to_string());
                }
            }
            self.last_state = Some(st);
            self.state_dirty = true;
            self.send_now = true;
        }
    }

    pub(super) fn send_chunks(&mut self) {
        self.state_dirty = false;
        self.flush_state = false;
        self.last_state_send = Some(self.now);
        let serial = if self.serial_whole { Serial::Whole } else { Serial::No };
        for c in self.chunks.clone() {
            self.seq += 1;
            self.out.push(Action::Send { seq: self.seq, msg: Message::Chunk(c), serial });
        }
    }

    pub(super) fn maybe_send(&mut self) {
        let now = self.now;
        self.refresh_state();
        if self.send_now || now >= self.next_send {
            self.status_moved |= self.send_now;
            self.send_now = false;
            self.seq += 1;
            // Beats keep to a grid of keepalives; a frame sent at once for a
            // change does not move it. Counted from each send, the period
            // grew by each wake-up's lateness (the runtime's timer rounds up
            // to a millisecond), so the fourth beat after the last one heard
            // left after a deadtime of four keepalives: a peer tolerated
            // three lost beats in a row, not four. After a stall the grid
            // starts again from now (no burst of missed beats).
            let keepalive = self.cfg.cluster.keepalive;
            if now >= self.next_send {
                let next = self.next_send + keepalive;
                self.next_send = if next > now { next } else { now + keepalive };
            }
            let beat = self.beat();
            let whole = self.serial_whole(&beat);
            let serial = if whole {
                Serial::Whole
            } else if now >= self.next_serial {
                self.next_serial = now + self.cfg.cluster.keepalive;
                Serial::Liveness
            } else {
                Serial::No
            };
            self.out.push(Action::Send { seq: self.seq, msg: Message::Beat(beat), serial });
            self.serial_whole = whole;
        }
        if self.state_due() {
            self.send_chunks();
        }
    }

    /// Whether the serial links carry everything: the state fits one
    /// chunk, and a full beat plus that chunk take at most a keepalive on
    /// the slowest serial line. Otherwise they carry liveness only (the
    /// configuration guarantees that much) and the state needs a UDP link.
    pub(super) fn serial_whole(&self, beat: &Beat) -> bool {
        let slowest = self
            .cfg
            .links
            .iter()
            .filter_map(|l| match l.kind {
                crate::config::LinkKind::Serial { baud, .. } => Some(baud),
                _ => None,
            })
            .min();
        let (Some(baud), [chunk]) = (slowest, self.chunks.as_slice()) else { return false };
        let names: Vec<&str> = self.cfg.nodes.iter().map(|n| n.name.as_str()).collect();
        let frame = |body: usize| wire::serial_len(wire::FRAME_OVERHEAD + self.name().len() + body);
        let bytes = frame(wire::encode_beat(beat, &names).len()) + frame(wire::encode_chunk(chunk).len());
        Duration::from_micros(bytes as u64 * 10 * 1_000_000 / u64::from(baud.max(1))) <= self.cfg.cluster.keepalive
    }

    /// The shortest time between two sends of the whole state: none for a
    /// state of one chunk (like a beat), a keepalive for 16 chunks or more,
    /// so that a busy node with many groups sends its state at most once a
    /// keepalive while it changes.
    pub(super) fn state_interval(&self) -> Duration {
        let n = self.chunks.len().clamp(1, 16) as u32;
        self.cfg.cluster.keepalive * (n - 1) / 15
    }

    pub(super) fn state_due(&self) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        if self.flush_state {
            return true;
        }
        let since = self.last_state_send.map(|t| self.now.saturating_sub(t));
        if since.is_some_and(|d| d < self.state_interval()) {
            return false;
        }
        if self.state_dirty {
            return true;
        }
        // A peer we hear has not applied our current state (chunks lost, or
        // it just came up): send it again, at most once a keepalive. What it
        // already collected stays, so each round fills the gaps.
        let me = self.name();
        since.is_none_or(|d| d >= self.cfg.cluster.keepalive)
            && self.peers.iter().flatten().filter(|p| p.is_member()).any(|p| {
                p.beat.as_ref().is_some_and(|b| {
                    !b.acks
                        .iter()
                        .any(|a| a.node == me && a.generation == self.generation && a.version >= self.state_version)
                })
            })
    }

    /// Whether [`Node::local_state`] would build exactly `st`.
    fn state_is(&self, st: &State) -> bool {
        st.groups.len() == self.groups.len()
            && st.intents.len() == self.intents.len()
            && self.groups.enumerated().zip(&st.groups).all(|((gi, g), r)| {
                r.name == g.name
                    && r.state == g.state
                    && r.failed == g.failed
                    && r.failcount == g.failcount
                    && r.held_down == self.held_down(gi)
                    && g.reports_resources(&r.resources)
            })
            && self.intents.values().zip(&st.intents).all(|(a, b)| a == b)
    }

    /// A stop of the group failed on a peer that is not up now.
    fn held_down(&self, gi: GroupIdx) -> bool {
        self.peers.iter().flatten().any(|p| p.state != PeerState::Up && p.group_state(gi) == GroupState::Blocked)
    }

    pub(super) fn local_state(&self) -> State {
        State {
            groups: self
                .groups
                .enumerated()
                .map(|(gi, g)| GroupReport {
                    name: g.name.clone(),
                    state: g.state,
                    failed: g.failed,
                    failcount: g.failcount,
                    held_down: self.held_down(gi),
                    resources: g.reported_resources(),
                })
                .collect(),
            intents: self.intents.values().cloned().collect(),
        }
    }

    pub(super) fn beat(&self) -> Beat {
        Beat {
            config_hash: self.digest,
            standby: self.standby_of(self.name()) || self.sick(),
            leaving: self.leaving,
            idle: self.groups.iter().all(|g| g.state == GroupState::Stopped),
            // A node that has not heard from every peer yet (or given up on
            // it) acknowledges nothing a claim may count on: its `up` list
            // would leave out a peer it is about to hear, one that may still
            // hold the group, and a claimer cut off from that peer would take
            // the ack as leave to start.
            settled: self.settled(),
            // None until the monitor has counted (see `may_claim`).
            ping: self.measured_ping(),
            state_version: self.state_version,
            // Only peers heard as members: an acknowledgement must come with
            // the acked node in `up` (a state can arrive, in chunks, before
            // the beat that makes its sender a member again), or a claimer
            // could take it while another claimer, cut off from it, also
            // counts on us.
            acks: self
                .peers
                .iter()
                .flatten()
                .filter(|p| p.generation != 0 && p.is_member())
                .map(|p| Ack {
                    node: p.name.clone(),
                    generation: p.generation,
                    version: p.view.as_ref().map_or(0, |s| s.version),
                })
                .collect(),
            up: self.peers.iter().flatten().filter(|p| p.is_member()).map(|p| p.name.clone()).collect(),
            full: true,
        }
    }

    /// Local state of each group (for the simulator's checkers and tests).
    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.groups.iter().find(|g| g.name == group).map(|g| g.state)
    }

    pub fn peer_state(&self, peer: &str) -> Option<PeerState> {
        self.cfg.node_idx(peer).and_then(|i| self.peers[i].as_ref()).map(|p| p.state)
    }

    /// The state this node last told its peers: its version and, per
    /// group, the report (for the simulator's checkers).
    pub fn told(&self) -> Option<(u64, &State)> {
        self.last_state.as_ref().map(|s| (self.state_version, s))
    }

    /// The generation of `peer` and the version of its state applied here.
    pub fn applied(&self, peer: &str) -> Option<(u64, u64)> {
        let p = self.cfg.node_idx(peer).and_then(|i| self.peers[i].as_ref())?;
        p.view.as_ref().map(|v| (p.generation, v.version))
    }

    pub fn is_quorate(&self) -> bool {
        self.quorate
    }

    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// The fields of [`Node::status`] that move without its serial, in
    /// the same order: a reader patches its last snapshot with them.
    /// Costs as much as the links and running checks are many, not the
    /// groups (a flag per group).
    pub fn volatile(&self) -> Volatile {
        let now = self.now;
        let link_ages = self
            .cfg
            .node_indices()
            .map(|i| match (i == self.me, self.peers[i].as_ref()) {
                (false, Some(p)) => {
                    p.links.iter().map(|l| l.last.map_or(-1, |t| now.saturating_sub(t).as_millis() as i64)).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        let counts = |t: &super::health::CheckTrack| (t.passes, t.latency.map_or(-1, |l| l.as_millis() as i64));
        let node_checks = self.node_checks.iter().map(|(_, t)| counts(t)).collect();
        // As `status` shows them: on the groups this node runs.
        let group_checks = self
            .groups
            .enumerated()
            .filter(|(_, lg)| lg.runs_here() && lg.checks.iter().any(|t| t.running()))
            .map(|(gi, _)| (gi.0, self.shown_checks(gi).map(|(_, _, t)| counts(t)).collect()))
            .collect();
        Volatile { link_ages, node_checks, group_checks }
    }

    pub fn status(&self) -> Status {
        let now = self.now;
        let nodes = self
            .cfg
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let i = NodeIdx(i);
                if i == self.me {
                    let state = if self.leaving {
                        NodeState::Leaving
                    } else if self.standby_of(&n.name) || self.sick() {
                        NodeState::Standby
                    } else {
                        NodeState::Up
                    };
                    return NodeStatus {
                        name: n.name.clone(),
                        state,
                        local: true,
                        generation: self.generation,
                        links: Vec::new(),
                        ping: self.measured_ping(),
                        checks: self.node_check_statuses(),
                        standby: self.standby_of(&n.name) || self.sick(),
                    };
                }
                let p = self.peers[i].as_ref().expect("peer");
                let state = match p.state {
                    PeerState::Unknown if p.unverified_at.is_some() => NodeState::Unverified,
                    PeerState::Unknown => NodeState::Unknown,
                    PeerState::Up if self.standby_of(&n.name) || self.health_standby(i) => NodeState::Standby,
                    PeerState::Up if p.leaving() => NodeState::Leaving,
                    PeerState::Up => NodeState::Up,
                    PeerState::Dead => NodeState::Dead,
                    PeerState::Left => NodeState::Left,
                };
                NodeStatus {
                    name: n.name.clone(),
                    state,
                    local: false,
                    generation: p.generation,
                    links: p
                        .links
                        .iter()
                        .zip(&self.cfg.links)
                        .map(|(l, lc)| {
                            let age = l.last.map_or(-1, |t| now.saturating_sub(t).as_millis() as i64);
                            (lc.name.clone(), l.up, age)
                        })
                        .collect(),
                    ping: p.ping(),
                    checks: Vec::new(),
                    standby: self.standby_of(&n.name) || self.health_standby(i),
                }
            })
            .collect();
        // Once for all groups: a status of a thousand groups must not plan
        // each of them from scratch.
        let placement = self.placement();
        let groups = self
            .cfg
            .groups
            .iter()
            .enumerate()
            .map(|(gi, gc)| {
                let gi = GroupIdx(gi);
                let lg = &self.groups[gi];
                // The owner: this node if it holds the group, else a live
                // peer that does.
                let owner = if lg.runs_here() { Some(self.me) } else { self.peer_running(gi) };
                let mut state = owner.map_or(GroupState::Stopped, |o| self.state_of(o, gi));
                // A group whose failed resource is being brought back is not
                // fully started, whatever the peers are told.
                // Nor is one whose checks have not passed `rise` times yet,
                // nor one with a unit down within a job of systemd's (a
                // `systemctl restart` under way).
                let recovering = lg.busy.is_some_and(|(_, op)| op == Op::Start)
                    || !lg.outside_jobs.is_empty()
                    || !lg.restart.is_empty()
                    || !lg.bounce.is_empty()
                    || lg.bouncing.is_some()
                    || !self.checks_healthy(gi);
                if owner == Some(self.me) && state == GroupState::Started && recovering {
                    state = GroupState::Starting;
                }
                let resources = gc
                    .resources
                    .iter()
                    .enumerate()
                    .map(|(ri, r)| {
                        let rs = match owner {
                            Some(o) if o == self.me => lg.resource_state(ri),
                            // As the owner's systemd reports it; status words
                            // it with the owner's name.
                            Some(o) => self.peers[o]
                                .as_ref()
                                .and_then(|p| p.group(gi))
                                .filter(|r| r.resources.len() == gc.resources.len())
                                .map_or(ResourceState::Unknown, |r| r.resources[ri].clone()),
                            None => match &lg.observed[ri] {
                                Some(u) if !u.is_down() => ResourceState::Unit(u.clone()),
                                _ => ResourceState::Stopped,
                            },
                        };
                        (r.kind().to_string(), r.name(), rs)
                    })
                    .collect();
                let failcount = if owner.is_none_or(|o| o == self.me) {
                    lg.failcount
                } else {
                    self.peers[owner.unwrap()].as_ref().and_then(|p| p.group(gi)).map_or(0, |r| r.failcount)
                };
                NodeGroupNote::note(self, &placement, gi, owner, state, failcount, resources)
            })
            .collect();
        Status {
            cluster: self.cfg.cluster.name.clone(),
            local: self.name().to_string(),
            generation: self.generation,
            quorate: self.quorate,
            nodes,
            groups,
        }
    }
}

/// Builds a group's status, with a note on why it does not run.
struct NodeGroupNote;

impl NodeGroupNote {
    fn note(
        node: &Node,
        placement: &Placement,
        gi: GroupIdx,
        owner: Option<NodeIdx>,
        state: GroupState,
        failcount: u32,
        resources: Vec<(String, String, ResourceState)>,
    ) -> GroupStatus {
        let gc = node.cfg.group_at(gi);
        let blocked_on = node
            .peers
            .iter()
            .flatten()
            .find(|p| p.group_state(gi) == GroupState::Blocked)
            .map(|p| p.name.clone())
            .or_else(|| (node.groups[gi].state == GroupState::Blocked).then(|| node.name().to_string()));
        let relayed_by = node.peers.iter().flatten().find(|p| p.holds_down(gi)).map(|p| p.name.clone());
        let fence_wait = node.cfg.cluster.fencing == Fencing::Required
            && node.groups[gi].state == GroupState::Claiming
            && node
                .peers
                .iter()
                .flatten()
                .any(|p| !p.fenced && matches!(p.state, PeerState::Dead | PeerState::Unknown));
        let unverified =
            node.peers.iter().flatten().find(|p| p.state == PeerState::Unknown && p.unverified_at.is_some());
        let pin = match node.intents.get(&IntentKey::Location(gc.name.clone())) {
            Some(Intent { kind: IntentKind::Location { node: Some(n), .. }, origin, .. }) => Some((n, origin)),
            _ => None,
        };
        // Units going down or up here by someone else's doing: within a
        // job of systemd's where the group runs, strays where it does not.
        let lg = &node.groups[gi];
        let name = |r: usize| gc.resources[r].name();
        let (restarting, strays): (Vec<String>, Vec<String>) = if lg.runs_here() {
            (lg.outside_jobs.iter().map(|j| name(j.resource)).collect(), Vec::new())
        } else {
            (Vec::new(), lg.stray_stop.iter().chain(&lg.strays).map(|&r| name(r)).collect())
        };
        let note = if let Some(p) = unverified {
            Some(GroupNote::Unverified { peer: p.name.clone() })
        } else if let Some(n) = &blocked_on {
            Some(GroupNote::StopFailed { node: n.clone() })
        } else if let Some(n) = &relayed_by {
            Some(GroupNote::StopFailedRelayed { by: n.clone() })
        } else if fence_wait {
            Some(GroupNote::FenceWait)
        } else if owner.is_none() && !node.quorate {
            Some(GroupNote::NoQuorum)
        } else if owner.is_none() && node.isolated() {
            Some(GroupNote::Isolated)
        } else if owner.is_none() && node.settled() && node.desired_owner_in(placement, gi).is_none() {
            Some(GroupNote::NoEligible)
        } else if !restarting.is_empty() {
            Some(GroupNote::RestartingOutside { units: restarting })
        } else if !strays.is_empty() {
            Some(GroupNote::Strays { units: strays })
        } else {
            pin.map(|(n, origin)| GroupNote::Pinned { node: n.clone(), origin: origin.clone() })
        };
        let state = if blocked_on.is_some() || relayed_by.is_some() { GroupState::Blocked } else { state };
        GroupStatus {
            name: gc.name.clone(),
            owner: owner.map(|o| node.cfg.node_at(o).name.clone()).unwrap_or_default(),
            state,
            preferred: gc.preferred.clone(),
            resources,
            failcount,
            note,
            checks: if owner == Some(node.me) { node.check_statuses(gi) } else { Vec::new() },
            pinned: pin.map(|(n, _)| n.clone()).unwrap_or_default(),
        }
    }
}
