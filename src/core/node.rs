//! One node's decisions: membership, replicated operator intents, placement
//! of groups and the start/stop sequence of their resources.
//!
//! Every node computes the same placement from the state peers report in
//! their heartbeats, and acts only for itself: it stops what it should not
//! hold and claims what it should. A claim becomes a start only after every
//! live peer has acknowledged seeing it and none of them holds the group —
//! that, plus stopping before the new owner starts, is what keeps a group
//! from running twice while nodes can talk.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::msg::{Ack, Beat, Chunk, GroupReport, GroupState, Intent, IntentKind, Message, Serial, State};
use super::{
    Action, Command, CommandError, Event, Input, MoveReason, Op, OpError, Resource, Time, UnitState, UnitTimeouts,
};
use crate::config::{Config, Fencing};
use crate::wire;

mod health;
pub use health::CheckStatus;
use health::CheckTrack;

/// How long adding or removing an address may take.
const VIP_OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Added to a unit's own job timeout: the bus round trips and the kill
/// systemd sends when its own timeout runs out.
const UNIT_OP_MARGIN: Duration = Duration::from_secs(5);
/// systemd's `DefaultTimeoutStartSec=`/`DefaultTimeoutStopSec=`, used until
/// the shell has read the unit's own.
const SYSTEMD_DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Not heard since we started; initdead has not passed.
    Unknown,
    Up,
    Dead,
    /// Said goodbye (graceful leave).
    Left,
}

impl PeerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Unknown => "unknown",
            PeerState::Up => "up",
            PeerState::Dead => "dead",
            PeerState::Left => "left",
        }
    }
}

#[derive(Clone, Debug)]
struct PeerLink {
    last: Option<Time>,
    up: bool,
}

#[derive(Clone, Debug)]
struct Peer {
    name: String,
    state: PeerState,
    generation: u64,
    /// Sequence number of the newest full beat applied.
    last_seq: u64,
    last_heard: Option<Time>,
    links: Vec<PeerLink>,
    late_reported: bool,
    /// Newest full beat applied (this generation).
    beat: Option<Beat>,
    /// Newest complete state applied. Kept after death: a dead peer's last
    /// word on a blocked group still counts.
    view: Option<PeerView>,
    /// Chunks of a newer state being collected.
    asm: Option<wire::Assembly>,
    /// A state completed before the beat that announces its generation.
    pending: Option<(u64, u64, State)>,
    /// Fenced since it was last heard (fencing = "required").
    fenced: bool,
    fence_in_flight: bool,
    fence_retry_at: Option<Time>,
    mismatch_warned: bool,
    stale_warned: u64,
    /// Last frame that named this peer but failed authentication.
    unverified_at: Option<Time>,
}

/// A peer's state as applied here: one version, complete.
#[derive(Clone, Debug)]
struct PeerView {
    version: u64,
    groups: HashMap<String, GroupReport>,
}

impl Peer {
    fn is_member(&self) -> bool {
        self.state == PeerState::Up
    }
    fn group(&self, name: &str) -> Option<&GroupReport> {
        self.view.as_ref()?.groups.get(name)
    }
    fn leaving(&self) -> bool {
        self.beat.as_ref().is_some_and(|b| b.leaving)
    }
    fn ping(&self) -> Option<u32> {
        self.beat.as_ref().and_then(|b| b.ping)
    }
    /// Forget what the peer ran (it restarted, or was fenced).
    fn forget(&mut self) {
        self.beat = None;
        self.view = None;
        self.asm = None;
        self.pending = None;
    }
    fn group_state(&self, name: &str) -> GroupState {
        self.group(name).map_or(GroupState::Stopped, |g| g.state)
    }
    /// A live peer relays that the group is blocked on a node it cannot hear.
    fn holds_down(&self, name: &str) -> bool {
        self.is_member() && self.group(name).is_some_and(|g| g.held_down)
    }
}

#[derive(Clone, Debug)]
struct LocalGroup {
    name: String,
    state: GroupState,
    /// Resources 0..running may be active here.
    running: usize,
    /// An operation is in flight for this resource.
    busy: Option<(usize, Op)>,
    /// When the operation in flight is taken as failed (None: no deadline).
    busy_until: Option<Time>,
    /// Each resource's state as systemd last reported it (units only).
    observed: Vec<Option<UnitState>>,
    /// Resources this node last knew to be up here (adopted or started,
    /// and not failed or stopped since): what status shows where systemd
    /// has not reported a state.
    up: Vec<bool>,
    /// Each unit's own job timeouts, once the shell has read them.
    timeouts: Vec<Option<UnitTimeouts>>,
    /// When a resource of this group last failed here (for failure_timeout).
    last_failure: Option<Time>,
    /// A stop was decided while a start was in flight.
    stop_after_op: bool,
    /// Adopted at start: resources found active before we decided anything.
    adopted: Vec<bool>,
    /// Adoption left a start to finish once the cluster has settled.
    resume_start: bool,
    failcount: u32,
    failed: bool,
    cleanup_applied: u64,
    /// First version of our state that shows the claim.
    claim_version: u64,
    claim_reason: MoveReason,
    release_reason: MoveReason,
    /// The node last seen running this group (for GroupMoved).
    owner_seen: Option<String>,
    /// Resources that failed while the group ran and are to be started
    /// again once no other operation is in flight.
    restart: Vec<usize>,
    /// Resources whose check failed: still running but sick, to be stopped
    /// and started again.
    bounce: Vec<usize>,
    /// The resource whose bounce's stop is in flight.
    bouncing: Option<usize>,
    /// Each resource's health check here.
    checks: Vec<CheckTrack>,
}

/// Key under which intents replace each other (last writer wins).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum IntentKey {
    Standby(String),
    Location(String),
    Cleanup(String),
}

fn intent_key(k: &IntentKind) -> IntentKey {
    match k {
        IntentKind::Standby { node, .. } => IntentKey::Standby(node.clone()),
        IntentKind::Location { group, .. } => IntentKey::Location(group.clone()),
        IntentKind::Cleanup { group } => IntentKey::Cleanup(group.clone()),
    }
}

/// A read-only picture of the node for status displays and the D-Bus API.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub cluster: String,
    pub local: String,
    pub generation: u64,
    pub quorate: bool,
    pub nodes: Vec<NodeStatus>,
    pub groups: Vec<GroupStatus>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeStatus {
    pub name: String,
    /// "up", "dead", "standby", "left", "unknown", "leaving".
    pub state: String,
    pub local: bool,
    pub generation: u64,
    /// (link, "up"/"down", ms since last frame or -1).
    pub links: Vec<(String, String, i64)>,
    pub ping: Option<u32>,
    /// The node's own checks (`[[node_check]]`; the local node only).
    pub checks: Vec<CheckStatus>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GroupStatus {
    pub name: String,
    pub owner: String,
    pub state: String,
    pub preferred: String,
    /// (kind, name, state).
    pub resources: Vec<(String, String, String)>,
    pub failcount: u32,
    /// Why the group is not running where it should, if it is not.
    pub note: String,
    /// The health checks of its resources, on the node that runs it.
    pub checks: Vec<CheckStatus>,
}

pub struct Node {
    cfg: Config,
    me: usize,
    generation: u64,
    started_at: Time,
    now: Time,
    peers: Vec<Option<Peer>>,
    groups: Vec<LocalGroup>,
    intents: BTreeMap<IntentKey, Intent>,
    lamport: u64,
    seq: u64,
    next_send: Time,
    send_now: bool,
    /// Version of our state, from 1 within this generation.
    state_version: u64,
    /// The state of `state_version`, and its chunks.
    last_state: Option<State>,
    chunks: Vec<Chunk>,
    /// The current version has not been sent yet.
    state_dirty: bool,
    last_state_send: Option<Time>,
    /// Send the state now whatever the interval (the goodbye).
    flush_state: bool,
    /// No beat went to the serial links before this time.
    next_serial: Time,
    names: Names,
    /// The last beat went whole on the serial links (and so do chunks).
    serial_whole: bool,
    /// Why this node cannot send (a message did not fit a frame): it gives
    /// its groups up and claims none.
    mute: Option<String>,
    ping_raw: Option<u32>,
    ping_eff: Option<u32>,
    ping_raw_since: Time,
    /// The ping monitor has reported at least once since the ping hosts
    /// were set: until then the node claims nothing. A first count applies
    /// at once (it is news, not a change): with the hysteresis, the node
    /// whose first answer came first would take a group and then yield it
    /// to a peer whose count arrived later.
    ping_measured: bool,
    leaving: bool,
    exited: bool,
    quorate: bool,
    digest: u64,
    /// Coming out of isolation the node knows nothing current about its
    /// peers (it still thinks them dead): like a fresh start, it claims
    /// nothing until then unless it has heard them all.
    claim_hold_until: Time,
    was_isolated: bool,
    /// (group, peer) pairs both running a group, already reported.
    split_seen: std::collections::BTreeSet<(usize, usize)>,
    /// See [`Node::status_serial`].
    status_serial: u64,
    /// Something `status()` shows changed in this step: a frame went out
    /// because of it (not a plain keepalive), or time alone changed it.
    status_moved: bool,
    /// See [`Node::pending_reload`].
    pending_reload: Option<Box<Config>>,
    /// A peer came up in this step (see `announce_after_heal`).
    peer_came_up: bool,
    /// The last check session handed out.
    check_session: u64,
    /// This node's `[[node_check]]`s, by name.
    node_checks: Vec<(String, CheckTrack)>,
    out: Vec<Action>,
}

impl Node {
    /// A node named `name` (must be in `cfg`) starting at `now` with the
    /// generation the shell persisted for this run.
    pub fn new(cfg: Config, name: &str, generation: u64, now: Time) -> Result<Node, String> {
        let me = cfg.node_index(name).ok_or_else(|| format!("node {name:?} is not in {}", cfg.path.display()))?;
        let peers = cfg
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (i != me).then(|| Peer {
                    name: n.name.clone(),
                    state: PeerState::Unknown,
                    generation: 0,
                    last_seq: 0,
                    last_heard: None,
                    links: vec![PeerLink { last: None, up: false }; cfg.links.len()],
                    late_reported: false,
                    beat: None,
                    view: None,
                    asm: None,
                    pending: None,
                    fenced: false,
                    fence_in_flight: false,
                    fence_retry_at: None,
                    mismatch_warned: false,
                    stale_warned: 0,
                    unverified_at: None,
                })
            })
            .collect();
        let groups = cfg.groups.iter().map(|g| new_group(&g.name, g.resources.len())).collect();
        let digest = cfg.digest();
        let ping_raw = if cfg.ping.hosts.is_empty() { None } else { Some(0) };
        Ok(Node {
            me,
            generation,
            started_at: now,
            now,
            peers,
            groups,
            intents: BTreeMap::new(),
            // The Lamport clock must not go back when the node restarts:
            // a restarted node that reused its old serials would issue
            // intents equal in (serial, origin) to ones its peers already
            // hold, with other content, and nodes would disagree forever.
            // Starting above anything the earlier incarnations could have
            // issued keeps it monotonic without persisting it.
            lamport: generation.min(u64::from(u32::MAX)) << 32,
            seq: 0,
            next_send: now,
            send_now: true,
            state_version: 0,
            last_state: None,
            chunks: Vec::new(),
            state_dirty: false,
            last_state_send: None,
            flush_state: false,
            next_serial: now,
            mute: None,
            serial_whole: false,
            names: Names::of(&cfg),
            ping_raw,
            // Until the first probe answers, assume the worst: a node that
            // reaches nothing does not take groups from one that does.
            ping_eff: ping_raw,
            ping_raw_since: now,
            ping_measured: cfg.ping.hosts.is_empty(),
            leaving: false,
            exited: false,
            quorate: false,
            digest,
            claim_hold_until: now,
            was_isolated: false,
            split_seen: Default::default(),
            status_serial: 0,
            status_moved: false,
            pending_reload: None,
            peer_came_up: false,
            check_session: 0,
            node_checks: Vec::new(),
            out: Vec::new(),
            cfg,
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.nodes[self.me].name
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Feed one input at time `now`; returns what the shell must do.
    pub fn handle(&mut self, now: Time, input: Input) -> Vec<Action> {
        self.now = now.max(self.now);
        // A probe that passed moves nothing but counts and a latency, which
        // status refreshes at its own pace (like link ages).
        let routine = matches!(input, Input::Frame { .. } | Input::Tick | Input::CheckResult { ok: true, .. });
        match input {
            Input::Frame { from, link, generation, seq, msg: Message::Beat(b) } => {
                self.on_beat(&from, link, generation, seq, b)
            }
            Input::Frame { from, generation, msg: Message::Chunk(c), .. } => self.on_chunk(&from, generation, c),
            Input::SendFailed { reason } => self.go_mute(reason),
            Input::Unverified { from } => {
                let now = self.now;
                if let Some(p) = self.cfg.node_index(&from).and_then(|i| self.peers[i].as_mut()) {
                    p.unverified_at = Some(now);
                }
            }
            Input::Adopt { group, resource } => self.on_adopt(&group, resource),
            Input::ResourceDone { group, resource, op, result } => self.on_resource_done(&group, resource, op, result),
            Input::ResourceFailed { group, resource, reason } => self.on_resource_failed(&group, resource, reason),
            Input::UnitState { group, resource, state } => self.on_unit_state(&group, resource, state),
            Input::UnitTimeouts { group, resource, timeouts } => {
                if let Some(g) = self.groups.iter_mut().find(|g| g.name == group) {
                    if let Some(t) = g.timeouts.get_mut(resource) {
                        *t = Some(timeouts);
                    }
                }
            }
            Input::CheckResult { target, session, ok, detail, latency } => {
                self.on_check_result(target, session, ok, detail, latency)
            }
            Input::Ping { reachable } => self.on_ping(reachable),
            Input::FenceDone { node, ok } => self.on_fence_done(&node, ok),
            Input::Command { id, cmd } => {
                let result = self.on_command(cmd);
                self.out.push(Action::Reply { id, result });
            }
            Input::Shutdown => {
                self.leaving = true;
                self.send_now = true;
            }
            Input::Reload(cfg) => self.on_reload(*cfg),
            Input::Tick => {}
        }
        self.step();
        // Whatever changes state either tells the peers at once or emits
        // an action other than a keepalive: a frame or tick that did
        // neither changed nothing `status()` shows but link ages.
        if !routine || self.status_moved || self.out.iter().any(|a| !matches!(a, Action::Send { .. })) {
            self.status_serial += 1;
        }
        self.status_moved = false;
        std::mem::take(&mut self.out)
    }

    /// Changes whenever something [`Node::status`] shows may have changed,
    /// other than the ages of the links (the time since each peer's last
    /// frame). A reader that rebuilds the status only when this changes, and
    /// about once per keepalive for the ages, misses nothing else.
    pub fn status_serial(&self) -> u64 {
        self.status_serial
    }

    /// When the shell must call `handle(…, Input::Tick)` at the latest.
    pub fn next_deadline(&self) -> Time {
        let c = &self.cfg.cluster;
        let mut d = self.next_send;
        let mut consider = |t: Time| {
            if t > self.now && t < d {
                d = t;
            }
        };
        consider(self.started_at + c.initdead);
        for p in self.peers.iter().flatten() {
            if let Some(h) = p.last_heard {
                if p.state == PeerState::Up {
                    consider(h + c.warntime);
                    consider(h + c.deadtime);
                    consider(h + self.lease());
                }
            }
            for l in &p.links {
                if let (Some(t), true) = (l.last, l.up) {
                    consider(t + c.deadtime);
                }
            }
            if let Some(t) = p.fence_retry_at {
                consider(t);
            }
            if let Some(t) = p.unverified_at {
                consider(t + c.deadtime);
            }
        }
        consider(self.claim_hold_until);
        for g in &self.groups {
            if let Some(t) = g.busy_until {
                consider(t);
            }
            if let Some(t) = self.failures_expire_at(g) {
                consider(t);
            }
        }
        if self.state_dirty {
            if let Some(t) = self.last_state_send {
                consider(t + self.state_interval());
            }
        }
        if self.ping_raw != self.ping_eff {
            consider(self.ping_raw_since + self.ping_hold());
        }
        if d <= self.now {
            self.now + Duration::from_millis(1)
        } else {
            d
        }
    }

    // ---------------------------------------------------------------- inputs

    fn on_beat(&mut self, from: &str, link: usize, generation: u64, seq: u64, msg: Beat) {
        let now = self.now;
        let Some(idx) = self.cfg.node_index(from) else { return };
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
                let both: Vec<(usize, String)> = self
                    .groups
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| g.state == GroupState::Started && p.group_state(&g.name) == GroupState::Started)
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
    fn on_chunk(&mut self, from: &str, generation: u64, c: Chunk) {
        let Some(idx) = self.cfg.node_index(from) else { return };
        let Some(p) = self.peers[idx].as_mut() else { return };
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

    fn apply_state(&mut self, idx: usize, version: u64, state: State) {
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
                    let peer = self.cfg.nodes[idx].name.clone();
                    self.out.push(Action::Event(Event::SplitBrain { group: g.name.clone(), peer }));
                }
            }
        }
        let p = self.peers[idx].as_mut().expect("peer");
        p.view = Some(PeerView { version, groups: state.groups.into_iter().map(|g| (g.name.clone(), g)).collect() });
        // Answer at once: a peer waiting on our acknowledgement of its
        // claim should not wait a keepalive.
        self.send_now = true;
    }

    /// A message could not be sealed: peers may not hear us. Give every
    /// group up and claim none, loudly.
    fn go_mute(&mut self, reason: String) {
        if self.mute.is_none() {
            self.out.push(Action::Event(Event::SendFailed { reason: reason.clone() }));
            self.mute = Some(reason);
            self.send_now = true;
        }
    }

    fn on_adopt(&mut self, group: &str, resource: usize) {
        let Some(g) = self.groups.iter_mut().find(|g| g.name == group) else { return };
        if resource >= g.adopted.len()
            || !matches!(g.state, GroupState::Stopped | GroupState::Starting | GroupState::Started)
        {
            return;
        }
        g.adopted[resource] = true;
        g.up[resource] = true;
        let n = g.adopted.len();
        // Everything up to the last active resource may be active: a stop
        // must cover it even where an earlier one is down (a group left
        // blocked, with some of its units stopped, by an hbd that exited).
        let upto = g.adopted.iter().rposition(|a| *a).map_or(0, |i| i + 1);
        if g.adopted.iter().all(|a| *a) {
            g.state = GroupState::Started;
            g.running = n;
            g.resume_start = false;
        } else {
            // Something runs: report it held at once so no peer claims it,
            // and finish the start (idempotent for what already runs): the
            // gaps below the last active resource first, then the rest.
            g.state = GroupState::Starting;
            g.running = upto;
            g.restart = (0..upto).filter(|&i| !g.adopted[i]).collect();
            g.resume_start = true;
        }
        g.owner_seen = Some(self.cfg.nodes[self.me].name.clone());
        self.send_now = true;
        if let Some(gi) = self.groups.iter().position(|g| g.name == group) {
            self.start_check(gi, resource);
        }
    }

    fn on_resource_done(&mut self, group: &str, resource: usize, op: Op, result: Result<(), OpError>) {
        let Some(gi) = self.groups.iter().position(|g| g.name == group) else { return };
        if self.groups[gi].busy != Some((resource, op)) {
            return;
        }
        self.groups[gi].busy = None;
        self.groups[gi].busy_until = None;
        let now = self.now;
        let rname = self.cfg.groups[gi].resources[resource].name();
        match (op, result) {
            (Op::Start, Ok(())) => {
                self.start_check(gi, resource);
                let g = &mut self.groups[gi];
                g.up[resource] = true;
                if g.state == GroupState::Started {
                    // A restart of a failed resource finished.
                    return;
                }
                g.running = g.running.max(resource + 1);
            }
            (Op::Start, Err(e)) => {
                let g = &mut self.groups[gi];
                g.up[resource] = false;
                g.last_failure = Some(now);
                if g.state == GroupState::Started {
                    // The restart of a failed resource failed: give the group up.
                    g.failed = true;
                    g.release_reason = MoveReason::UnitFailure;
                } else {
                    g.running = g.running.max(resource + 1);
                    g.failcount += 1;
                    g.failed = true;
                    g.stop_after_op = true;
                    g.release_reason = MoveReason::UnitFailure;
                }
                self.out.push(Action::Event(Event::StartFailed {
                    group: group.to_string(),
                    resource: rname,
                    reason: e.0,
                }));
                self.send_now = true;
            }
            (Op::Stop, Ok(())) => {
                let g = &mut self.groups[gi];
                g.up[resource] = false;
                if g.bouncing.take() == Some(resource) {
                    // Stopped to be started again: the rest keeps running.
                    if matches!(g.state, GroupState::Started | GroupState::Starting) {
                        g.restart.push(resource);
                    }
                    return;
                }
                g.running = resource;
            }
            (Op::Stop, Err(e)) => {
                let g = &mut self.groups[gi];
                g.bouncing = None;
                g.state = GroupState::Blocked;
                self.out.push(Action::Event(Event::StopFailed {
                    group: group.to_string(),
                    resource: rname,
                    reason: e.0,
                }));
                self.send_now = true;
            }
        }
    }

    fn on_resource_failed(&mut self, group: &str, resource: usize, reason: String) {
        self.fail_resource(group, resource, reason, false);
    }

    /// A failure of a resource of a running group. Below the threshold it is
    /// brought back here: started again, or, if it `still_runs` (a sick
    /// service), stopped and started again.
    pub(super) fn fail_resource(&mut self, group: &str, resource: usize, reason: String, still_runs: bool) {
        let Some(gi) = self.groups.iter().position(|g| g.name == group) else { return };
        let threshold = self.cfg.cluster.migration_threshold;
        let g = &mut self.groups[gi];
        // A resource that dies while its own start job is still in flight
        // counts too: the job's success, when it comes, is already stale.
        let starting_it = g.busy == Some((resource, Op::Start));
        if !matches!(g.state, GroupState::Started | GroupState::Starting) || (resource >= g.running && !starting_it) {
            return;
        }
        g.failcount += 1;
        g.up[resource] = false;
        g.last_failure = Some(self.now);
        let rname = self.cfg.groups[gi].resources[resource].name();
        self.out.push(Action::Event(Event::ResourceFailed {
            group: group.to_string(),
            resource: rname,
            reason,
            failcount: g.failcount,
            threshold,
        }));
        if g.failcount >= threshold {
            g.failed = true;
            g.release_reason = MoveReason::UnitFailure;
        } else if g.restart.contains(&resource) {
            // A start is already queued.
        } else if still_runs {
            // A plain start would find it running.
            if !g.bounce.contains(&resource) {
                g.bounce.push(resource);
            }
        } else {
            // Below the threshold: bring it back here (a no-op if systemd's
            // own Restart= already did) as soon as nothing else is in flight.
            g.restart.push(resource);
        }
        self.send_now = true;
        self.stop_check(gi, resource);
    }

    /// The supervision contract: a unit of a group that goes down while hbd
    /// has it up, and not because hbd stops it, has failed — stopped by
    /// `systemctl stop`, by a dependency, or exited on its own.
    fn on_unit_state(&mut self, group: &str, resource: usize, state: UnitState) {
        let Some(gi) = self.groups.iter().position(|g| g.name == group) else { return };
        let g = &mut self.groups[gi];
        let Some(slot) = g.observed.get_mut(resource) else { return };
        let prev = slot.replace(state.clone());
        self.status_moved = true;
        if !state.is_down() || !prev.is_some_and(|p| p.is_up()) || g.busy == Some((resource, Op::Stop)) {
            return;
        }
        let reason = if state.active == "failed" {
            format!("it {state}")
        } else {
            "it was stopped outside hbd (by systemctl or a dependency)".to_string()
        };
        self.on_resource_failed(group, resource, reason);
    }

    /// When the fail counts of `g` expire, if they do.
    fn failures_expire_at(&self, g: &LocalGroup) -> Option<Time> {
        let ft = self.cfg.cluster.failure_timeout;
        if ft.is_zero() || !(g.failcount > 0 || g.failed) {
            return None;
        }
        g.last_failure.map(|t| t + ft)
    }

    /// Fail counts expire `failure_timeout` after the last failure, as
    /// Pacemaker's do: a node is not shut out of a group for good by
    /// failures long past. Not mid-transition: a release that is under way
    /// finishes first.
    fn expire_failures(&mut self) {
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let due = self.failures_expire_at(g).is_some_and(|t| self.now >= t);
            if !due || !matches!(g.state, GroupState::Stopped | GroupState::Started) || g.busy.is_some() {
                continue;
            }
            let g = &mut self.groups[gi];
            g.failcount = 0;
            g.failed = false;
            g.last_failure = None;
            self.out.push(Action::Event(Event::FailuresExpired { group: g.name.clone() }));
            self.send_now = true;
        }
    }

    /// An operation past its deadline has failed: a start that hangs
    /// releases the group, a stop that hangs blocks it. The late answer,
    /// if it ever comes, no longer matches and is dropped.
    fn expire_ops(&mut self) {
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let (Some((r, op)), Some(t)) = (g.busy, g.busy_until) else { continue };
            if self.now < t {
                continue;
            }
            let what = self.cfg.groups[gi].resources[r].name();
            let limit = self.op_timeout(gi, r, op).unwrap_or_default();
            let verb = if op == Op::Start { "start" } else { "stop" };
            let reason = format!(
                "the {verb} of {what} did not finish within {} s (set timeout = \"…\" on the resource, or the unit's Timeout{}Sec=)",
                limit.as_secs_f64().ceil() as u64,
                if op == Op::Start { "Start" } else { "Stop" }
            );
            let name = g.name.clone();
            self.on_resource_done(&name, r, op, Err(OpError(reason)));
        }
    }

    /// The deadline of an operation on resource `r` of group `gi`: the
    /// resource's own `timeout`, else the unit's systemd timeout plus a
    /// margin for the bus and the kill that ends it. `None`: the unit's
    /// timeout is `infinity`.
    fn op_timeout(&self, gi: usize, r: usize, op: Op) -> Option<Duration> {
        match &self.cfg.groups[gi].resources[r] {
            Resource::Vip { .. } => Some(VIP_OP_TIMEOUT),
            Resource::Unit { timeout: Some(t), .. } => Some(*t),
            Resource::Unit { .. } => match self.groups[gi].timeouts[r] {
                Some(t) => match op {
                    Op::Start => t.start,
                    Op::Stop => t.stop,
                }
                .map(|d| d.saturating_add(UNIT_OP_MARGIN)),
                None => Some(SYSTEMD_DEFAULT_TIMEOUT + UNIT_OP_MARGIN),
            },
        }
    }

    /// Ask the shell for an operation and note its deadline.
    fn begin_op(&mut self, gi: usize, r: usize, op: Op) {
        // A check probes a resource that is up; it begins again once a
        // start has succeeded.
        self.stop_check(gi, r);
        let deadline = self.op_timeout(gi, r, op).map(|d| self.now.saturating_add(d));
        let g = &mut self.groups[gi];
        g.busy = Some((r, op));
        g.busy_until = deadline;
        let group = g.name.clone();
        let what = self.cfg.groups[gi].resources[r].clone();
        self.out.push(match op {
            Op::Start => Action::Start { group, resource: r, what },
            Op::Stop => Action::Stop { group, resource: r, what },
        });
    }

    fn on_ping(&mut self, reachable: u32) {
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

    fn on_fence_done(&mut self, node: &str, ok: bool) {
        let Some(idx) = self.cfg.node_index(node) else { return };
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

    fn on_command(&mut self, cmd: Command) -> Result<(), CommandError> {
        let me = self.cfg.nodes[self.me].name.clone();
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

    fn need_quorum(&self) -> Result<(), CommandError> {
        if self.quorum_mode() && !self.quorate {
            Err(CommandError::NoQuorum)
        } else {
            Ok(())
        }
    }

    fn on_reload(&mut self, cfg: Config) {
        // Nodes and links are fixed for the life of the process (their
        // sockets and peers' replay windows depend on them); groups and
        // timing follow the new file. The shell refuses node/link changes.
        let mut groups = Vec::with_capacity(cfg.groups.len());
        for gc in &cfg.groups {
            match self.groups.iter().position(|g| g.name == gc.name) {
                Some(i) if same_resources(&self.cfg.groups[i].resources, &gc.resources) => {
                    groups.push(self.groups[i].clone())
                }
                _ => groups.push(new_group(&gc.name, gc.resources.len())),
            }
        }
        // A group that is dropped or changed while it runs keeps its old
        // definition until it has stopped: the resources it started are the
        // ones to stop.
        let holding_changed = self.groups.iter().enumerate().any(|(i, g)| {
            g.state.holds()
                && cfg
                    .groups
                    .iter()
                    .find(|n| n.name == g.name)
                    .is_none_or(|n| !same_resources(&n.resources, &self.cfg.groups[i].resources))
        });
        if holding_changed {
            let first = self.pending_reload.is_none();
            for (i, g) in self.groups.iter_mut().enumerate() {
                let keep = cfg
                    .groups
                    .iter()
                    .any(|n| n.name == g.name && same_resources(&n.resources, &self.cfg.groups[i].resources));
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
        self.groups = groups;
        self.digest = cfg.digest();
        self.cfg = cfg;
        // Intents for groups or nodes the new file no longer has go.
        self.names = Names::of(&self.cfg);
        let names = &self.names;
        self.intents.retain(|_, i| names.applies(&i.kind));
        // A reload is the operator's answer to a message too large to send.
        self.mute = None;
        self.apply_ping_hosts();
        self.refresh_checks();
        self.send_now = true;
    }

    /// Ping hosts added or removed by a reload: with none, the node no
    /// longer reports a count; with new ones, it assumes the worst until
    /// the first probe answers.
    fn apply_ping_hosts(&mut self) {
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

    fn merge_intent(&mut self, i: Intent) {
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

    fn apply_cleanup(&mut self, group: &str, serial: u64) {
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
        if let Some(gi) = self.cfg.group_index(group) {
            for r in &self.cfg.groups[gi].resources {
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
        for p in self.peers.iter_mut().flatten() {
            if p.state != PeerState::Up {
                if let Some(gr) = p.view.as_mut().and_then(|s| s.groups.get_mut(group)) {
                    gr.state = GroupState::Stopped;
                }
            }
        }
    }

    // ------------------------------------------------------------ the step

    fn step(&mut self) {
        if self.exited {
            return;
        }
        if let Some(cfg) = self.pending_reload.clone() {
            self.on_reload(*cfg);
        }
        self.start_node_checks();
        self.update_membership();
        self.update_ping();
        self.expire_ops();
        self.expire_failures();
        self.update_quorum();
        let isolated = self.isolated();
        if self.was_isolated && !isolated {
            self.claim_hold_until = self.now + self.cfg.cluster.deadtime;
        }
        self.status_moved |= self.was_isolated != isolated;
        self.was_isolated = isolated;
        self.plan();
        // A claim that needs nobody's acknowledgement (no live peer left)
        // becomes a start now, not at the next tick a keepalive later.
        self.plan();
        self.drive_resources();
        self.observe_owners();
        self.announce_after_heal();
        self.maybe_send();
        if self.leaving
            && self
                .groups
                .iter()
                .all(|g| matches!(g.state, GroupState::Stopped | GroupState::Blocked) && g.busy.is_none())
        {
            // Say goodbye with the final state, then let the shell exit.
            self.send_now = true;
            self.flush_state = true;
            self.maybe_send();
            self.exited = true;
            self.out.push(Action::Exit);
        }
    }

    /// A peer came back (a partition healed): tell the LAN again where the
    /// VIPs are — from the side that keeps each group only. The side that
    /// gives a group up has already begun to stop it this step, and a late
    /// announcement from it would pull the clients back to it.
    fn announce_after_heal(&mut self) {
        if !std::mem::take(&mut self.peer_came_up) {
            return;
        }
        for g in &self.groups {
            if g.state == GroupState::Started && !g.stop_after_op {
                self.out.push(Action::Announce { group: g.name.clone() });
            }
        }
    }

    fn update_membership(&mut self) {
        let now = self.now;
        let c = self.cfg.cluster.clone();
        let links: Vec<String> = self.cfg.links.iter().map(|l| l.name.clone()).collect();
        let mut events = Vec::new();
        for p in self.peers.iter_mut().flatten() {
            for (li, l) in p.links.iter_mut().enumerate() {
                if l.up && l.last.is_some_and(|t| now >= t + c.deadtime) {
                    l.up = false;
                    events.push(Event::LinkDown { peer: p.name.clone(), link: links[li].clone() });
                }
            }
            match p.state {
                PeerState::Up => {
                    let last = p.last_heard.unwrap_or(now);
                    if now >= last + c.deadtime {
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
                    if now >= self.started_at + c.initdead && !unverified {
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

    fn update_ping(&mut self) {
        if self.ping_raw != self.ping_eff && self.now >= self.ping_raw_since + self.ping_hold() {
            self.ping_eff = self.ping_raw;
            self.send_now = true;
        }
    }

    fn ping_hold(&self) -> Duration {
        // Hysteresis: a ping count must hold this long before groups move
        // because of it, so one lost echo does not flap them.
        self.cfg.cluster.deadtime
    }

    /// How long a node trusts its membership without hearing anyone. Half
    /// of deadtime: a node cut off gives its groups up before the others,
    /// who wait the full deadtime, take them over.
    fn lease(&self) -> Duration {
        self.cfg.cluster.deadtime / 2
    }

    fn recently_heard(&self, p: &Peer) -> bool {
        p.state == PeerState::Up && p.last_heard.is_some_and(|t| self.now < t + self.lease())
    }

    fn quorum_mode(&self) -> bool {
        self.cfg.nodes.len() >= 3
    }

    fn update_quorum(&mut self) {
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
    fn isolated(&self) -> bool {
        self.ping_raw == Some(0) && !self.peers.iter().flatten().any(|p| self.recently_heard(p))
    }

    /// Every peer has been heard or given up on (after initdead, unless it
    /// keeps sending frames we cannot verify).
    fn settled(&self) -> bool {
        self.peers.iter().flatten().all(|p| p.state != PeerState::Unknown)
    }

    /// Node `n` is in standby because a node check of its own fails (a
    /// peer says so in its beats).
    fn health_standby(&self, n: usize) -> bool {
        if n == self.me {
            self.sick()
        } else {
            self.peers[n].as_ref().is_some_and(|p| p.beat.as_ref().is_some_and(|b| b.standby))
        }
    }

    fn standby_of(&self, node: &str) -> bool {
        matches!(
            self.intents.get(&IntentKey::Standby(node.to_string())),
            Some(Intent { kind: IntentKind::Standby { on: true, .. }, .. })
        )
    }

    fn location_of(&self, group: &str) -> Option<usize> {
        match self.intents.get(&IntentKey::Location(group.to_string())) {
            Some(Intent { kind: IntentKind::Location { node: Some(n), .. }, .. }) => self.cfg.node_index(n),
            _ => None,
        }
    }

    fn members(&self) -> Vec<usize> {
        (0..self.cfg.nodes.len())
            .filter(|&i| i == self.me || self.peers[i].as_ref().is_some_and(|p| p.is_member()))
            .collect()
    }

    fn ping_of(&self, n: usize) -> Option<u32> {
        if n == self.me {
            self.ping_eff
        } else {
            self.peers[n].as_ref().and_then(|p| p.ping())
        }
    }

    fn state_of(&self, n: usize, gi: usize) -> GroupState {
        if n == self.me {
            self.groups[gi].state
        } else {
            self.peers[n].as_ref().map_or(GroupState::Stopped, |p| p.group_state(&self.cfg.groups[gi].name))
        }
    }

    fn eligible(&self, n: usize, gi: usize, max_ping: Option<u32>) -> bool {
        let name = &self.cfg.nodes[n].name;
        if self.standby_of(name) || self.health_standby(n) {
            return false;
        }
        let (leaving, failed) = if n == self.me {
            (self.leaving || self.mute.is_some(), self.groups[gi].failed)
        } else {
            let p = self.peers[n].as_ref().expect("peer");
            (p.leaving(), p.group(&self.cfg.groups[gi].name).is_some_and(|g| g.failed))
        };
        if leaving || failed {
            return false;
        }
        match max_ping {
            Some(m) => self.ping_of(n).unwrap_or(0) >= m,
            None => true,
        }
    }

    /// Who should run group `gi`, as this node sees the cluster; None: nobody
    /// may (no quorum, cut off, blocked somewhere, or no eligible node).
    fn desired_owner(&self, gi: usize) -> Option<usize> {
        if !self.quorate || self.isolated() {
            return None;
        }
        let gname = &self.cfg.groups[gi].name;
        if self.groups[gi].state == GroupState::Blocked {
            return None;
        }
        // A blocked stop anywhere we know of, even on a dead peer that has
        // not been fenced, keeps the group down everywhere.
        if self.peers.iter().flatten().any(|p| p.group_state(gname) == GroupState::Blocked || p.holds_down(gname)) {
            return None;
        }
        let members = self.members();
        let max_ping = if self.cfg.ping.hosts.is_empty() {
            None
        } else {
            members.iter().map(|&m| self.ping_of(m).unwrap_or(0)).max()
        };
        let candidates: Vec<usize> = members.iter().copied().filter(|&m| self.eligible(m, gi, max_ping)).collect();
        if candidates.is_empty() {
            return None;
        }
        let preferred = self.cfg.node_index(&self.cfg.groups[gi].preferred);
        if let Some(l) = self.location_of(gname) {
            if candidates.contains(&l) {
                return Some(l);
            }
        }
        if self.cfg.cluster.auto_failback {
            if let Some(p) = preferred.filter(|p| candidates.contains(p)) {
                return Some(p);
            }
        }
        // Stickiness: a running owner keeps the group. Between two (a healed
        // split brain) the preferred one, then the first in the file, wins —
        // a rule every node computes alike.
        let holders: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&m| matches!(self.state_of(m, gi), GroupState::Starting | GroupState::Started))
            .collect();
        if let Some(p) = preferred.filter(|p| holders.contains(p)) {
            return Some(p);
        }
        if let Some(&h) = holders.first() {
            return Some(h);
        }
        if let Some(p) = preferred.filter(|p| candidates.contains(p)) {
            return Some(p);
        }
        candidates.first().copied()
    }

    fn plan(&mut self) {
        let settled = self.settled();
        // Just out of isolation, what this node believes of a peer it has
        // not heard since is stale: one it thinks up may have declared it
        // dead and taken over, one that left may have come back. Claim
        // nothing, and start no claim, until it hears them or the hold ends.
        let hold = self.now < self.claim_hold_until && self.peers.iter().flatten().any(|p| !self.recently_heard(p));
        for gi in 0..self.groups.len() {
            let desired = if settled { self.desired_owner(gi) } else { None };
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
                        if g.busy.is_some() {
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

    /// No live peer holds the group in any form.
    fn may_claim(&self, gi: usize) -> bool {
        if !self.ping_measured {
            return false;
        }
        let gname = &self.cfg.groups[gi].name;
        self.peers.iter().flatten().filter(|p| p.is_member()).all(|p| !p.group_state(gname).holds())
    }

    fn claim_conflict(&self, gi: usize) -> bool {
        let gname = &self.cfg.groups[gi].name;
        self.peers.iter().enumerate().any(|(i, p)| {
            let Some(p) = p else { return false };
            if !p.is_member() {
                return false;
            }
            if p.holds_down(gname) {
                return true;
            }
            match p.group_state(gname) {
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
    fn claim_confirmed(&self, gi: usize) -> bool {
        let me = &self.cfg.nodes[self.me].name;
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
    fn fenced_for(&mut self, _gi: usize) -> bool {
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

    fn reason_for_takeover(&self, gi: usize) -> MoveReason {
        let last = self.groups[gi].owner_seen.as_deref().and_then(|n| self.cfg.node_index(n));
        match last {
            None => MoveReason::Start,
            Some(n) if n == self.me => MoveReason::Start,
            Some(n) => self.reason_from(gi, n, self.me),
        }
    }

    fn reason_for_release(&self, gi: usize, desired: Option<usize>) -> MoveReason {
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
    fn reason_from(&self, gi: usize, from: usize, to: usize) -> MoveReason {
        let from_name = &self.cfg.nodes[from].name;
        let g = &self.cfg.groups[gi];
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
            self.peers[from].as_ref().and_then(|p| p.group(&g.name)).is_some_and(|r| r.failed)
        };
        if failed {
            return MoveReason::UnitFailure;
        }
        if self.ping_of(from).unwrap_or(0) < self.ping_of(to).unwrap_or(0) {
            return MoveReason::Ping;
        }
        if self.cfg.cluster.auto_failback && self.cfg.node_index(&g.preferred) == Some(to) {
            return MoveReason::Failback;
        }
        MoveReason::Move
    }

    fn drive_resources(&mut self) {
        let settled = self.settled();
        for gi in 0..self.groups.len() {
            let n = self.cfg.groups[gi].resources.len();
            let gname = self.groups[gi].name.clone();
            let g = &mut self.groups[gi];
            // systemd's StopUnit ("replace") cancels a unit's start job: a
            // release need not wait for the start to end, and a start that
            // hangs must not keep a node running past its lease (one without
            // quorum, say). The start's late answer no longer matches.
            if let Some((r, Op::Start)) = g.busy {
                if g.stop_after_op && self.cfg.groups[gi].resources[r].unit_name().is_some() {
                    g.busy = None;
                    g.busy_until = None;
                    g.running = g.running.max(r + 1);
                }
            }
            if g.busy.is_some() {
                continue;
            }
            if g.stop_after_op && matches!(g.state, GroupState::Starting | GroupState::Started) {
                g.stop_after_op = false;
                g.state = GroupState::Stopping;
            }
            let may_resume = !g.resume_start || settled;
            if matches!(g.state, GroupState::Started | GroupState::Starting) && may_resume && !g.bounce.is_empty() {
                let r = g.bounce.remove(0);
                g.bouncing = Some(r);
                self.begin_op(gi, r, Op::Stop);
                continue;
            }
            if matches!(g.state, GroupState::Started | GroupState::Starting) && may_resume && !g.restart.is_empty() {
                let r = g.restart.remove(0);
                self.begin_op(gi, r, Op::Start);
                continue;
            }
            if !matches!(g.state, GroupState::Started | GroupState::Starting) {
                // Stopping stops them anyway.
                g.restart.clear();
                g.bounce.clear();
            }
            match g.state {
                GroupState::Starting => {
                    if !may_resume {
                        continue;
                    }
                    g.resume_start = false;
                    if g.running < n {
                        let r = g.running;
                        self.begin_op(gi, r, Op::Start);
                    } else {
                        g.state = GroupState::Started;
                        self.out.push(Action::Event(Event::GroupStarted { group: gname }));
                        self.send_now = true;
                    }
                }
                GroupState::Stopping => {
                    if g.running > 0 {
                        let r = g.running - 1;
                        self.begin_op(gi, r, Op::Stop);
                    } else {
                        g.state = GroupState::Stopped;
                        g.adopted.iter_mut().for_each(|a| *a = false);
                        self.out.push(Action::Event(Event::GroupStopped { group: gname }));
                        self.send_now = true;
                    }
                }
                _ => {}
            }
        }
    }

    /// Notice which node runs each group now and report when that changes.
    fn observe_owners(&mut self) {
        for gi in 0..self.groups.len() {
            let mine = self.groups[gi].state == GroupState::Started;
            for n in 0..self.cfg.nodes.len() {
                if n == self.me || !self.peers[n].as_ref().is_some_and(|p| p.is_member()) {
                    continue;
                }
                let theirs = self.state_of(n, gi);
                // Both ran it when they met again: a healed split brain.
                let both = mine && theirs == GroupState::Started;
                if both && self.split_seen.insert((gi, n)) {
                    self.out.push(Action::Event(Event::SplitBrain {
                        group: self.groups[gi].name.clone(),
                        peer: self.cfg.nodes[n].name.clone(),
                    }));
                } else if !both {
                    self.split_seen.remove(&(gi, n));
                }
                // A peer seen stopping or starting it is who had it last, even
                // if we never saw it fully started (we booted mid-hand-off).
                if self.groups[gi].owner_seen.is_none() && matches!(theirs, GroupState::Stopping | GroupState::Starting)
                {
                    self.groups[gi].owner_seen = Some(self.cfg.nodes[n].name.clone());
                }
            }
            let owner = if self.groups[gi].state == GroupState::Started {
                Some(self.me)
            } else {
                (0..self.cfg.nodes.len()).find(|&n| {
                    n != self.me
                        && self.peers[n].as_ref().is_some_and(|p| p.is_member())
                        && self.state_of(n, gi) == GroupState::Started
                })
            };
            let Some(owner) = owner else { continue };
            let owner_name = self.cfg.nodes[owner].name.clone();
            if self.groups[gi].owner_seen.as_deref() == Some(owner_name.as_str()) {
                continue;
            }
            let from = self.groups[gi].owner_seen.clone();
            let reason = match from.as_deref().and_then(|f| self.cfg.node_index(f)) {
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

    /// What goes out: a beat every keepalive or at once when something
    /// changed, and our state in chunks when it changed (not more often
    /// than [`Node::state_interval`]) or when a peer we hear lacks it.
    /// A new version of our state if it changed.
    fn refresh_state(&mut self) {
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

    fn send_chunks(&mut self) {
        self.state_dirty = false;
        self.flush_state = false;
        self.last_state_send = Some(self.now);
        let serial = if self.serial_whole { Serial::Whole } else { Serial::No };
        for c in self.chunks.clone() {
            self.seq += 1;
            self.out.push(Action::Send { seq: self.seq, msg: Message::Chunk(c), serial });
        }
    }

    fn maybe_send(&mut self) {
        let now = self.now;
        self.refresh_state();
        if self.send_now || now >= self.next_send {
            self.status_moved |= self.send_now;
            self.send_now = false;
            self.seq += 1;
            self.next_send = now + self.cfg.cluster.keepalive;
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
    fn serial_whole(&self, beat: &Beat) -> bool {
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
    fn state_interval(&self) -> Duration {
        let n = self.chunks.len().clamp(1, 16) as u32;
        self.cfg.cluster.keepalive * (n - 1) / 15
    }

    fn state_due(&self) -> bool {
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

    fn local_state(&self) -> State {
        State {
            groups: self
                .groups
                .iter()
                .map(|g| GroupReport {
                    name: g.name.clone(),
                    state: g.state,
                    failed: g.failed,
                    failcount: g.failcount,
                    held_down: self
                        .peers
                        .iter()
                        .flatten()
                        .any(|p| p.state != PeerState::Up && p.group_state(&g.name) == GroupState::Blocked),
                })
                .collect(),
            intents: self.intents.values().cloned().collect(),
        }
    }

    fn beat(&self) -> Beat {
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
            ping: self.ping_eff,
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

    // -------------------------------------------------------------- status

    /// Local state of each group (for the simulator's checkers and tests).
    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.groups.iter().find(|g| g.name == group).map(|g| g.state)
    }

    pub fn peer_state(&self, peer: &str) -> Option<PeerState> {
        self.cfg.node_index(peer).and_then(|i| self.peers[i].as_ref()).map(|p| p.state)
    }

    pub fn is_quorate(&self) -> bool {
        self.quorate
    }

    pub fn has_exited(&self) -> bool {
        self.exited
    }

    pub fn status(&self) -> Status {
        let now = self.now;
        let nodes = self
            .cfg
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if i == self.me {
                    let state = if self.leaving {
                        "leaving"
                    } else if self.standby_of(&n.name) || self.sick() {
                        "standby"
                    } else {
                        "up"
                    };
                    return NodeStatus {
                        name: n.name.clone(),
                        state: state.into(),
                        local: true,
                        generation: self.generation,
                        links: Vec::new(),
                        ping: self.ping_eff,
                        checks: self.node_check_statuses(),
                    };
                }
                let p = self.peers[i].as_ref().expect("peer");
                let state = match p.state {
                    PeerState::Unknown if p.unverified_at.is_some() => "unverified",
                    PeerState::Up if self.standby_of(&n.name) || self.health_standby(i) => "standby",
                    PeerState::Up if p.leaving() => "leaving",
                    s => s.as_str(),
                };
                NodeStatus {
                    name: n.name.clone(),
                    state: state.into(),
                    local: false,
                    generation: p.generation,
                    links: p
                        .links
                        .iter()
                        .zip(&self.cfg.links)
                        .map(|(l, lc)| {
                            let age = l.last.map_or(-1, |t| now.saturating_sub(t).as_millis() as i64);
                            (lc.name.clone(), if l.up { "up" } else { "down" }.to_string(), age)
                        })
                        .collect(),
                    ping: p.ping(),
                    checks: Vec::new(),
                }
            })
            .collect();
        let groups = self
            .cfg
            .groups
            .iter()
            .enumerate()
            .map(|(gi, gc)| {
                let lg = &self.groups[gi];
                // The owner: this node if it holds the group, else a live
                // peer that does.
                let owner = if lg.state.holds() && lg.state != GroupState::Claiming {
                    Some(self.me)
                } else {
                    (0..self.cfg.nodes.len()).find(|&n| {
                        n != self.me
                            && self.peers[n].as_ref().is_some_and(|p| p.is_member())
                            && !matches!(self.state_of(n, gi), GroupState::Stopped | GroupState::Claiming)
                    })
                };
                let mut state = owner.map_or(GroupState::Stopped, |o| self.state_of(o, gi));
                // A group whose failed resource is being brought back is not
                // fully started, whatever the peers are told.
                // Nor is one whose checks have not passed `rise` times yet.
                let recovering = lg.busy.is_some_and(|(_, op)| op == Op::Start)
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
                            // What systemd says, where hbd follows the unit.
                            Some(o) if o == self.me && lg.observed[ri].is_some() => {
                                lg.observed[ri].as_ref().map(|u| u.to_string()).unwrap_or_default()
                            }
                            Some(o) if o == self.me => match lg.busy {
                                Some((b, Op::Start)) if b == ri => "starting".to_string(),
                                Some((b, Op::Stop)) if b == ri => "stopping".to_string(),
                                _ if ri < lg.running && lg.up[ri] => "started".to_string(),
                                _ => "stopped".to_string(),
                            },
                            Some(_) => match state {
                                GroupState::Started => "started",
                                GroupState::Blocked => "blocked",
                                _ => "unknown",
                            }
                            .to_string(),
                            None => match &lg.observed[ri] {
                                Some(u) if !u.is_down() => u.to_string(),
                                _ => "stopped".to_string(),
                            },
                        };
                        (r.kind().to_string(), r.name(), rs)
                    })
                    .collect();
                let failcount = if owner.is_none_or(|o| o == self.me) {
                    lg.failcount
                } else {
                    self.peers[owner.unwrap()].as_ref().and_then(|p| p.group(&gc.name)).map_or(0, |r| r.failcount)
                };
                NodeGroupNote::note(self, gi, owner, state, failcount, gc, resources)
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

/// Builds a group's status line, with a note on why it does not run.
struct NodeGroupNote;

impl NodeGroupNote {
    fn note(
        node: &Node,
        gi: usize,
        owner: Option<usize>,
        state: GroupState,
        failcount: u32,
        gc: &crate::config::Group,
        resources: Vec<(String, String, String)>,
    ) -> GroupStatus {
        let blocked_on = node
            .peers
            .iter()
            .flatten()
            .find(|p| p.group_state(&gc.name) == GroupState::Blocked)
            .map(|p| p.name.clone())
            .or_else(|| (node.groups[gi].state == GroupState::Blocked).then(|| node.name().to_string()));
        let relayed_by = node.peers.iter().flatten().find(|p| p.holds_down(&gc.name)).map(|p| p.name.clone());
        let fence_wait = node.cfg.cluster.fencing == Fencing::Required
            && node.groups[gi].state == GroupState::Claiming
            && node
                .peers
                .iter()
                .flatten()
                .any(|p| !p.fenced && matches!(p.state, PeerState::Dead | PeerState::Unknown));
        let unverified =
            node.peers.iter().flatten().find(|p| p.state == PeerState::Unknown && p.unverified_at.is_some());
        let note = if let Some(p) = unverified {
            format!(
                "{} sends frames this node cannot verify (different auth key?); taking no group until they agree",
                p.name
            )
        } else if let Some(n) = &blocked_on {
            format!("a stop failed on {n}; the group may still run there. Fix it, then: hactl cleanup {}", gc.name)
        } else if let Some(n) = &relayed_by {
            format!(
                "{n} reports a failed stop on a node it cannot reach; the group may still run there. Fix it, then: hactl cleanup {}",
                gc.name
            )
        } else if fence_wait {
            "waiting for fencing of an unreachable node (hbd-fence@NODE.service)".to_string()
        } else if owner.is_none() && !node.quorate {
            "no quorum in this partition".to_string()
        } else if owner.is_none() && node.isolated() {
            "this node reaches no ping host and hears no peer".to_string()
        } else if owner.is_none() && node.settled() && node.desired_owner(gi).is_none() {
            "no node may run it (standby, failed or unreachable); see hactl cleanup".to_string()
        } else if let Some(Intent { kind: IntentKind::Location { node: Some(n), .. }, origin, .. }) =
            node.intents.get(&IntentKey::Location(gc.name.clone()))
        {
            format!("pinned to {n} by hactl move or takeover on {origin}; hactl move --clear {} to release", gc.name)
        } else {
            String::new()
        };
        let state = if blocked_on.is_some() || relayed_by.is_some() { GroupState::Blocked } else { state };
        GroupStatus {
            name: gc.name.clone(),
            owner: owner.map(|o| node.cfg.nodes[o].name.clone()).unwrap_or_default(),
            state: state.as_str().to_string(),
            preferred: gc.preferred.clone(),
            resources,
            failcount,
            note,
            checks: if owner == Some(node.me) { node.check_statuses(gi) } else { Vec::new() },
        }
    }
}

/// The same resources, whatever their checks: a reload that changes only a
/// check does not restart the group, it restarts the check.
fn same_resources(a: &[Resource], b: &[Resource]) -> bool {
    let bare = |r: &Resource| match r {
        Resource::Unit { name, timeout, .. } => Resource::Unit { name: name.clone(), timeout: *timeout, check: None },
        r => r.clone(),
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| bare(x) == bare(y))
}

fn new_group(name: &str, n: usize) -> LocalGroup {
    LocalGroup {
        name: name.to_string(),
        state: GroupState::Stopped,
        running: 0,
        busy: None,
        busy_until: None,
        observed: vec![None; n],
        up: vec![false; n],
        timeouts: vec![None; n],
        last_failure: None,
        stop_after_op: false,
        adopted: vec![false; n],
        resume_start: false,
        failcount: 0,
        failed: false,
        cleanup_applied: 0,
        claim_version: 0,
        claim_reason: MoveReason::Start,
        release_reason: MoveReason::Move,
        owner_seen: None,
        restart: Vec::new(),
        bounce: Vec::new(),
        bouncing: None,
        checks: vec![CheckTrack::default(); n],
    }
}

/// The configuration's node and group names, for lookups that must not be
/// linear in the number of groups (a state carries an intent per group).
#[derive(Default)]
struct Names {
    nodes: std::collections::HashSet<String>,
    /// Group name → index in the configuration.
    groups: HashMap<String, usize>,
}

impl Names {
    fn of(cfg: &Config) -> Names {
        Names {
            nodes: cfg.nodes.iter().map(|n| n.name.clone()).collect(),
            groups: cfg.groups.iter().enumerate().map(|(i, g)| (g.name.clone(), i)).collect(),
        }
    }

    /// Whether an intent is about groups and nodes the configuration has.
    fn applies(&self, k: &IntentKind) -> bool {
        match k {
            IntentKind::Standby { node, .. } => self.nodes.contains(node),
            IntentKind::Location { group, node } => {
                self.groups.contains_key(group) && node.as_ref().is_none_or(|n| self.nodes.contains(n))
            }
            IntentKind::Cleanup { group } => self.groups.contains_key(group),
        }
    }
}
