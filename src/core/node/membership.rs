//! Membership: what peers say in their beats and state chunks, who is
//! up, the lease, quorum and the ping hosts.

use super::*;

impl Node {
    pub(super) fn on_beat(&mut self, from: &str, link: usize, generation: u64, seq: u64, msg: Beat) {
        let now = self.now;
        let Some(idx) = self.cfg.node_idx(from) else { return };
        let link_name = self.cfg.links.get(link).map(|l| l.name.clone());
        let Some(link_name) = link_name else { return };
        let Some(p) = self.peers[idx].as_mut() else { return };
        if generation < p.generation {
            if p.stale_warned != generation {
                p.stale_warned = generation;
                self.out.push(Action::Event(Event::StaleGeneration {
                    peer: from.to_string(),
                    generation,
                    known: p.generation,
                }));
            }
            return;
        }
        let mut events = Vec::new();
        if generation > p.generation {
            if p.generation != 0 {
                events.push(Event::PeerRestarted { peer: from.to_string(), generation });
            }
            p.generation = generation;
            p.last_seq = 0;
            p.mismatch_warned = false;
            // A restarted peer has lost what it ran, unless it says otherwise.
            let asm = p.asm.take().filter(|a| a.generation == generation);
            let pending = p.pending.take().filter(|x| x.0 == generation);
            p.forget();
            p.asm = asm;
            p.pending = pending;
        }
        p.last_heard = Some(now);
        p.late_reported = false;
        // Alive again: an earlier fence no longer says anything about it.
        p.fenced = false;
        let pl = &mut p.links[link];
        pl.last = Some(now);
        if !pl.up {
            pl.up = true;
            events.push(Event::LinkUp { peer: from.to_string(), link: link_name });
        }
        if p.state != PeerState::Up && !(msg.leaving && msg.idle) {
            p.state = PeerState::Up;
            p.fenced = false;
            p.fence_retry_at = None;
            events.push(Event::PeerUp { peer: from.to_string(), generation });
            self.peer_came_up = true;
        }
        // The liveness-only form (serial links) says nothing more.
        if msg.full && seq > p.last_seq {
            p.last_seq = seq;
            if msg.config_hash != self.digest && !p.mismatch_warned {
                p.mismatch_warned = true;
                events.push(Event::ConfigMismatch { peer: from.to_string() });
            }
            if msg.leaving && msg.idle && p.state != PeerState::Left {
                p.state = PeerState::Left;
                events.push(Event::PeerLeft { peer: from.to_string() });
            }
            let moved = p.beat.as_ref().is_none_or(|o| {
                (o.standby, o.leaving, o.idle, o.ping) != (msg.standby, msg.leaving, msg.idle, msg.ping)
            });
            p.beat = Some(msg);
            if moved {
                // What the peer says changed: placement may follow, and
                // status shows it.
                self.send_now = true;
            }
        }
        let came_up = events.iter().any(|e| matches!(e, Event::PeerUp { .. }));
        self.out.extend(events.into_iter().map(Action::Event));
        if came_up {
            // Back with the same generation (not restarted), holding
            // something, and last seen running a group we run now (we took
            // it over while we could not hear it): both ran it.
            let p = self.peers[idx].as_ref().expect("peer");
            if p.beat.as_ref().is_some_and(|b| !b.idle) {
                let both: Vec<(GroupIdx, String)> = self
                    .groups
                    .enumerated()
                    .filter(|&(gi, g)| g.state == GroupState::Started && p.group_state(gi) == GroupState::Started)
                    .map(|(gi, g)| (gi, g.name.clone()))
                    .collect();
                for (gi, group) in both {
                    if self.split_seen.insert((gi, idx)) {
                        let peer = from.to_string();
                        self.out.push(Action::Event(Event::SplitBrain { group, peer }));
                    }
                }
            }
            // A peer we did not hear knows nothing current of us: tell it
            // what we hold now, before we act on its return (as the whole
            // state in the first heartbeat did), so that both see a healed
            // split brain for what it was.
            self.refresh_state();
            self.send_chunks();
        }
        let p = self.peers[idx].as_mut().expect("peer");
        if let Some((g, version, state)) = p.pending.take() {
            if g == p.generation && p.view.as_ref().is_none_or(|s| s.version < version) {
                self.apply_state(idx, version, state);
            }
        }
    }

    /// A piece of a peer's state: collect it, and apply the state once it
    /// is complete. Only whole states are applied, one version at a time.
    pub(super) fn on_chunk(&mut self, from: &str, link: usize, generation: u64, c: Chunk) {
        let Some(idx) = self.cfg.node_idx(from) else { return };
        let Some(p) = self.peers[idx].as_mut() else { return };
        // A chunk is a sign of life like a beat. Applying a peer's state
        // while still counting it silent would let this node acknowledge
        // the peer's claim and, a moment later, declare it dead and take
        // the same group over: the peer starts on that acknowledgement.
        // (Coming back up, and the links' coming up, wait for a beat.)
        if generation == p.generation && p.state == PeerState::Up {
            p.last_heard = Some(self.now);
            p.late_reported = false;
            if let Some(l) = p.links.get_mut(link).filter(|l| l.up) {
                l.last = Some(self.now);
            }
        }
        if generation < p.generation
            || (generation == p.generation && p.view.as_ref().is_some_and(|s| s.version >= c.version))
        {
            return;
        }
        match &p.asm {
            Some(a) if a.matches(generation, &c) => {}
            Some(a) if (a.generation, a.version) > (generation, c.version) => return,
            _ => p.asm = Some(wire::Assembly::new(generation, &c)),
        }
        let version = c.version;
        let Some(bytes) = p.asm.as_mut().and_then(|a| a.add(c)) else { return };
        p.asm = None;
        // The frames were authenticated; a state that does not decode is a
        // bug of the sender, and waiting for its next version is all we can do.
        let Ok(state) = wire::decode_state(&bytes) else { return };
        if generation == p.generation {
            self.apply_state(idx, version, state);
        } else {
            p.pending = Some((generation, version, state));
        }
    }

    pub(super) fn apply_state(&mut self, idx: NodeIdx, version: u64, state: State) {
        if self.peers[idx].is_none() {
            return;
        }
        // Intents first: a cleanup the peer relays vouches for what dead
        // peers ran before it, never for the state the peer reports now
        // (it may arrive before the beat that marks the peer up again).
        for i in state.intents {
            self.merge_intent(i);
        }
        // A fresh state that runs a group we run: the two sides of a healed
        // partition meet (it may come before the beat that makes the peer
        // a member again, and the next one may already say it stops).
        for g in state.groups.iter().filter(|g| g.state == GroupState::Started) {
            if let Some(&gi) = self.names.groups.get(&g.name) {
                if self.groups[gi].state == GroupState::Started && self.split_seen.insert((gi, idx)) {
                    let peer = self.cfg.node_at(idx).name.clone();
                    self.out.push(Action::Event(Event::SplitBrain { group: g.name.clone(), peer }));
                }
            }
        }
        // The peer let go of a group this node keeps. It may have announced
        // the group's VIPs meanwhile (it took the group over while it could
        // not hear this node, or both ran it after a partition), and the
        // LAN's ARP caches point at it: announce them again, or clients
        // stay with the peer until their caches expire (8 s in the lab).
        let view = PeerView::new(version, state.groups, &self.names, self.cfg.groups.len());
        if let Some(old) = self.peers[idx].as_ref().and_then(|p| p.view.as_ref()) {
            for gi in self.groups.indices() {
                let g = &self.groups[gi];
                let held = |v: &PeerView| {
                    v.report(gi).is_some_and(|r| {
                        matches!(r.state, GroupState::Starting | GroupState::Started | GroupState::Stopping)
                    })
                };
                let let_go = held(old) && view.report(gi).is_none_or(|r| r.state == GroupState::Stopped);
                if let_go && g.keeps() {
                    self.out.push(Action::Announce { group: g.name.clone() });
                }
            }
        }
        let p = self.peers[idx].as_mut().expect("peer");
        p.view = Some(view);
        // Answer at once: a peer waiting on our acknowledgement of its
        // claim should not wait a keepalive.
        self.send_now = true;
    }

    /// A message could not be sealed: peers may not hear us. Give every
    /// group up and claim none, loudly.
    pub(super) fn go_mute(&mut self, reason: String) {
        if self.mute.is_none() {
            self.out.push(Action::Event(Event::SendFailed { reason: reason.clone() }));
            self.mute = Some(reason);
            self.send_now = true;
        }
    }

    pub(super) fn on_ping(&mut self, reachable: u32) {
        if self.cfg.ping.hosts.is_empty() {
            return;
        }
        if !self.ping_measured {
            self.ping_measured = true;
            self.ping_raw = Some(reachable);
            self.ping_eff = Some(reachable);
            self.ping_raw_since = self.now;
            self.send_now = true;
            self.status_moved = true;
            return;
        }
        if self.ping_raw != Some(reachable) {
            self.ping_raw = Some(reachable);
            self.ping_raw_since = self.now;
        }
    }

    /// A peer came back (a partition healed): tell the LAN again where the
    /// VIPs are — from the side that keeps each group only. The side that
    /// gives a group up has already begun to stop it this step, and a late
    /// announcement from it would pull the clients back to it.
    pub(super) fn announce_after_heal(&mut self) {
        if !std::mem::take(&mut self.peer_came_up) {
            return;
        }
        for g in &self.groups {
            if g.keeps() {
                self.out.push(Action::Announce { group: g.name.clone() });
            }
        }
    }

    pub(super) fn update_membership(&mut self) {
        let now = self.now;
        let c = self.cfg.cluster.clone();
        let links: Vec<String> = self.cfg.links.iter().map(|l| l.name.clone()).collect();
        let mut events = Vec::new();
        // (after a stall of this node's own: see `Node::judge_after`)
        let judge = now >= self.judge_after;
        for p in self.peers.iter_mut().flatten() {
            for (li, l) in p.links.iter_mut().enumerate() {
                if judge && l.up && l.last.is_some_and(|t| now >= t + c.deadtime) {
                    l.up = false;
                    events.push(Event::LinkDown { peer: p.name.clone(), link: links[li].clone() });
                }
            }
            match p.state {
                PeerState::Up => {
                    let last = p.last_heard.unwrap_or(now);
                    if judge && now >= last + c.deadtime {
                        p.state = PeerState::Dead;
                        events.push(Event::PeerDead { peer: p.name.clone() });
                    } else if now >= last + c.warntime && !p.late_reported {
                        p.late_reported = true;
                        events
                            .push(Event::PeerLate { peer: p.name.clone(), silent_ms: (now - last).as_millis() as u64 });
                    }
                }
                PeerState::Unknown => {
                    let unverified = p.unverified_at.is_some_and(|t| now < t + c.deadtime);
                    if judge && now >= self.started_at + c.initdead && !unverified {
                        p.state = PeerState::Dead;
                        events.push(Event::PeerDead { peer: p.name.clone() });
                    }
                }
                PeerState::Dead | PeerState::Left => {}
            }
            if let Some(t) = p.fence_retry_at {
                if now >= t {
                    p.fence_retry_at = None;
                }
            }
        }
        self.out.extend(events.into_iter().map(Action::Event));
    }

    pub(super) fn update_ping(&mut self) {
        if self.ping_raw != self.ping_eff && self.now >= self.ping_raw_since + self.ping_hold() {
            self.ping_eff = self.ping_raw;
            self.send_now = true;
        }
    }

    pub(super) fn ping_hold(&self) -> Duration {
        // Hysteresis: a ping count must hold this long before groups move
        // because of it, so one lost echo does not flap them.
        self.cfg.cluster.deadtime
    }

    /// How long a node trusts its membership without hearing anyone. Half
    /// of deadtime: a node cut off gives its groups up before the others,
    /// who wait the full deadtime, take them over.
    pub(super) fn lease(&self) -> Duration {
        self.cfg.cluster.deadtime / 2
    }

    pub(super) fn recently_heard(&self, p: &Peer) -> bool {
        p.state == PeerState::Up && p.last_heard.is_some_and(|t| self.now < t + self.lease())
    }

    pub(super) fn quorum_mode(&self) -> bool {
        self.cfg.nodes.len() >= 3
    }

    pub(super) fn update_quorum(&mut self) {
        let q = if self.quorum_mode() {
            let heard = 1 + self.peers.iter().flatten().filter(|p| self.recently_heard(p)).count();
            heard * 2 > self.cfg.nodes.len()
        } else {
            true
        };
        if q != self.quorate {
            // The first evaluation is not news.
            if self.quorum_mode() && (self.quorate || self.settled()) {
                self.out.push(Action::Event(if q { Event::QuorumRegained } else { Event::QuorumLost }));
            }
            self.quorate = q;
            self.send_now = true;
        }
    }

    /// Cut off: reaches no ping host and has heard no peer for a lease.
    pub(super) fn isolated(&self) -> bool {
        self.ping_raw == Some(0) && !self.peers.iter().flatten().any(|p| self.recently_heard(p))
    }

    /// Every peer has been heard or given up on (after initdead, unless it
    /// keeps sending frames we cannot verify).
    pub(super) fn settled(&self) -> bool {
        self.peers.iter().flatten().all(|p| p.state != PeerState::Unknown)
    }
}
