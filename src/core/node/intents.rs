//! Operator intents (standby, move, takeover, cleanup) replicated with
//! their serials, and reloads of the configuration.

use super::*;

impl Node {
    pub(super) fn on_command(&mut self, cmd: Command) -> Result<(), CommandError> {
        let me = self.cfg.node_at(self.me).name.clone();
        let node_or_me = |n: &str| if n.is_empty() { me.clone() } else { n.to_string() };
        let check_node = |cfg: &Config, n: &str| {
            cfg.node_index(n).map(|_| ()).ok_or_else(|| CommandError::NoSuchNode(n.to_string()))
        };
        let check_group = |cfg: &Config, g: &str| {
            cfg.group_index(g).map(|_| ()).ok_or_else(|| CommandError::NoSuchGroup(g.to_string()))
        };
        let mut kinds = Vec::new();
        match cmd {
            Command::Standby { node } => {
                let node = node_or_me(&node);
                check_node(&self.cfg, &node)?;
                kinds.push(IntentKind::Standby { node, on: true });
            }
            Command::Unstandby { node } => {
                let node = node_or_me(&node);
                check_node(&self.cfg, &node)?;
                kinds.push(IntentKind::Standby { node, on: false });
            }
            Command::Takeover { node } => {
                let node = node_or_me(&node);
                check_node(&self.cfg, &node)?;
                self.need_quorum()?;
                kinds.push(IntentKind::Standby { node: node.clone(), on: false });
                for g in &self.cfg.groups {
                    kinds.push(IntentKind::Location { group: g.name.clone(), node: Some(node.clone()) });
                }
            }
            Command::Move { group, node } => {
                check_group(&self.cfg, &group)?;
                let node = node_or_me(&node);
                check_node(&self.cfg, &node)?;
                self.need_quorum()?;
                // A pin that cannot be honoured would be shown as the
                // operator's choice while the group runs elsewhere.
                if self.standby_of(&node) {
                    return Err(CommandError::Invalid(format!(
                        "{node} is in standby, so group {group} cannot run there; run `hactl unstandby {node}` first, or move {group} to another node"
                    )));
                }
                kinds.push(IntentKind::Location { group, node: Some(node) });
            }
            Command::ClearMove { group } => {
                check_group(&self.cfg, &group)?;
                self.need_quorum()?;
                kinds.push(IntentKind::Location { group, node: None });
            }
            Command::Cleanup { group } => {
                check_group(&self.cfg, &group)?;
                kinds.push(IntentKind::Cleanup { group });
            }
        }
        for kind in kinds {
            // Saturating: a serial taken from a peer may be anything.
            self.lamport = self.lamport.saturating_add(1);
            let i = Intent { serial: self.lamport, origin: me.clone(), kind };
            self.merge_intent(i);
        }
        self.send_now = true;
        Ok(())
    }

    pub(super) fn need_quorum(&self) -> Result<(), CommandError> {
        if self.quorum_mode() && !self.quorate {
            Err(CommandError::NoQuorum)
        } else {
            Ok(())
        }
    }

    pub(super) fn on_reload(&mut self, cfg: Config) {
        // Nodes and links are fixed for the life of the process (their
        // sockets and peers' replay windows depend on them); groups and
        // timing follow the new file. The shell refuses node/link changes.
        let mut groups = Vec::with_capacity(cfg.groups.len());
        for gc in &cfg.groups {
            match self.groups.position(|g| g.name == gc.name) {
                Some(i) if same_resources(&self.cfg.group_at(i).resources, &gc.resources) => {
                    groups.push(self.groups[i].clone())
                }
                _ => groups.push(new_group(&gc.name, gc.resources.len())),
            }
        }
        // A group that is dropped or changed while it runs keeps its old
        // definition until it has stopped: the resources it started are the
        // ones to stop.
        let holding_changed = self.groups.enumerated().any(|(i, g)| {
            g.state.holds()
                && cfg
                    .groups
                    .iter()
                    .find(|n| n.name == g.name)
                    .is_none_or(|n| !same_resources(&n.resources, &self.cfg.group_at(i).resources))
        });
        if holding_changed {
            let first = self.pending_reload.is_none();
            for (i, g) in self.groups.enumerated_mut() {
                let keep = cfg
                    .groups
                    .iter()
                    .any(|n| n.name == g.name && same_resources(&n.resources, &self.cfg.group_at(i).resources));
                if !keep && g.state.holds() {
                    g.release_reason = MoveReason::Move;
                    g.failed = true;
                }
            }
            // Timings and ping hosts apply now; the groups once the changed
            // ones have stopped (`step` applies the whole file then).
            self.cfg.cluster = cfg.cluster.clone();
            self.cfg.ping = cfg.ping.clone();
            self.cfg.garp = cfg.garp.clone();
            self.apply_ping_hosts();
            self.pending_reload = Some(Box::new(cfg));
            self.send_now |= first;
            return;
        }
        self.pending_reload = None;
        self.groups = groups.into_iter().collect();
        self.digest = cfg.digest();
        self.cfg = cfg;
        // Intents for groups or nodes the new file no longer has go.
        self.names = Names::of(&self.cfg);
        let names = &self.names;
        self.intents.retain(|_, i| names.applies(&i.kind));
        for v in self.peers.iter_mut().flatten().filter_map(|p| p.view.as_mut()) {
            v.reindex(names, self.cfg.groups.len());
        }
        // A reload is the operator's answer to a message too large to send.
        self.mute = None;
        self.apply_ping_hosts();
        self.refresh_checks();
        self.send_now = true;
    }

    /// Ping hosts added or removed by a reload: with none, the node no
    /// longer reports a count; with new ones, it assumes the worst until
    /// the first probe answers.
    pub(super) fn apply_ping_hosts(&mut self) {
        if self.cfg.ping.hosts.is_empty() {
            self.ping_raw = None;
            self.ping_eff = None;
            self.ping_measured = true;
        } else if self.ping_raw.is_none() {
            self.ping_raw = Some(0);
            self.ping_eff = Some(0);
            self.ping_raw_since = self.now;
            self.ping_measured = false;
        }
    }

    /// The file a reload could not apply whole yet (a changed group was
    /// still running): applied as soon as those groups have stopped.
    pub fn pending_reload(&self) -> bool {
        self.pending_reload.is_some()
    }

    pub(super) fn merge_intent(&mut self, i: Intent) {
        self.lamport = self.lamport.max(i.serial);
        // One intent per key (the newest wins), and only for what the
        // configuration has: the number held is bounded by it, not by history.
        if !self.names.applies(&i.kind) {
            return;
        }
        let key = intent_key(&i.kind);
        let newer = match self.intents.get(&key) {
            None => true,
            Some(old) => (i.serial, &i.origin) > (old.serial, &old.origin),
        };
        if !newer {
            return;
        }
        match &i.kind {
            IntentKind::Standby { node, on } => {
                let was = self.standby_of(node);
                if was != *on {
                    self.out.push(Action::Event(Event::StandbyChanged { node: node.clone(), on: *on }));
                }
            }
            IntentKind::Cleanup { group } => self.apply_cleanup(group, i.serial),
            IntentKind::Location { .. } => {}
        }
        self.intents.insert(key, i);
        self.send_now = true;
    }

    pub(super) fn apply_cleanup(&mut self, group: &str, serial: u64) {
        let Some(g) = self.groups.iter_mut().find(|g| g.name == group) else { return };
        if serial <= g.cleanup_applied {
            return;
        }
        g.cleanup_applied = serial;
        g.failcount = 0;
        g.failed = false;
        g.last_failure = None;
        // systemd keeps its own failed state and start limit: clear them
        // too, or it keeps refusing what hbd now allows.
        if let Some(gi) = self.cfg.group_idx(group) {
            for r in &self.cfg.group_at(gi).resources {
                if let Some(unit) = r.unit_name() {
                    self.out.push(Action::ResetFailed { unit: unit.to_string() });
                }
            }
        }
        let Some(g) = self.groups.iter_mut().find(|g| g.name == group) else { return };
        if g.state == GroupState::Blocked {
            // Retry the stop that failed.
            g.state = GroupState::Stopping;
        }
        // The operator vouches that dead peers no longer run it.
        let Some(&gi) = self.names.groups.get(group) else { return };
        for p in self.peers.iter_mut().flatten() {
            if p.state != PeerState::Up {
                if let Some(gr) = p.view.as_mut().and_then(|s| s.report_mut(gi)) {
                    gr.state = GroupState::Stopped;
                }
            }
        }
    }
}
